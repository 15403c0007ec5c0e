"""Every catalogue algorithm through ``processing.run`` in a headless QGIS.

Each algorithm runs with WORKERS 1 and 2 and a small TILE_SIZE (so tiling happens) and must
equal, bit for bit, the engine filter run directly on the whole image (one tile, no workers);
the engine itself is checked against scipy and gdaldem in test_catalogue_reference.py, and a
few results are checked against scipy/gdaldem here too, with the tolerances used there.
Also: bad parameters name the parameter, band-math injection is refused without side effect,
statistics are right, COG output, and ``qgis_process.bin list``.
"""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import scipy.ndimage as ndi

import qgis_helpers as qh
from counts import ALL_ALGORITHMS, RASTER_ALGORITHMS
from feedback_helpers import RecordingFeedback
from tilewise.engine import Engine, filters, load_filter

NODATA = -9999.0
HEIGHT, WIDTH = 37, 43
TILE = 16
SCRIPTS = qh.REPO_ROOT / "resources" / "scripts"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """dem: float32 DEM with nodata holes; rgbn: 4-band int16 (nodata -1); clean: hole-free
    float64 DEM; classes: uint8 categories."""
    folder = tmp_path_factory.mktemp("catalogue")
    rng = np.random.default_rng(21)
    dem = qh.punch_holes(qh.synthetic_dem(HEIGHT, WIDTH, seed=2), NODATA, seed=3)
    dem[4, 6] = np.nan
    rgbn = rng.integers(0, 3000, (4, HEIGHT, WIDTH)).astype("int16")
    rgbn[:, rng.random((HEIGHT, WIDTH)) < 0.03] = -1
    clean = qh.synthetic_dem(HEIGHT, WIDTH, seed=4, dtype="float64")
    classes = rng.integers(0, 4, (HEIGHT, WIDTH)).astype("uint8")
    return {
        "dem": (qh.write_geotiff(folder / "dem.tif", dem, nodata=NODATA), dem),
        "rgbn": (qh.write_geotiff(folder / "rgbn.tif", rgbn, nodata=-1), rgbn),
        "clean": (qh.write_geotiff(folder / "clean.tif", clean), clean),
        "classes": (qh.write_geotiff(folder / "classes.tif", classes, nodata=255), classes),
        "other_grid": (qh.write_geotiff(folder / "other.tif", clean[:-1]), None),
    }


def run(processing, algorithm, **parameters):
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    return processing.run(f"tilewise:{algorithm}", parameters, context=QgsProcessingContext(),
                          feedback=QgsProcessingFeedback())


def engine_reference(filter_, paths, **params):
    """The filter on the whole image, in this process: (array, rasterio-like profile)."""
    with Engine(workers=1, tile_size=0) as eng:
        rasters = [eng.open(path) for path in paths]
        out = eng.apply(filter_, rasters, **params)
        return np.array(out.array), out.profile


