"""tilewise:pipeline: a pipeline file run in memory equals the algorithms run one by one.

Through ``processing.run`` (headless QgsApplication) and ``qgis_process.bin``. The whole file
is checked before any work; every error is reported at once, each with its step.
"""

import json
import os
import subprocess

import pytest

import qgis_helpers as qh
from feedback_helpers import RecordingFeedback

NODATA = -9999.0
HEIGHT, WIDTH = 70, 90
TILE = 16
SEED = qh.REPO_ROOT / "resources" / "pipelines" / "seed.json"
OUTPUTS = ("mask", "filled", "smooth")

#: a pipeline with many errors (one per step at least), and the text each must show
BROKEN = {
    "inputs": ["dsm"],
    "steps": [
        {"name": "mask", "algorithm": "tilewise:nodatamsk", "parameters": {"INPUT": "dsm"}},
        {"name": "filled", "algorithm": "tilewise:fillnodata",
         "parameters": {"INPUT": "dsm", "MASK": "smooth", "MAX_DIST": 3,
                        "SMOOTHING_ITERATIONS": -1}},
        {"name": "smooth", "algorithm": "tilewise:meanfilter",
         "parameters": {"INPUT": "filled", "SIZE": 4}},
        {"name": "edges", "algorithm": "meanfilter",
         "parameters": {"INPUT": "nothing", "WORKERS": 2}},
        {"name": "banded", "algorithm": "tilewise:meanfilter",
         "parameters": {"INPUT": "dsm", "BAND": 5, "SIZE": "big"}},
    ],
    "outputs": ["smooth", "banded", "nowhere"],
}
BROKEN_ERRORS = [
    "step 'mask': unknown algorithm 'tilewise:nodatamsk'",
    "step 'filled': unknown parameter 'MAX_DIST'",
    "step 'filled': parameter 'SMOOTHING_ITERATIONS': bad value",
    "step 'filled': parameter 'MASK': forward reference to step 'smooth'",
    "step 'filled': circular reference: filled -> smooth -> filled",
    "step 'smooth': parameter 'SIZE': bad value: the window size must be odd",
    "step 'edges': parameter 'WORKERS' is set once for the whole pipeline",
    "step 'edges': parameter 'INPUT': unknown reference 'nothing'",
    "step 'edges': its output is never used",
    "step 'mask': its output is never used",
    "step 'banded': parameter 'SIZE': bad value",
    "outputs: 'nowhere' is not produced by any step",
]


@pytest.fixture(autouse=True)
def empty_cache():
    """The algorithms keep what they write in the process-wide cache: free it after each test
    (before conftest's check for leaked segments)."""
    yield
    from tilewise.engine.store.cache import clear_default_cache

    clear_default_cache()


@pytest.fixture(scope="session")
def dem(tmp_path_factory):
    array = qh.punch_holes(qh.synthetic_dem(HEIGHT, WIDTH, seed=11), NODATA, seed=12)
    path = qh.write_geotiff(tmp_path_factory.mktemp("dem") / "dem.tif", array, nodata=NODATA)
    return path, array


def run(processing, algorithm, feedback=None, **parameters):
    from qgis.core import QgsProcessingFeedback

    return processing.run(algorithm, parameters, feedback=feedback or QgsProcessingFeedback())


def one_by_one(processing, dem_path, folder, **advanced):
    """The seed pipeline's three algorithms run one by one, chained by files."""
    os.makedirs(folder, exist_ok=True)
    mask, filled, smooth = (os.path.join(folder, f"{n}.tif") for n in OUTPUTS)
    run(processing, "tilewise:nodatamask", INPUT=dem_path, BAND=1, OUTPUT=mask, **advanced)
    run(processing, "tilewise:fillnodata", INPUT=dem_path, BAND=1, MASK=mask, MAX_DISTANCE=100,
        SMOOTHING_ITERATIONS=0, OUTPUT=filled, **advanced)
    run(processing, "tilewise:meanfilter", INPUT=filled, SIZE=3, OUTPUT=smooth, **advanced)
    return folder


