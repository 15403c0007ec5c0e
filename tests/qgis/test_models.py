"""The example models resources/models/ndvi_smoothing.model3 and dem_terrain.model3: loaded
from their files, run through ``processing.run`` and through ``qgis_process.bin run FILE``,
outputs checked against the engine run directly and against numpy / rasterio references.
Also checks that build_models.py still writes exactly the shipped files' content."""

import json
import subprocess
import sys

import numpy as np
import pytest
from rasterio.fill import fillnodata

import qgis_helpers as qh
from tilewise.engine import Engine, filters

MODELS = qh.REPO_ROOT / "resources" / "models"
NODATA = -9999.0


@pytest.fixture(scope="module")
def build_models(plugin):
    sys.path.insert(0, str(MODELS))
    try:
        import build_models
    finally:
        sys.path.remove(str(MODELS))
    return build_models


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("model-inputs")
    rng = np.random.default_rng(8)
    stack = rng.integers(1, 4000, (4, 41, 53)).astype("int16")
    stack[:, rng.random((41, 53)) < 0.03] = -1
    dem = qh.punch_holes(qh.synthetic_dem(41, 53, seed=9), NODATA, seed=10)
    return {"stack": (qh.write_geotiff(folder / "stack.tif", stack, nodata=-1), stack),
            "dem": (qh.write_geotiff(folder / "dem.tif", dem, nodata=NODATA), dem)}


def load(name, path=None):
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(path or MODELS / f"{name}.model3")), name
    return model


def engine(filter_, arrays_or_paths, **params):
    with Engine(workers=1) as eng:
        rasters = [eng.open(p) for p in arrays_or_paths]
        out = eng.apply(filter_, rasters, **params)
        return np.array(out.array)


def check_ndvi(stack_path, stack, raw, smooth, sigma, tmp_path):
    nir, red = stack[3].astype("float64"), stack[2].astype("float64")
    valid = (stack[3] != -1) & (stack[2] != -1)
    ndvi = ((nir - red) / (nir + red)).astype("float32")
    got = qh.read_geotiff(raw)[0][0]
    np.testing.assert_array_equal(got[valid], ndvi[valid])
    assert np.isnan(got[~valid]).all()
    expected = engine(filters.gaussian, [raw], sigma=sigma)
    assert qh.read_geotiff(smooth)[0].tobytes() == expected.tobytes()


def check_terrain(dem_path, dem, filled, slope, hillshade, max_distance):
    valid = dem != NODATA
    reference = fillnodata(dem.copy(), mask=valid.astype("uint8"), max_search_distance=max_distance)
    np.testing.assert_array_equal(qh.read_geotiff(filled)[0][0], reference)
    assert qh.read_geotiff(slope)[0].tobytes() == engine(filters.slope, [filled]).tobytes()
    assert qh.read_geotiff(hillshade)[0].tobytes() == engine(filters.hillshade,
                                                             [filled]).tobytes()
    assert qh.read_geotiff(slope)[1]["dtype"] == "float32"
    assert qh.read_geotiff(hillshade)[1]["dtype"] == "uint8"


def plain(value):
    """A model's toVariant() as comparable plain Python (NULL QVariants as None)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "isNull") and value.isNull():
        return None
    return repr(value)


def test_the_shipped_files_are_what_build_models_writes(build_models, tmp_path):
    for name, build in (("ndvi_smoothing", build_models.ndvi_smoothing),
                        ("dem_terrain", build_models.dem_terrain)):
        # Qt writes XML attributes in a random order: compare what the files hold, loaded
        path = tmp_path / f"{name}.model3"
        assert build().toFile(str(path))
        assert plain(load(name, path).toVariant()) == plain(load(name).toVariant()), \
            f"{name}.model3 is stale: run resources/models/build_models.py"


def test_models_declare_their_parameters_and_outputs(build_models):
    ndvi, terrain = load("ndvi_smoothing"), load("dem_terrain")
    assert {d.name() for d in ndvi.parameterDefinitions()} == {
        "input", "sigma", build_models.NDVI_OUTPUT, build_models.NDVI_RAW_OUTPUT}
    assert {d.name() for d in terrain.parameterDefinitions()} == {
        "dem", "max_distance", "z_factor", build_models.FILLED_OUTPUT, build_models.SLOPE_OUTPUT,
        build_models.HILLSHADE_OUTPUT}
    assert [c.algorithmId() for c in sorted(ndvi.childAlgorithms().values(),
                                            key=lambda c: c.childId())] == [
        "tilewise:bandmath", "tilewise:gaussianfilter"]


def test_ndvi_smoothing_processing_run(build_models, inputs, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    path, stack = inputs["stack"]
    raw, smooth = str(tmp_path / "ndvi.tif"), str(tmp_path / "smooth.tif")
    result = processing.run(load("ndvi_smoothing"), {
        "input": path, "sigma": 1.5, build_models.NDVI_RAW_OUTPUT: raw,
        build_models.NDVI_OUTPUT: smooth}, context=QgsProcessingContext(),
        feedback=QgsProcessingFeedback())
    assert result[build_models.NDVI_OUTPUT] == smooth
    check_ndvi(path, stack, raw, smooth, 1.5, tmp_path)


def test_dem_terrain_processing_run(build_models, inputs, tmp_path):
    import processing
    from qgis.core import QgsProcessingContext, QgsProcessingFeedback

    path, dem = inputs["dem"]
    outs = {name: str(tmp_path / f"{name.split(':')[1]}.tif") for name in (
        build_models.FILLED_OUTPUT, build_models.SLOPE_OUTPUT, build_models.HILLSHADE_OUTPUT)}
    processing.run(load("dem_terrain"), {"dem": path, "max_distance": 20, **outs},
                   context=QgsProcessingContext(), feedback=QgsProcessingFeedback())
    check_terrain(path, dem, outs[build_models.FILLED_OUTPUT], outs[build_models.SLOPE_OUTPUT],
                  outs[build_models.HILLSHADE_OUTPUT], 20)


def qgis_process_run(env, model, **parameters):
    done = subprocess.run([qh.QGIS_PROCESS, "--json", "run", str(MODELS / f"{model}.model3"),
                           "--", *(f"{k}={v}" for k, v in parameters.items())],
                          env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def test_models_through_qgis_process(build_models, qgis_env, inputs, tmp_path):
    path, stack = inputs["stack"]
    raw, smooth = str(tmp_path / "ndvi.tif"), str(tmp_path / "smooth.tif")
    result = qgis_process_run(qgis_env, "ndvi_smoothing", input=path, sigma=2,
                              **{build_models.NDVI_RAW_OUTPUT: raw,
                                 build_models.NDVI_OUTPUT: smooth})
    assert result["results"][build_models.NDVI_OUTPUT] == smooth
    check_ndvi(path, stack, raw, smooth, 2.0, tmp_path)

    path, dem = inputs["dem"]
    outs = {name: str(tmp_path / f"{name.split(':')[1]}.tif") for name in (
        build_models.FILLED_OUTPUT, build_models.SLOPE_OUTPUT, build_models.HILLSHADE_OUTPUT)}
    qgis_process_run(qgis_env, "dem_terrain", dem=path, max_distance=100, **outs)
    check_terrain(path, dem, outs[build_models.FILLED_OUTPUT], outs[build_models.SLOPE_OUTPUT],
                  outs[build_models.HILLSHADE_OUTPUT], 100)