# (algorithm, input, QGIS parameters, engine filter, engine parameters)
CASES = [
    ("gaussianfilter", "dem", {"SIGMA": 1.5}, filters.gaussian,
     {"sigma": 1.5, "truncate": 4.0, "band": None}),
    ("medianfilter", "rgbn", {"SIZE": 5}, filters.median, {"size": 5, "band": None}),
    ("focalmin", "dem", {"SIZE": 5}, filters.focal_statistics,
     {"statistic": "min", "shape": "square", "size": 5, "band": None}),
    ("focalmax", "rgbn", {"BAND": 2, "SHAPE": 1, "RADIUS": 2.5}, filters.focal_statistics,
     {"statistic": "max", "shape": "circle", "radius": 2.5, "band": 2}),
    ("focalrange", "dem", {}, filters.focal_statistics,
     {"statistic": "range", "shape": "square", "size": 3, "band": None}),
    ("focalsum", "rgbn", {"SIZE": 3}, filters.focal_statistics,
     {"statistic": "sum", "shape": "square", "size": 3, "band": None}),
    ("focalstd", "dem", {"SHAPE": 1, "RADIUS": 2}, filters.focal_statistics,
     {"statistic": "std", "shape": "circle", "radius": 2, "band": None}),
    ("focalvariance", "dem", {"SIZE": 5}, filters.focal_statistics,
     {"statistic": "variance", "shape": "square", "size": 5, "band": None}),
    ("focalpercentile", "dem", {"SIZE": 5, "Q": 90}, filters.focal_statistics,
     {"statistic": "percentile", "shape": "square", "size": 5, "q": 90, "band": None}),
    ("focalmajority", "classes", {"SHAPE": 1, "RADIUS": 2}, filters.focal_statistics,
     {"statistic": "majority", "shape": "circle", "radius": 2, "band": None}),
    ("erosion", "dem", {"RADIUS": 2}, filters.morphology,
     {"operation": "erosion", "radius": 2, "shape": "square", "binary": False, "band": None}),
    ("dilation", "rgbn", {"RADIUS": 1, "SHAPE": 2}, filters.morphology,
     {"operation": "dilation", "radius": 1, "shape": "cross", "binary": False, "band": None}),
    ("opening", "dem", {"RADIUS": 2, "SHAPE": 1}, filters.morphology,
     {"operation": "opening", "radius": 2, "shape": "disk", "binary": False, "band": None}),
    ("closing", "classes", {"RADIUS": 1, "BINARY": True}, filters.morphology,
     {"operation": "closing", "radius": 1, "shape": "square", "binary": True, "band": None}),
    ("whitetophat", "dem", {"RADIUS": 2}, filters.morphology,
     {"operation": "white_tophat", "radius": 2, "shape": "square", "binary": False,
      "band": None}),
    ("blacktophat", "dem", {"RADIUS": 1, "SHAPE": 1}, filters.morphology,
     {"operation": "black_tophat", "radius": 1, "shape": "disk", "binary": False,
      "band": None}),
    ("sobel", "dem", {}, filters.sobel, {"output": "magnitude", "band": None}),
    ("sobel", "clean", {"DIRECTION": 2}, filters.sobel, {"output": "y", "band": None}),
    ("laplacian", "rgbn", {"BAND": 3}, filters.laplace, {"band": 3}),
    ("gradientmagnitude", "dem", {"SIGMA": 1.2}, filters.gaussian_gradient_magnitude,
     {"sigma": 1.2, "truncate": 4.0, "band": None}),
    ("slope", "dem", {"UNITS": 1, "Z_FACTOR": 2}, filters.slope,
     {"units": "percent", "z_factor": 2.0, "band": 1}),
    ("aspect", "dem", {"ZERO_FOR_FLAT": True}, filters.aspect,
     {"zero_for_flat": True, "band": 1}),
    ("hillshade", "dem", {"AZIMUTH": 200, "ALTITUDE": 30}, filters.hillshade,
     {"azimuth": 200.0, "altitude": 30.0, "z_factor": 1.0, "band": 1}),
    ("roughness", "dem", {}, filters.roughness, {"band": 1}),
    ("tri", "dem", {"ALGORITHM": 1}, filters.tri, {"algorithm": "wilson", "band": 1}),
]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_algorithm_equals_the_engine_on_the_whole_image(processing, data, tmp_path, case,
                                                        workers):
    algorithm, source, params, filter_, engine_params = case
    path = data[source][0]
    out = str(tmp_path / "out.tif")
    result = run(processing, algorithm, INPUT=path, OUTPUT=out, WORKERS=workers,
                 TILE_SIZE=TILE, **params)
    assert result["OUTPUT"] == out
    got, profile = qh.read_geotiff(out)
    expected, expected_profile = engine_reference(filter_, [path], **engine_params)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()
    assert profile["nodata"] == expected_profile.nodata or (
        np.isnan(profile["nodata"]) and np.isnan(expected_profile.nodata))