def assert_same_files(folder_a, folder_b, names=OUTPUTS):
    for name in names:
        a, profile_a = qh.read_geotiff(os.path.join(folder_a, f"{name}.tif"))
        b, profile_b = qh.read_geotiff(os.path.join(folder_b, f"{name}.tif"))
        assert profile_a["dtype"] == profile_b["dtype"]
        assert str(profile_a["nodata"]) == str(profile_b["nodata"])  # nan == nan
        assert a.tobytes() == b.tobytes(), name  # bit for bit, NaN payloads included


# --- processing.run -------------------------------------------------------------------------------


def test_registered_with_help(plugin):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().createAlgorithmById("tilewise:pipeline")
    assert alg is not None
    text = alg.shortHelpString()
    for parameter in alg.parameterDefinitions():  # by the dialog's label
        if not parameter.flags() & parameter.FlagAdvanced:
            assert parameter.description() in text, parameter.name()
    for word in ('"inputs"', '"steps"', '"outputs"', "forward", "<name>.tif"):
        assert word in text


@pytest.mark.parametrize("fuse", [0, 1, 2], ids=["auto", "always", "never"])
@pytest.mark.parametrize("workers", [1, 2])
def test_seed_pipeline_equals_the_algorithms_one_by_one(processing, dem, tmp_path, fuse, workers):
    advanced = {"WORKERS": workers, "TILE_SIZE": TILE}
    reference = one_by_one(processing, dem[0], str(tmp_path / "by-hand"), **advanced)
    feedback = RecordingFeedback()
    result = run(processing, "tilewise:pipeline", feedback, PIPELINE=str(SEED), INPUTS=[dem[0]],
                 FUSE=fuse, OUTPUT_FOLDER=str(tmp_path / "pipeline"), **advanced)
    assert result["OUTPUT_FOLDER"] == str(tmp_path / "pipeline")
    assert result["OUTPUTS"] == [str(tmp_path / "pipeline" / f"{n}.tif") for n in OUTPUTS]
    assert_same_files(reference, tmp_path / "pipeline")
    log = "\n".join(feedback.of("info"))
    if fuse == 1:
        assert "fused into one pass" in log and "fused(mask, filled, smooth)" in log
    if fuse == 2:
        assert "step by step" in log and "fused(" not in log


def test_fused_and_unfused_give_the_same_bytes(processing, dem, tmp_path):
    for fuse in (1, 2):
        run(processing, "tilewise:pipeline", PIPELINE=str(SEED), INPUTS=[dem[0]], FUSE=fuse,
            WORKERS=2, TILE_SIZE=TILE, OPTIONS="COMPRESS=DEFLATE|PREDICTOR=3",
            OUTPUT_FOLDER=str(tmp_path / str(fuse)))
    assert_same_files(tmp_path / "1", tmp_path / "2")
    for name in OUTPUTS:  # the files themselves, compression included
        assert (tmp_path / "1" / f"{name}.tif").read_bytes() == \
            (tmp_path / "2" / f"{name}.tif").read_bytes()


def test_only_requested_outputs_are_written(processing, dem, tmp_path):
    spec = json.loads(SEED.read_text())
    spec["outputs"] = ["smooth"]
    result = run(processing, "tilewise:pipeline", PIPELINE_TEXT=json.dumps(spec),
                 INPUTS=[dem[0]], WORKERS=1, OUTPUT_FOLDER=str(tmp_path / "out"))
    assert sorted(os.listdir(tmp_path / "out")) == ["smooth.tif"]
    assert result["OUTPUTS"] == [str(tmp_path / "out" / "smooth.tif")]
    reference = one_by_one(processing, dem[0], str(tmp_path / "by-hand"), WORKERS=1)
    assert_same_files(reference, tmp_path / "out", ["smooth"])


def test_yaml_text_and_inputs_named_in_the_file(processing, dem, tmp_path):
    """YAML text; the input's path in the file (relative to the file's folder), no INPUTS."""
    pytest.importorskip("yaml")
    folder = tmp_path / "job"
    folder.mkdir()
    os.symlink(dem[0], folder / "dsm.tif")
    (folder / "pipe.yaml").write_text(
        "inputs:\n  - {name: dsm, path: dsm.tif}\n"
        "steps:\n"
        "  - name: smooth\n    algorithm: meanfilter\n    parameters: {INPUT: dsm, SIZE: 5}\n")
    run(processing, "tilewise:pipeline", PIPELINE=str(folder / "pipe.yaml"), WORKERS=1,
        OUTPUT_FOLDER=str(tmp_path / "out"))
    run(processing, "tilewise:meanfilter", INPUT=dem[0], SIZE=5, WORKERS=1,
        OUTPUT=str(tmp_path / "smooth.tif"))
    assert qh.read_geotiff(tmp_path / "out" / "smooth.tif")[0].tobytes() == \
        qh.read_geotiff(tmp_path / "smooth.tif")[0].tobytes()


