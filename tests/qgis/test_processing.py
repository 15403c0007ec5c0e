"""The Tilewise algorithms through ``processing.run`` in a headless QgsApplication.

Outputs are compared with engine-free references: numpy, ``rasterio.fill.fillnodata`` on the
whole image and ``scipy.ndimage.uniform_filter``. WORKERS 1 and 2 with a small TILE_SIZE make
sure tiling really happens.
"""

import re
import subprocess
import sys

import numpy as np
import pytest
from rasterio.fill import fillnodata
from scipy.ndimage import uniform_filter

import qgis_helpers as qh
from feedback_helpers import RecordingFeedback

NODATA = -9999.0
HEIGHT, WIDTH = 45, 62
TILE = 16  # several tiles in each direction, with partial tiles at the edges


@pytest.fixture(scope="session")
def dem(tmp_path_factory):
    """Float32 DEM with nodata holes: (path, array)."""
    array = qh.punch_holes(qh.synthetic_dem(HEIGHT, WIDTH), NODATA)
    array[5, 7] = np.nan
    path = qh.write_geotiff(tmp_path_factory.mktemp("dem") / "dem.tif", array, nodata=NODATA)
    return path, array


@pytest.fixture(scope="session")
def rgb(tmp_path_factory):
    """3-band int16 raster with nodata -1: (path, array)."""
    rng = np.random.default_rng(3)
    array = rng.integers(0, 1000, (3, HEIGHT, WIDTH)).astype("int16")
    array[:, rng.random((HEIGHT, WIDTH)) < 0.05] = -1
    path = qh.write_geotiff(tmp_path_factory.mktemp("rgb") / "rgb.tif", array, nodata=-1)
    return path, array


def run(processing, algorithm, feedback=None, **parameters):
    from qgis.core import QgsProcessingFeedback

    return processing.run(f"tilewise:{algorithm}", parameters,
                          feedback=feedback or QgsProcessingFeedback())


def reference_mean(band, size, nodata):
    """uniform_filter of the valid pixels; NaN where the window holds nodata."""
    valid = ~(np.isnan(band) | (band == nodata))
    mean = uniform_filter(np.where(valid, band, 0).astype("float64"), size, mode="reflect")
    clean = uniform_filter(valid.astype("float64"), size, mode="reflect") > 1 - 1e-9
    return np.where(clean & valid, mean, np.nan), valid


# --- registration and metadata ----------------------------------------------------------------


def test_importing_the_package_does_not_import_qgis(plugin_parent_dir):
    """Worker processes import ``tilewise.engine``, hence the package ``tilewise``: no qgis."""
    parent = plugin_parent_dir
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import tilewise, tilewise.engine; "
            "assert callable(tilewise.classFactory); "
            "assert not [m for m in sys.modules if m.split('.')[0] in ('qgis', 'PyQt5')], "
            "sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code, str(parent)], check=True, timeout=60)


def test_unload_removes_the_provider(plugin):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    plugin.unload()
    assert registry.providerById("tilewise") is None
    plugin.initProcessing()
    assert registry.algorithmById("tilewise:meanfilter") is not None


def test_provider_registers_the_seed_algorithms(plugin):
    """The three seed algorithms (the catalogue is checked by test_catalogue_processing)."""
    from qgis.core import QgsApplication

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    assert provider is plugin.provider and provider.name() == "Tilewise"
    ids = {alg.id() for alg in provider.algorithms()}
    assert {"tilewise:fillnodata", "tilewise:meanfilter", "tilewise:nodatamask"} <= ids
    assert provider.defaultRasterFileExtension() == "tif"


@pytest.mark.parametrize("algorithm_id", ["tilewise:nodatamask", "tilewise:fillnodata",
                                          "tilewise:meanfilter"])
def test_help_and_advanced_parameters(plugin, algorithm_id):
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    alg = QgsApplication.processingRegistry().createAlgorithmById(algorithm_id)
    help_text = alg.shortHelpString()
    for parameter in alg.parameterDefinitions():
        advanced = bool(parameter.flags() & QgsProcessingParameterDefinition.FlagAdvanced)
        assert advanced == (parameter.name() in ("WORKERS", "TILE_SIZE", "MEMORY", "OPTIONS", "COG"))
        if not advanced:  # the help names parameters by their dialog labels
            assert parameter.description() in help_text, parameter.name()
        # the advanced ones are in the shared "Performance and tiling" section
    assert "Performance and tiling" in help_text
    assert "bit for bit" in help_text
    options = alg.parameterDefinition("OPTIONS")
    assert options.metadata()["widget_wrapper"]["class"].endswith("RasterOptionsWidgetWrapper")
    assert alg.parameterDefinition("WORKERS").defaultValue() == 0
    assert alg.parameterDefinition("TILE_SIZE").defaultValue() == 0