# the algorithms (not models) whose reference test is not a row of CASES, and where it is
TESTED_ELSEWHERE = {
    "nodatamask": "tests/qgis/test_processing.py::test_nodatamask",
    "fillnodata": "tests/qgis/test_processing.py::test_fillnodata_*",
    "meanfilter": "tests/qgis/test_processing.py::test_meanfilter_*",
    "bandmath": "test_bandmath_two_inputs, test_bandmath_integer_output_and_nodata (here)",
    "rasterstatistics": "test_rasterstatistics* (here)",
    "customfilter": "test_customfilter_runs_the_example_scripts (here)",
    "pipeline": "tests/qgis/test_pipeline_algorithm.py",
    "geometrymask": "tests/qgis/test_vector_mask.py",
    "zonalstatistics": "tests/qgis/test_vector_zonal.py, tests/qgis/test_vector_swath.py",
    "samplepoints": "tests/qgis/test_vector_sampling.py, tests/qgis/test_vector_swath.py",
}


def registered_algorithms():
    """The provider's algorithms, its models left out."""
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    return [alg for alg in provider.algorithms()
            if not isinstance(alg, QgsProcessingModelAlgorithm)]


def test_every_algorithm_has_a_reference_case(processing):
    """A new algorithm without a row in CASES (or an entry in TESTED_ELSEWHERE) fails here."""
    cased = {case[0] for case in CASES}
    assert not cased & set(TESTED_ELSEWHERE)
    assert cased | set(TESTED_ELSEWHERE) == {alg.name() for alg in registered_algorithms()}


def test_every_algorithm_is_registered_with_full_help(processing):
    from qgis.core import QgsProcessingParameterDefinition
    from tilewise.algorithms.base import TilewiseAlgorithm

    # the vector algorithms (group Vectors) have tests of their own: tests/qgis/test_vector_*.py
    catalogue = [alg for alg in registered_algorithms()
                 if isinstance(alg, TilewiseAlgorithm) and alg.name() != "pipeline"
                 and alg.groupId() != "vectors"]
    assert len(catalogue) == RASTER_ALGORITHMS, sorted(a.name() for a in catalogue)
    groups = {"Smoothing", "Focal statistics", "Morphology", "Edges and derivatives", "Terrain",
              "Band math", "Statistics", "Nodata", "Custom"}
    assert {alg.group() for alg in catalogue} == groups
    for alg in catalogue:
        text = alg.shortHelpString()
        for parameter in alg.parameterDefinitions():
            advanced = bool(parameter.flags() & QgsProcessingParameterDefinition.FlagAdvanced)
            assert advanced == (parameter.name() in ("WORKERS", "TILE_SIZE", "MEMORY", "OPTIONS", "COG"))
            if not advanced:  # by its dialog label; the advanced ones: the shared section
                assert parameter.description() in text, (alg.id(), parameter.name())
        assert "Nodata" in text and "bit for bit" in text, alg.id()
        names = {p.name() for p in alg.parameterDefinitions()}
        assert {"WORKERS", "TILE_SIZE"} <= names
        if alg.name() != "rasterstatistics":
            assert {"OPTIONS", "COG", "OUTPUT"} <= names
            # every raster-producing algorithm declares its own engine step
            assert type(alg).engineStep is not TilewiseAlgorithm.engineStep, alg.id()


# --- references other than the engine -----------------------------------------------------------


def test_gaussian_and_sobel_equal_scipy_on_clean_data(processing, data, tmp_path):
    path, clean = data["clean"]
    out = str(tmp_path / "g.tif")
    run(processing, "gaussianfilter", INPUT=path, SIGMA=1.3, OUTPUT=out, WORKERS=2, TILE_SIZE=TILE)
    np.testing.assert_allclose(qh.read_geotiff(out)[0][0],
                               ndi.gaussian_filter(clean, 1.3, mode="reflect"), rtol=1e-12)
    out = str(tmp_path / "s.tif")
    run(processing, "sobel", INPUT=path, DIRECTION=1, OUTPUT=out, WORKERS=1, TILE_SIZE=TILE)
    np.testing.assert_array_equal(qh.read_geotiff(out)[0][0], ndi.sobel(clean, axis=1,
                                                                        mode="reflect"))
    out = str(tmp_path / "m.tif")
    run(processing, "focalmax", INPUT=path, SIZE=5, OUTPUT=out, WORKERS=1, TILE_SIZE=TILE)
    np.testing.assert_array_equal(qh.read_geotiff(out)[0][0],
                                  ndi.maximum_filter(clean, 5, mode="reflect"))


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem not installed")
def test_slope_and_hillshade_agree_with_gdaldem(processing, data, tmp_path):
    path, _ = data["clean"]
    for mode, extra, atol in (("slope", {}, 1e-3), ("hillshade", {}, 1)):
        out, ref = str(tmp_path / f"{mode}.tif"), str(tmp_path / f"{mode}_gdal.tif")
        run(processing, mode, INPUT=path, OUTPUT=out, WORKERS=2, TILE_SIZE=TILE, **extra)
        subprocess.run(["gdaldem", mode, "-q", path, ref], check=True)
        got, expected = qh.read_geotiff(out)[0][0], qh.read_geotiff(ref)[0][0]
        inner = (slice(1, -1), slice(1, -1))  # the border is nodata in both
        np.testing.assert_allclose(got[inner].astype("float64"),
                                   expected[inner].astype("float64"), atol=atol, rtol=1e-5)


