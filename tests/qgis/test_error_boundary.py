"""No input a user can give makes QGIS exit by a signal (issue: bad input must never take
QGIS down).

- The three inputs that used to abort ``qgis_process.bin`` (SIGABRT, exit 134): a band-math
  literal of 400 digits, a script whose ``check`` raises ValueError, a pipeline document
  nested 100,000 deep. Each now fails with exit 1 and a message naming the problem.
- A fuzz of hostile values for every parameter of every algorithm, through QGIS's C++
  entry points (``QgsProcessingAlgorithm.run``) in a process of its own: it must end
  normally, and a failed case must leave no output file.
"""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rasterio

import qgis_helpers as qh

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ_SEED = int(os.environ.get("TILEWISE_FUZZ_SEED", "20261201"))
FUZZ_CASES = int(os.environ.get("TILEWISE_FUZZ_CASES", "12"))  # per algorithm
MODELS = {"tilewise:dem_terrain", "tilewise:ndvi_smoothing", "tilewise:seed_pipeline"}

pytestmark = pytest.mark.skipif(not os.access(qh.QGIS_PROCESS, os.X_OK),
                                reason=f"{qh.QGIS_PROCESS} not installed")

IDENTITY = """
def filter(buffers, profiles, params):
    return buffers[0]
"""
CHECK_RAISES = """
def check(profiles, params):
    raise ValueError("this check always fails")

def filter(buffers, profiles, params):
    return buffers[0]
"""
CRASH_IN_CHECK = """
import ctypes

def check(profiles, params):
    ctypes.string_at(0)  # SIGSEGV in the process that runs it

def filter(buffers, profiles, params):
    return buffers[0]
"""
EXIT_IN_FILTER = """
import os

def filter(buffers, profiles, params):
    os._exit(3)
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    dem = qh.punch_holes(qh.synthetic_dem(48, 40, seed=8), -9999.0, seed=9)
    qh.write_geotiff(folder / "dem.tif", dem, nodata=-9999.0)
    big = qh.synthetic_dem(512, 512, seed=3)
    damaged = folder / "damaged.tif"
    qh.write_geotiff(damaged, big, tiled=True, blockxsize=128, blockysize=128,
                     compress="deflate")
    qh.corrupt_tile(damaged, 1, 2)
    (folder / "notraster.txt").write_text("not a raster\n")
    for name, text in (("identity.py", IDENTITY), ("check_raises.py", CHECK_RAISES),
                       ("crash_check.py", CRASH_IN_CHECK), ("exit_filter.py", EXIT_IN_FILTER)):
        (folder / name).write_text(textwrap.dedent(text))
    x0, y0 = 500000.0, 4600000.0
    zones = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": i}, "geometry": {"type": "Polygon", "coordinates": [[
            [x0 + 40 * i, y0 - 40], [x0 + 40 * i + 120, y0 - 40], [x0 + 40 * i + 120, y0 - 200],
            [x0 + 40 * i, y0 - 200], [x0 + 40 * i, y0 - 40]]]}} for i in range(3)],
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32631"}}}
    (folder / "zones.geojson").write_text(json.dumps(zones))
    return folder


def qgis_process(tmp_path, plugin_parent_dir, algorithm, *arguments):
    env = qh.qgis_process_env(qh.make_qgis_profile(tmp_path / "profile"), plugin_parent_dir)
    return subprocess.run([qh.QGIS_PROCESS, "run", algorithm, "--", *arguments],
                          capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)


def assert_clean_failure(result, *expected):
    assert result.returncode == 1, (result.returncode, result.stdout[-2000:],
                                    result.stderr[-2000:])
    text = result.stdout + result.stderr
    for fragment in expected:
        assert fragment in text, text[-3000:]


def test_a_400_digit_literal_is_an_error_not_an_abort(data, tmp_path, plugin_parent_dir):
    out = tmp_path / "o.tif"
    result = qgis_process(tmp_path, plugin_parent_dir, "tilewise:bandmath",
                          f"INPUTS={data / 'dem.tif'}", "EXPRESSION=A@1 + " + "9" * 400,
                          f"OUTPUT={out}")
    assert_clean_failure(result, "(400 digits) is too large for 64-bit floating point")
    assert not out.exists()


@pytest.mark.parametrize("script, expected", [
    # a check raising ValueError is an error
    ("check_raises.py", ("ValueError: this check always fails", "check_raises.py")),
    # a script that segfaults in its check leaves QGIS running
    ("crash_check.py", ("die of SIGSEGV", "this process was not affected")),
], ids=["check_raising_valueerror_is_an_error", "segfault_in_check_leaves_qgis_running"])
def test_a_failing_script_check_is_a_clean_failure(data, tmp_path, plugin_parent_dir, script,
                                                   expected):
    out = tmp_path / "o.tif"
    result = qgis_process(tmp_path, plugin_parent_dir, "tilewise:customfilter",
                          f"INPUTS={data / 'dem.tif'}", f"SCRIPT={data / script}",
                          f"OUTPUT={out}")
    assert_clean_failure(result, *expected)
    assert not out.exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_script_that_exits_in_filter_leaves_qgis_running(data, tmp_path, plugin_parent_dir,
                                                          workers):
    out = tmp_path / "o.tif"
    result = qgis_process(tmp_path, plugin_parent_dir, "tilewise:customfilter",
                          f"INPUTS={data / 'dem.tif'}", f"SCRIPT={data / 'exit_filter.py'}",
                          f"WORKERS={workers}", f"OUTPUT={out}")
    assert_clean_failure(result, "exited with code 3", "ended the process")
    assert not out.exists()


def test_a_pipeline_nested_100000_deep_is_an_error(data, tmp_path, plugin_parent_dir):
    document = tmp_path / "deep.json"
    document.write_text("[" * 100000 + "]" * 100000)
    result = qgis_process(tmp_path, plugin_parent_dir, "tilewise:pipeline",
                          f"PIPELINE={document}", f"INPUTS={data / 'dem.tif'}",
                          f"OUTPUT_FOLDER={tmp_path / 'out'}")
    assert_clean_failure(result, "nested too deeply")
    assert not (tmp_path / "out").exists() or not os.listdir(tmp_path / "out")


def test_fuzz_every_algorithm_never_aborts(data, tmp_path, plugin_parent_dir):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", TILEWISE_SCRIPT_TIMEOUT="30")
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "fuzz_driver.py"), str(plugin_parent_dir),
         str(tmp_path / "profile"), str(data), str(FUZZ_SEED), str(FUZZ_CASES)],
        capture_output=True, text=True, env=env, timeout=1200, stdin=subprocess.DEVNULL,
        cwd=tmp_path)  # relative output names land there
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    last_case = next((line for line in reversed(lines) if "algorithm" in line), None)
    escaped = [line["escaped"] for line in lines if "escaped" in line]
    assert result.returncode == 0, (f"exit {result.returncode} during {last_case}", escaped,
                                    result.stderr[-3000:])
    assert lines and "done" in lines[-1], result.stderr[-3000:]
    outcomes = [line for line in lines if "ok" in line]
    cases = [line for line in lines if "algorithm" in line]
    assert len(outcomes) == len(cases) >= lines[-1]["done"] * FUZZ_CASES
    # a failed case leaves no output, except the complete outputs of a model's steps that
    # ran before the failing one; and never a temporary file
    left = [(case, outcome["left"]) for case, outcome in zip(cases, outcomes)
            if outcome["left"] and case["algorithm"] not in MODELS]
    assert not left, left[:5]
    for case, outcome in zip(cases, outcomes):
        for path in outcome["left"]:
            with rasterio.open(path) as ds:
                ds.read()  # complete and readable
    temporaries = [name for name in os.listdir(data / "out") if name.startswith(".tilewise-")]
    assert not temporaries
    # the fuzz must reach both outcomes, or it tests nothing
    assert any(o["ok"] for o in outcomes) and not all(o["ok"] for o in outcomes)


def test_damaged_inputs_fail_with_exit_1_and_no_output(data, tmp_path, plugin_parent_dir):
    """A corrupted tile in a compressed tiled GeoTIFF: a clean error naming the file, no
    output (before: exit 0 and zeros, through GDAL's multi-threaded decoding)."""
    out = tmp_path / "o.tif"
    result = qgis_process(tmp_path, plugin_parent_dir, "tilewise:meanfilter",
                          f"INPUT={data / 'damaged.tif'}", "WORKERS=2", f"OUTPUT={out}")
    assert_clean_failure(result, f"could not read {data / 'damaged.tif'}", "damaged or truncated")
    assert not out.exists()


def test_the_boundary_turns_any_exception_into_a_processing_error(plugin):
    """Any Tilewise algorithm class (and subclass) gets the boundary: an unexpected
    exception in checkParameterValues becomes (False, message), in prepare/process a
    QgsProcessingException naming it; without the boundary the same class lets it through."""
    from qgis.core import QgsProcessingAlgorithm, QgsProcessingContext, QgsProcessingException

    from tilewise.algorithms.boundary import ErrorBoundary

    def make(*bases):
        class Raising(*bases):
            def name(self):
                return "raising"

            def checkParameterValues(self, parameters, context):
                raise OverflowError("int too large to convert to float")

            def prepareAlgorithm(self, parameters, context, feedback):
                raise RecursionError("maximum recursion depth exceeded")

            def processAlgorithm(self, parameters, context, feedback):
                raise KeyError("band")

        class Child(Raising):  # a subclass's own overrides are guarded too
            def processAlgorithm(self, parameters, context, feedback):
                raise ZeroDivisionError("division by zero")
        return Raising(), Child()

    context = QgsProcessingContext()
    raising, child = make(ErrorBoundary, QgsProcessingAlgorithm)
    ok, message = raising.checkParameterValues({}, context)
    assert not ok and "OverflowError: int too large" in message and "raising" in message
    with pytest.raises(QgsProcessingException, match="nested too deeply"):
        raising.prepareAlgorithm({}, context, None)
    with pytest.raises(QgsProcessingException, match="KeyError"):
        raising.processAlgorithm({}, context, None)
    with pytest.raises(QgsProcessingException, match="ZeroDivisionError"):
        child.processAlgorithm({}, context, None)
    unguarded, _ = make(QgsProcessingAlgorithm)  # the control
    with pytest.raises(OverflowError):
        unguarded.checkParameterValues({}, context)