# --- results against references ---------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_nodatamask(processing, dem, tmp_path, workers):
    path, array = dem
    out = str(tmp_path / "mask.tif")
    result = run(processing, "nodatamask", INPUT=path, BAND=1, OUTPUT=out,
                 WORKERS=workers, TILE_SIZE=TILE)
    assert result["OUTPUT"] == out
    mask, profile = qh.read_geotiff(out)
    assert profile["dtype"] == "uint8" and profile["nodata"] is None
    expected = (np.isnan(array) | (array == NODATA)).astype("uint8")
    np.testing.assert_array_equal(mask[0], expected)


def test_algorithm_runs_reuse_the_session_workers(processing, dem, tmp_path):
    from tilewise.engine.execution.session import default_session

    seen = []
    script = str(qh.REPO_ROOT / "resources" / "scripts" / "local_contrast.py")
    for i in range(2):  # a user's script: its tiles run in worker processes only
        run(processing, "customfilter", INPUTS=[dem[0]], SCRIPT=script, PARAMS='{"size": 3}',
            OUTPUT=str(tmp_path / f"contrast{i}.tif"), WORKERS=2, TILE_SIZE=TILE)
        pools = list(default_session()._pools.values())
        seen.append(sorted(w.process.pid for p in pools for w in p._workers))
    assert seen[0] and seen[1] == seen[0]


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("distance,iterations", [(100, 0), (6, 2)])
def test_fillnodata_equals_rasterio(processing, dem, tmp_path, workers, distance, iterations):
    path, array = dem
    out = str(tmp_path / "filled.tif")
    run(processing, "fillnodata", INPUT=path, BAND=1, MAX_DISTANCE=distance,
        SMOOTHING_ITERATIONS=iterations, OUTPUT=out, WORKERS=workers, TILE_SIZE=TILE)
    filled, profile = qh.read_geotiff(out)
    valid = ~(np.isnan(array) | (array == NODATA))
    expected = fillnodata(array.copy(), mask=valid.astype("uint8"),
                          max_search_distance=distance, smoothing_iterations=iterations)
    assert profile["dtype"] == "float32" and profile["nodata"] == NODATA
    np.testing.assert_array_equal(filled[0], expected)


@pytest.mark.parametrize("workers", [1, 2])
def test_fillnodata_with_mask(processing, dem, tmp_path, workers):
    path, array = dem
    to_fill = np.zeros(array.shape, dtype="uint8")
    to_fill[10:20, 30:45] = 7  # nonzero = fill here, whatever the pixel holds
    mask_path = qh.write_geotiff(tmp_path / "fillmask.tif", to_fill)
    out = str(tmp_path / "filled.tif")
    run(processing, "fillnodata", INPUT=path, MASK=mask_path, MAX_DISTANCE=20, OUTPUT=out,
        WORKERS=workers, TILE_SIZE=TILE)
    filled, _ = qh.read_geotiff(out)
    expected = fillnodata(array.copy(), mask=(to_fill == 0).astype("uint8"), max_search_distance=20)
    np.testing.assert_array_equal(filled[0], expected)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("size", [1, 3, 5])
def test_meanfilter_one_band(processing, dem, tmp_path, workers, size):
    path, array = dem
    out = str(tmp_path / "mean.tif")
    run(processing, "meanfilter", INPUT=path, BAND=1, SIZE=size, OUTPUT=out,
        WORKERS=workers, TILE_SIZE=TILE)
    smooth, profile = qh.read_geotiff(out)
    assert profile["count"] == 1 and profile["dtype"] == "float32" and profile["nodata"] == NODATA
    expected, valid = reference_mean(array, size, NODATA)
    clean = ~np.isnan(expected)
    assert clean.sum() > array.size // 4
    np.testing.assert_allclose(smooth[0][clean], expected[clean], rtol=1e-5)
    assert np.all(smooth[0][~valid] == NODATA)