# --- band math ------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_bandmath_two_inputs(processing, data, tmp_path, workers):
    rgbn_path, rgbn = data["rgbn"]
    dem_path, dem = data["dem"]
    out = str(tmp_path / "bm.tif")
    expression = "where(B > 100, (A@4 - A@3) / (A@4 + A@3), -2)"
    run(processing, "bandmath", INPUTS=[rgbn_path, dem_path], EXPRESSION=expression,
        OUTPUT_TYPE=7, OUTPUT=out, WORKERS=workers, TILE_SIZE=TILE)
    got, profile = qh.read_geotiff(out)
    expected, _ = engine_reference(filters.band_math, [rgbn_path, dem_path],
                                   expression=expression, dtype="float64")
    assert profile["dtype"] == "float64" and got.tobytes() == expected.tobytes()
    valid = (rgbn[3] != -1) & (rgbn[2] != -1) & (dem != NODATA) & ~np.isnan(dem)
    nir, red = rgbn[3].astype("float64"), rgbn[2].astype("float64")
    with np.errstate(all="ignore"):
        reference = np.where(dem > 100, (nir - red) / (nir + red), -2)
    valid &= np.isfinite(reference)
    np.testing.assert_array_equal(got[0][valid], reference[valid])
    assert np.isnan(got[0][~valid]).all()


def test_bandmath_integer_output_and_nodata(processing, data, tmp_path):
    path, rgbn = data["rgbn"]
    out = str(tmp_path / "bm.tif")
    run(processing, "bandmath", INPUTS=[path], EXPRESSION="A@1 / 10", OUTPUT_TYPE=3,
        NODATA=-32768, OUTPUT=out, WORKERS=1)
    got, profile = qh.read_geotiff(out)
    assert profile["dtype"] == "int16" and profile["nodata"] == -32768
    valid = rgbn[0] != -1
    np.testing.assert_array_equal(got[0][valid], np.rint(rgbn[0][valid] / 10.0))
    assert (got[0][~valid] == -32768).all()


INJECTIONS = [
    "__import__('os').system('touch /tmp/pwned')",
    "A.__class__",
    "A@1.real",
    "__builtins__",
    "(lambda: 1)()",
    "open('/etc/passwd')",
    "[c for c in ().__class__.__base__.__subclasses__()]",
    "'text'",
    "A[0]",
    "exec('import os')",
]


@pytest.mark.parametrize("expression", INJECTIONS)
def test_bandmath_injection_is_refused(processing, data, tmp_path, expression, monkeypatch):
    from qgis.core import QgsProcessingException
    import tilewise.algorithms.base as base

    if os.path.exists("/tmp/pwned"):
        os.unlink("/tmp/pwned")
    engines = []
    monkeypatch.setattr(base, "Engine", lambda *a, **k: engines.append(k) or Engine(*a, **k))
    out = tmp_path / "bm.tif"
    with pytest.raises(QgsProcessingException, match=r"\(EXPRESSION\)"):
        run(processing, "bandmath", INPUTS=[data["rgbn"][0]], EXPRESSION=expression,
            OUTPUT=str(out), WORKERS=1)
    assert not os.path.exists("/tmp/pwned")
    assert not out.exists() and not engines  # refused before any work