def test_every_error_is_reported_at_once_with_its_step(plugin, processing, dem, tmp_path):
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingException

    alg = QgsApplication.processingRegistry().createAlgorithmById("tilewise:pipeline")
    parameters = {"PIPELINE_TEXT": json.dumps(BROKEN), "INPUTS": [dem[0]],
                  "OUTPUT_FOLDER": str(tmp_path / "out")}
    ok, message = alg.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok
    lines = message.splitlines()
    for expected in BROKEN_ERRORS:
        assert any(expected in line for line in lines), (expected, message)
    assert lines[0] == f"The pipeline has {len(lines) - 1} error(s):"
    # processing.run stops at the check: nothing ran, nothing was written
    feedback = RecordingFeedback()
    with pytest.raises(QgsProcessingException):
        run(processing, "tilewise:pipeline", feedback, **parameters)
    assert not (tmp_path / "out").exists()
    assert not [line for line in feedback.of("info") if "tile" in line]


@pytest.mark.parametrize("change,expected", [
    (lambda s: s.update(outputs=["dsm"]), "outputs: 'dsm' is a pipeline input"),
    (lambda s: s["steps"][1]["parameters"].update(MASK="filled"),
     "step 'filled': parameter 'MASK' reads the step's own output (a cycle)"),
    (lambda s: s["steps"][2].update(name="mask"), "step 'mask': the name 'mask' is already used"),
    (lambda s: s["steps"][0].update(algorithm="tilewise:pipeline"),
     "step 'mask': 'tilewise:pipeline' cannot be a pipeline step"),
    (lambda s: s["steps"][0]["parameters"].update(OUTPUT="x.tif"),
     "step 'mask': parameter 'OUTPUT' is an output"),
    (lambda s: s["steps"][0]["parameters"].update(BAND=3),
     "step 'mask': parameter 'BAND': bad value: band 3 is out of range"),
    (lambda s: s["steps"][2]["parameters"].pop("INPUT"),
     "step 'smooth': parameter 'INPUT' is required"),
    (lambda s: s.update(extra=1), "pipeline: unknown key 'extra'"),
    (lambda s: s["steps"].append({"name": "late", "algorithm": "meanfilter",
                                  "parameters": {"INPUT": "smooth"}}),
     "step 'late': its output is never used"),
])
def test_single_errors(plugin, dem, tmp_path, change, expected):
    from qgis.core import QgsApplication, QgsProcessingContext

    spec = json.loads(SEED.read_text())
    change(spec)
    alg = QgsApplication.processingRegistry().createAlgorithmById("tilewise:pipeline")
    ok, message = alg.checkParameterValues(
        {"PIPELINE_TEXT": json.dumps(spec), "INPUTS": [dem[0]],
         "OUTPUT_FOLDER": str(tmp_path / "out")}, QgsProcessingContext())
    assert not ok and expected in message, message


@pytest.mark.parametrize("parameters,expected", [
    ({"PIPELINE_TEXT": "{\"inputs\": [\"dsm\"],"}, "not valid JSON"),
    ({}, "no pipeline"),
    ({"PIPELINE_TEXT": SEED.read_text(), "INPUTS": "two"}, "INPUTS: 2 layer(s) given"),
    ({"PIPELINE_TEXT": SEED.read_text(), "OPTIONS": "COMPRESS=NOPE"}, "OPTIONS:"),
])
def test_parameter_errors(plugin, dem, tmp_path, parameters, expected):
    from qgis.core import QgsApplication, QgsProcessingContext

    if parameters.get("INPUTS") == "two":
        parameters["INPUTS"] = [dem[0], dem[0]]
    parameters = {"INPUTS": [dem[0]], "OUTPUT_FOLDER": str(tmp_path / "out"), **parameters}
    alg = QgsApplication.processingRegistry().createAlgorithmById("tilewise:pipeline")
    ok, message = alg.checkParameterValues(parameters, QgsProcessingContext())
    assert not ok and expected in message, message