def test_meanfilter_all_bands_integer_input(processing, rgb, tmp_path):
    path, array = rgb
    out = str(tmp_path / "mean.tif")
    run(processing, "meanfilter", INPUT=path, SIZE=3, OUTPUT=out, WORKERS=2, TILE_SIZE=TILE)
    smooth, profile = qh.read_geotiff(out)
    assert profile["count"] == 3 and profile["dtype"] == "float32"
    for band in range(3):
        expected, valid = reference_mean(array[band].astype("float64"), 3, -1)
        clean = ~np.isnan(expected)
        np.testing.assert_allclose(smooth[band][clean], expected[clean], rtol=1e-6)
        assert np.all(smooth[band][~valid] == -1)


def test_results_do_not_depend_on_workers_or_tiles(processing, dem, tmp_path):
    path, _ = dem
    outputs = []
    for index, (workers, tile) in enumerate([(1, 0), (1, 7), (2, TILE), (3, 11)]):
        out = str(tmp_path / f"mean{index}.tif")
        run(processing, "meanfilter", INPUT=path, SIZE=5, OUTPUT=out, WORKERS=workers,
            TILE_SIZE=tile)
        outputs.append(qh.read_geotiff(out)[0])
    for other in outputs[1:]:
        assert outputs[0].tobytes() == other.tobytes()


def test_options_are_honoured(processing, dem, tmp_path):
    path, array = dem
    out = str(tmp_path / "mask.tif")
    run(processing, "nodatamask", INPUT=path, OUTPUT=out, WORKERS=1,
        OPTIONS="COMPRESS=DEFLATE|PREDICTOR=2|TILED=YES")
    mask, profile = qh.read_geotiff(out)
    assert profile["compress"] == "deflate" and profile["tiled"] is True
    assert mask.sum() == np.count_nonzero(np.isnan(array) | (array == NODATA))


def test_temporary_output_is_a_geotiff(processing, dem):
    result = run(processing, "nodatamask", INPUT=dem[0], OUTPUT="TEMPORARY_OUTPUT", WORKERS=1)
    assert result["OUTPUT"].endswith(".tif")
    assert qh.read_geotiff(result["OUTPUT"])[1]["driver"] == "GTiff"


# --- errors and cancellation ----------------------------------------------------------------


@pytest.mark.parametrize("algorithm,parameters,culprit", [
    ("meanfilter", {"SIZE": 4}, "SIZE"),
    ("meanfilter", {"BAND": 2}, "BAND"),
    ("nodatamask", {"BAND": 3}, "BAND"),
    ("fillnodata", {"BAND": 2}, "BAND"),
    ("fillnodata", {"MAX_DISTANCE": -1}, "MAX_DISTANCE"),
    ("nodatamask", {"OPTIONS": "COMPRESS"}, "OPTIONS"),
    ("nodatamask", {"OUTPUT": "{input}"}, "OUTPUT"),
    ("nodatamask", {"OUTPUT": "{tmp}/mask.png"}, "OUTPUT"),
    ("meanfilter", {"INPUT": "{tmp}/missing.tif"}, "INPUT"),
])
def test_bad_parameters_name_the_parameter(processing, dem, tmp_path, algorithm, parameters,
                                           culprit):
    from qgis.core import QgsProcessingException

    values = {"INPUT": dem[0], "OUTPUT": str(tmp_path / "out.tif"), "WORKERS": 1}
    values.update({key: value.format(input=dem[0], tmp=tmp_path) if isinstance(value, str)
                   else value for key, value in parameters.items()})
    with pytest.raises(QgsProcessingException, match=culprit):
        run(processing, algorithm, **values)
    assert not (tmp_path / "out.tif").exists()


def test_mask_on_another_grid_names_the_mask(processing, dem, tmp_path):
    from qgis.core import QgsProcessingException

    mask_path = qh.write_geotiff(tmp_path / "small.tif", np.ones((10, 10), dtype="uint8"))
    with pytest.raises(QgsProcessingException, match="MASK"):
        run(processing, "fillnodata", INPUT=dem[0], MASK=mask_path, OUTPUT=str(tmp_path / "o.tif"),
            WORKERS=1)


def test_non_gdal_layer_is_rejected(processing, dem, tmp_path):
    from qgis.core import QgsProcessingException, QgsRasterLayer

    layer = QgsRasterLayer("type=xyz&url=http://127.0.0.1:9/{z}/{x}/{y}.png&zmin=0&zmax=19",
                           "tiles", "wms")
    assert layer.isValid() and layer.providerType() == "wms"
    with pytest.raises(QgsProcessingException, match="INPUT.*'wms' data provider"):
        run(processing, "nodatamask", INPUT=layer, OUTPUT=str(tmp_path / "o.tif"), WORKERS=1)