def test_bandmath_injection_in_a_model_fails_without_running_it(processing, data, tmp_path):
    """A model file whose band-math EXPRESSION holds code: loading and running it fails."""
    import sys

    from qgis.core import QgsProcessingContext, QgsProcessingException

    sys.path.insert(0, str(qh.REPO_ROOT / "resources" / "models"))
    try:
        import build_models
    finally:
        sys.path.pop(0)
    path = str(tmp_path / "evil.model3")
    assert build_models.ndvi_smoothing(
        expression="__import__('os').system('touch /tmp/pwned')").toFile(path)
    if os.path.exists("/tmp/pwned"):
        os.unlink("/tmp/pwned")
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(path)
    out = tmp_path / "ndvi.tif"

    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException, match="NDVI"):
        processing.run(model, {"input": data["rgbn"][0], build_models.NDVI_OUTPUT: str(out),
                               build_models.NDVI_RAW_OUTPUT: str(tmp_path / "raw.tif")},
                       context=QgsProcessingContext(), feedback=feedback)
    # the model reports the child's error: the expression is refused, naming EXPRESSION
    assert any("(EXPRESSION)" in m and "__" in m for m in feedback.of("error")), feedback.messages
    assert not os.path.exists("/tmp/pwned") and not out.exists()
    assert not (tmp_path / "raw.tif").exists()


# --- bad parameters -------------------------------------------------------------------------------


BAD = [
    ("focalmin", {"SIZE": 4}, "SIZE"),
    ("focalpercentile", {"Q": 120}, "Q"),
    ("medianfilter", {"SIZE": 2}, "SIZE"),
    ("gaussianfilter", {"SIGMA": 0}, "SIGMA"),
    ("gradientmagnitude", {"SIGMA": -1}, "SIGMA"),
    ("hillshade", {"ALTITUDE": 95}, "ALTITUDE"),
    ("slope", {"Z_FACTOR": 0}, "Z_FACTOR"),
    ("slope", {"BAND": 2}, "BAND"),
    ("erosion", {"RADIUS": -1}, "RADIUS"),
    ("sobel", {"OPTIONS": "COMPRESS=NOPE"}, "OPTIONS"),
    ("laplacian", {"COG": True, "OPTIONS": "PREDICTOR=3"}, "OPTIONS"),
    ("bandmath", {"EXPRESSION": "A@1 +"}, "EXPRESSION"),
    ("bandmath", {"EXPRESSION": "A@9"}, "EXPRESSION"),
    ("bandmath", {"EXPRESSION": "C@1"}, "EXPRESSION"),
    ("bandmath", {"EXPRESSION": "A@1", "OUTPUT_TYPE": 3}, "NODATA"),
    ("bandmath", {"EXPRESSION": "A@1", "OUTPUT_TYPE": 0, "NODATA": 300}, "NODATA"),
    ("bandmath", {"EXPRESSION": "A@1 + B", "INPUTS": ["{dem}", "{other}"]}, "INPUTS"),
    ("bandmath", {"EXPRESSION": "A@1", "INPUTS": ["{tmp}/missing.tif"]}, "INPUTS"),
    ("customfilter", {"SCRIPT": "{scripts}/local_contrast.py", "PARAMS": "{size: 3"}, "PARAMS"),
    ("customfilter", {"SCRIPT": "{scripts}/local_contrast.py", "PARAMS": "[3]"}, "PARAMS"),
    ("customfilter", {"SCRIPT": "{scripts}/local_contrast.py", "PARAMS": '{"size": 4}'},
     "PARAMS"),
    ("customfilter", {"SCRIPT": "{tmp}/broken.py"}, "SCRIPT"),
    ("rasterstatistics", {"PERCENTILES": "2,150"}, "PERCENTILES"),
    ("rasterstatistics", {"BAND": 3}, "BAND"),
    ("rasterstatistics", {"OUTPUT_JSON_FILE": "{tmp}/nowhere/s.json"}, "OUTPUT_JSON_FILE"),
]