def test_example_pipelines_are_valid(plugin, dem, tmp_path):
    """Every shipped example checks out."""
    from qgis.core import QgsApplication, QgsProcessingContext

    from tilewise.algorithms.pipeline import read_pipeline_file

    registry = QgsApplication.processingRegistry()
    examples = sorted((qh.REPO_ROOT / "resources" / "pipelines").glob("*.*"))
    assert SEED in examples
    checked = 0
    for path in examples:
        document, _ = read_pipeline_file(str(path))
        missing = [s["algorithm"] for s in document["steps"]
                   if registry.algorithmById(s["algorithm"]) is None]
        assert not missing, (path.name, missing)  # a registration bug, not a reason to skip
        alg = registry.createAlgorithmById("tilewise:pipeline")
        ok, message = alg.checkParameterValues(
            {"PIPELINE": str(path), "INPUTS": [dem[0]] * len(document["inputs"]),
             "OUTPUT_FOLDER": str(tmp_path / path.stem)}, QgsProcessingContext())
        assert ok, (path.name, message)
        checked += 1
    assert checked == len(examples)


# --- qgis_process.bin -------------------------------------------------------------------------


def qgis_process(env, *args):
    return subprocess.run([qh.QGIS_PROCESS, *args], env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


def run_json(env, algorithm, **parameters):
    done = qgis_process(env, "--json", "run", algorithm, "--",
                        *(f"{key}={value}" for key, value in parameters.items()))
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


def test_qgis_process_pipeline_equals_the_algorithms_one_by_one(qgis_env, dem, tmp_path):
    tiled = {"WORKERS": 2, "TILE_SIZE": TILE}
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    run_json(qgis_env, "tilewise:nodatamask", INPUT=dem[0], BAND=1,
             OUTPUT=by_hand / "mask.tif", **tiled)
    run_json(qgis_env, "tilewise:fillnodata", INPUT=dem[0], BAND=1, MASK=by_hand / "mask.tif",
             MAX_DISTANCE=100, SMOOTHING_ITERATIONS=0, OUTPUT=by_hand / "filled.tif", **tiled)
    run_json(qgis_env, "tilewise:meanfilter", INPUT=by_hand / "filled.tif", SIZE=3,
             OUTPUT=by_hand / "smooth.tif", **tiled)
    for fuse in ("1", "2"):
        result = run_json(qgis_env, "tilewise:pipeline", PIPELINE=SEED, INPUTS=dem[0],
                          FUSE=fuse, OUTPUT_FOLDER=tmp_path / fuse, **tiled)
        assert result["results"]["OUTPUT_FOLDER"] == str(tmp_path / fuse)
        assert_same_files(by_hand, tmp_path / fuse)


def test_qgis_process_reports_every_error_before_any_work(qgis_env, dem, tmp_path):
    done = qgis_process(qgis_env, "run", "tilewise:pipeline", "--",
                        f"PIPELINE_TEXT={json.dumps(BROKEN)}", f"INPUTS={dem[0]}",
                        f"OUTPUT_FOLDER={tmp_path / 'out'}")
    assert done.returncode != 0
    output = done.stdout + done.stderr
    for expected in BROKEN_ERRORS:
        assert output.count(expected) == 1, (expected, output)
    assert "Processing tiles" not in output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("example", ["seed.json", "terrain.json", "ndvi_smoothing.yaml"])
def test_examples_equal_their_steps_one_by_one(plugin, processing, dem, tmp_path, example):
    """Each shipped example, fused and not, equals its steps run one by one through
    processing.run (every step written to a file, raster parameters naming those files)."""
    from qgis.core import QgsApplication

    from tilewise.algorithms.pipeline import read_pipeline_file
    from tilewise.algorithms.pipeline_parameters import convert_value

    path = qh.REPO_ROOT / "resources" / "pipelines" / example
    document, _ = read_pipeline_file(str(path))
    registry = QgsApplication.processingRegistry()
    missing = [s["algorithm"] for s in document["steps"]
               if registry.algorithmById(s["algorithm"]) is None]
    assert not missing, f"{example} uses algorithms that are not registered: {missing}"
    files = {name: dem[0] for name in document["inputs"]}
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    advanced = {"WORKERS": 2, "TILE_SIZE": TILE}
    for step in document["steps"]:
        alg = registry.algorithmById(step["algorithm"])
        parameters = {}
        for key, value in step["parameters"].items():
            if isinstance(value, list):
                parameters[key] = [files[v] for v in value]
            elif isinstance(value, str) and value in files:
                parameters[key] = files[value]
            else:
                parameters[key] = convert_value(alg.parameterDefinition(key), value)[0]
        files[step["name"]] = str(by_hand / f"{step['name']}.tif")
        run(processing, step["algorithm"], OUTPUT=files[step["name"]], **parameters, **advanced)
    for fuse in (1, 2):
        run(processing, "tilewise:pipeline", PIPELINE=str(path),
            INPUTS=[dem[0]] * len(document["inputs"]), FUSE=fuse,
            OUTPUT_FOLDER=str(tmp_path / str(fuse)), **advanced)
        assert sorted(os.listdir(tmp_path / str(fuse))) == \
            sorted(f"{n}.tif" for n in document["outputs"])
        assert_same_files(by_hand, tmp_path / str(fuse), document["outputs"])


def _cloud_layer(path, count=6, seed=21):
    """A GeoPackage of polygons ("clouds") over the test DEM, in its CRS."""
    import numpy as np
    from osgeo import ogr, osr
    rng = np.random.default_rng(seed)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.SetFromUserInput(qh.CRS)
    layer = ds.CreateLayer("clouds", srs, ogr.wkbPolygon)
    for _ in range(count):
        cx = 500000.0 + rng.uniform(0, WIDTH * 10)
        cy = 4600000.0 - rng.uniform(0, HEIGHT * 10)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
        radius = rng.uniform(20, 120, 7)
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for a, r in zip(angles, radius):
            ring.AddPoint_2D(cx + r * np.cos(a), cy + r * np.sin(a))
        ring.CloseRings()
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetGeometry(polygon)
        layer.CreateFeature(feature)
    ds = None
    return str(path)


@pytest.mark.parametrize("fuse", [1, 2])
def test_a_geometry_mask_step_masks_clouds_before_the_fill(plugin, processing, dem, tmp_path,
                                                          fuse):
    """tilewise:geometrymask as a pipeline step (clouds drawn as polygons become the pixels
    that fillnodata fills), fused and not: equal to tilewise:geometrymask and
    tilewise:fillnodata run one by one."""
    clouds = _cloud_layer(tmp_path / "clouds.gpkg")
    spec = {"inputs": ["dsm"],
            "steps": [{"name": "clouds", "algorithm": "tilewise:geometrymask",
                       "parameters": {"INPUT": "dsm", "INVALID": clouds, "VALID_VALUE": 0,
                                      "INVALID_VALUE": 1}},
                      {"name": "filled", "algorithm": "tilewise:fillnodata",
                       "parameters": {"INPUT": "dsm", "MASK": "clouds", "MAX_DISTANCE": 30}}],
            "outputs": ["clouds", "filled"]}
    advanced = {"WORKERS": 2, "TILE_SIZE": TILE}
    run(processing, "tilewise:pipeline", PIPELINE_TEXT=json.dumps(spec), INPUTS=[dem[0]],
        FUSE=fuse, OUTPUT_FOLDER=str(tmp_path / "pipe"), **advanced)
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    run(processing, "tilewise:geometrymask", INPUT=dem[0], INVALID=clouds, VALID_VALUE=0,
        INVALID_VALUE=1, OUTPUT=str(by_hand / "clouds.tif"))
    run(processing, "tilewise:fillnodata", INPUT=dem[0], BAND=1, MASK=str(by_hand / "clouds.tif"),
        MAX_DISTANCE=30, OUTPUT=str(by_hand / "filled.tif"), **advanced)
    assert_same_files(by_hand, tmp_path / "pipe", ("clouds", "filled"))
    mask = qh.read_geotiff(str(by_hand / "clouds.tif"))[0]
    assert 20 < mask.sum() < mask.size / 2  # the clouds cover some pixels, not most