def test_canceled_feedback_stops_the_run(processing, dem, tmp_path):
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    feedback.cancel()
    out = tmp_path / "mean.tif"
    result = run(processing, "meanfilter", feedback=feedback, INPUT=dem[0], SIZE=3,
                 OUTPUT=str(out), WORKERS=2, TILE_SIZE=8)
    assert "OUTPUT" not in result
    assert not out.exists()
    assert not list(tmp_path.iterdir())  # no temporary file left behind either


def test_feedback_bridge_steps(plugin):
    from qgis.core import QgsProcessingFeedback
    from tilewise.algorithms.feedback import FeedbackBridge

    feedback = QgsProcessingFeedback()
    bridge = FeedbackBridge(feedback, steps=2)
    bridge.progress(0.5)
    assert feedback.progress() == pytest.approx(25)
    bridge.step(1)
    bridge.progress(1.5)
    assert feedback.progress() == pytest.approx(100)
    assert not bridge.cancel()
    feedback.cancel()
    assert bridge.cancel()


def test_feedback_bridge_routes_worker_warnings_to_pushwarning(plugin):
    import filters_for_tests as tf
    from tilewise.algorithms.feedback import FeedbackBridge
    from tilewise.engine import Engine, Profile

    feedback = RecordingFeedback()
    bridge = FeedbackBridge(feedback)
    with Engine(workers=2, tile_size=100, log=bridge.log) as eng:
        source = eng.create(Profile(count=1, height=200, width=100, dtype="float32"))
        eng.apply(tf.noisy, source)
    channels = {}
    for channel, message in feedback.messages:
        channels.setdefault(channel, []).append(message)
    warnings = channels.get("warning", [])
    assert warnings and all("a warning from a worker" in m for m in warnings), feedback.messages
    assert all(m.startswith("worker ") and ": WARNING " in m for m in warnings)
    infos = channels.get("info", [])
    assert any("stdout: hello from a worker" in m for m in infos)
    summaries = [m for m in infos if m.startswith("noisy: ")]
    assert len(summaries) == 1 and "2 tiles on 2 worker processes" in summaries[0]
    assert "error" not in channels


def test_bridge_falls_back_to_a_non_fatal_error_without_pushwarning():
    from tilewise.algorithms.feedback import FeedbackBridge

    class OldFeedback:  # QGIS < 3.16 has no pushWarning
        def __init__(self):
            self.messages = []

        def pushInfo(self, info):
            self.messages.append(("info", info))

        def reportError(self, error, fatalError=False):
            self.messages.append(("error", error, fatalError))

    feedback = OldFeedback()
    bridge = FeedbackBridge(feedback)
    bridge.log("worker 12: ERROR rasterio._env: CPLE_AppDefined in something")
    bridge.log("worker 12: INFO tilewise: fine")
    bridge.log("mean: 4 tiles on 2 worker processes in 0.10 s; shared memory peak 1.0 MiB")
    assert feedback.messages == [
        ("error", "worker 12: ERROR rasterio._env: CPLE_AppDefined in something", False),
        ("info", "worker 12: INFO tilewise: fine"),
        ("info", "mean: 4 tiles on 2 worker processes in 0.10 s; shared memory peak 1.0 MiB")]


def test_run_summary_reaches_pushinfo_once_per_engine_call(processing, dem, tmp_path):
    feedback = RecordingFeedback()
    run(processing, "meanfilter", feedback=feedback, INPUT=dem[0], SIZE=3,
        OUTPUT=str(tmp_path / "mean.tif"), WORKERS=2, TILE_SIZE=TILE)
    summaries = [(channel, m) for channel, m in feedback.messages if m.startswith("mean: ")]
    assert len(summaries) == 1 and summaries[0][0] == "info"
    assert re.search(r" on 2 (threads|worker processes) in ", summaries[0][1]), summaries
    assert not [m for m in feedback.messages if m[0] in ("warning", "error")], feedback.messages


def test_workers_never_import_qgis():
    import filters_for_tests as tf
    from tilewise.engine import Engine, Profile

    import qgis.core  # noqa: F401  (the parent has QGIS loaded, as inside QGIS)
    with Engine(workers=2, tile_size=64) as eng:
        src = eng.create(Profile(1, 256, 256, "float32"))
        imported = eng.reduce(tf.imported_modules, src, prefix="qgis")
    assert imported == set()