@pytest.mark.parametrize("algorithm,params,culprit", BAD,
                         ids=[f"{a}-{c}-{i}" for i, (a, _, c) in enumerate(BAD)])
def test_bad_parameters_name_the_parameter(processing, data, tmp_path, algorithm, params,
                                           culprit, monkeypatch):
    from qgis.core import QgsProcessingException
    import tilewise.algorithms.base as base

    engines = []
    monkeypatch.setattr(base, "Engine", lambda *a, **k: engines.append(k) or Engine(*a, **k))
    (tmp_path / "broken.py").write_text("import numpy\n\ndef filter(b, p, q):\n    return b\n"
                                        "raise RuntimeError('broken at import')\n")

    def fmt(value):
        if isinstance(value, list):
            return [fmt(v) for v in value]
        if isinstance(value, str):
            for key, path in (("{dem}", data["dem"][0]), ("{other}", data["other_grid"][0]),
                              ("{tmp}", str(tmp_path)), ("{scripts}", str(SCRIPTS))):
                value = value.replace(key, path)
        return value
        return value
    values = {"INPUT": data["dem"][0], "OUTPUT": str(tmp_path / "out.tif"), "WORKERS": 1}
    if algorithm in ("bandmath", "customfilter"):
        values = {"INPUTS": [data["dem"][0]], "OUTPUT": str(tmp_path / "out.tif"), "WORKERS": 1}
    if algorithm == "rasterstatistics":
        values.pop("OUTPUT")
    values.update({key: fmt(value) for key, value in params.items()})
    with pytest.raises(QgsProcessingException) as raised:
        run(processing, algorithm, **values)
    assert f"({culprit})" in str(raised.value), str(raised.value)
    assert not (tmp_path / "out.tif").exists() and not engines
    if algorithm == "customfilter" and culprit == "SCRIPT":
        assert "broken at import" in str(raised.value)
        assert "Traceback" in str(raised.value) and "broken.py" in str(raised.value)


# --- custom filter --------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_customfilter_runs_the_example_scripts(processing, data, tmp_path, workers):
    path = data["rgbn"][0]
    out = str(tmp_path / "nd.tif")
    run(processing, "customfilter", INPUTS=[path], SCRIPT=str(SCRIPTS / "normalized_difference.py"),
        PARAMS='{"band1": 4, "band2": 3}', OUTPUT=out, WORKERS=workers, TILE_SIZE=TILE)
    expected, _ = engine_reference(load_filter(SCRIPTS / "normalized_difference.py"), [path],
                                   band1=4, band2=3)
    assert qh.read_geotiff(out)[0].tobytes() == expected.tobytes()
    out = str(tmp_path / "lc.tif")
    run(processing, "customfilter", INPUTS=[data["dem"][0]],
        SCRIPT=str(SCRIPTS / "local_contrast.py"), PARAMS='{"size": 5}', OUTPUT=out,
        WORKERS=workers, TILE_SIZE=TILE)
    expected, _ = engine_reference(load_filter(SCRIPTS / "local_contrast.py"), [data["dem"][0]],
                                   size=5)
    assert qh.read_geotiff(out)[0].tobytes() == expected.tobytes()


def test_customfilter_error_in_filter_shows_the_script_traceback(processing, data, tmp_path):
    from qgis.core import QgsProcessingException

    script = tmp_path / "fails.py"
    script.write_text("def filter(buffers, profiles, params):\n"
                      "    values = buffers[0]\n"
                      "    raise ValueError('bad pixel in the tile')\n")
    with pytest.raises(QgsProcessingException) as raised:
        run(processing, "customfilter", INPUTS=[data["dem"][0]], SCRIPT=str(script),
            OUTPUT=str(tmp_path / "o.tif"), WORKERS=2, TILE_SIZE=TILE)
    message = str(raised.value)
    assert "bad pixel in the tile" in message and "fails.py" in message
    assert "raise ValueError('bad pixel in the tile')" in message
    assert not (tmp_path / "o.tif").exists()


# --- statistics -----------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_rasterstatistics(processing, data, tmp_path, workers):
    path, dem = data["dem"]
    html, js = str(tmp_path / "s.html"), str(tmp_path / "s.json")
    result = run(processing, "rasterstatistics", INPUT=path, BINS=16, PERCENTILES="2, 50,98",
                 OUTPUT_HTML_FILE=html, OUTPUT_JSON_FILE=js, WORKERS=workers, TILE_SIZE=TILE)
    valid = dem[(dem != NODATA) & ~np.isnan(dem)].astype("float64")
    assert result["COUNT"] == valid.size
    assert result["NODATA_COUNT"] == dem.size - valid.size
    assert result["MIN"] == valid.min() and result["MAX"] == valid.max()
    assert result["SUM"] == pytest.approx(valid.sum(), rel=1e-12)
    assert result["MEAN"] == pytest.approx(valid.mean(), rel=1e-12)
    assert result["STD"] == pytest.approx(valid.std(), rel=1e-9)
    assert result["VARIANCE"] == pytest.approx(valid.var(), rel=1e-9)
    assert result["MEDIAN"] == np.percentile(valid, 50)
    stats = json.loads(open(js).read())
    assert json.loads(result["STATISTICS"]) == stats and len(stats) == 1
    assert stats[0]["percentiles"] == {"2": np.percentile(valid, 2), "50": np.percentile(valid, 50),
                                       "98": np.percentile(valid, 98)}
    counts, _ = np.histogram(valid, 16, (valid.min(), valid.max()))
    assert stats[0]["histogram"]["counts"] == counts.tolist()
    report = open(html).read()
    assert report.startswith("<!DOCTYPE html>") and "Band 1" in report and "Percentile 98" in report


def test_rasterstatistics_all_bands_and_model_outputs(processing, data):
    from qgis.core import QgsApplication

    path, rgbn = data["rgbn"]
    result = run(processing, "rasterstatistics", INPUT=path, PERCENTILES="", WORKERS=1)
    stats = json.loads(result["STATISTICS"])
    assert [s["band"] for s in stats] == [1, 2, 3, 4]
    for s, band in zip(stats, rgbn):
        assert s["count"] == np.count_nonzero(band != -1) and s["max"] == band.max()
    assert result["COUNT"] == stats[0]["count"] and result["MEDIAN"] is None
    alg = QgsApplication.processingRegistry().algorithmById("tilewise:rasterstatistics")
    kinds = {o.name(): o.type() for o in alg.outputDefinitions()}
    assert all(kinds[name] == "outputNumber" for name in ("COUNT", "MIN", "MAX", "MEAN", "STD"))


# --- outputs --------------------------------------------------------------------------------------


def test_cog_output(processing, data, tmp_path):
    from osgeo import gdal

    out = str(tmp_path / "cog.tif")
    run(processing, "focalmin", INPUT=data["dem"][0], OUTPUT=out, COG=True, WORKERS=1,
        OPTIONS="COMPRESS=DEFLATE|PREDICTOR=YES")
    info = gdal.Info(out)
    assert "LAYOUT=COG" in info and "COMPRESSION=DEFLATE" in info
    plain = str(tmp_path / "plain.tif")
    run(processing, "focalmin", INPUT=data["dem"][0], OUTPUT=plain, WORKERS=1)
    assert qh.read_geotiff(out)[0].tobytes() == qh.read_geotiff(plain)[0].tobytes()
    assert "LAYOUT=COG" not in gdal.Info(plain)


@pytest.mark.skipif(not os.access(qh.QGIS_PROCESS, os.X_OK), reason="no qgis_process.bin")
def test_qgis_process_lists_at_least_20_algorithms(plugin_parent_dir, tmp_path):
    env = qh.qgis_process_env(qh.make_qgis_profile(tmp_path / "config"), plugin_parent_dir)
    done = subprocess.run([qh.QGIS_PROCESS, "list"], env=env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    ids = {line.split()[0] for line in done.stdout.splitlines()
           if line.strip().startswith("tilewise:")}
    assert len(ids) == ALL_ALGORITHMS, sorted(ids)
    assert {"tilewise:bandmath", "tilewise:rasterstatistics", "tilewise:customfilter",
            "tilewise:focalmajority", "tilewise:hillshade"} <= ids
