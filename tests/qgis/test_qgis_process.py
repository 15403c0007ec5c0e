"""The plugin as QGIS's command-line runner sees it: ``/usr/bin/qgis_process.bin`` against the
checkout, with an isolated QGIS profile and a decoy ``python3`` first on PATH.

QGIS 3.22's qgis_process reads no JSON from stdin: parameters go after ``--`` as KEY=VALUE.
"""

import json
import os
import re
import stat
import subprocess
import textwrap

import numpy as np
import pytest
from rasterio.fill import fillnodata
from scipy.ndimage import uniform_filter

import qgis_helpers as qh

NODATA = -9999.0
ALGORITHMS = ("tilewise:nodatamask", "tilewise:fillnodata", "tilewise:meanfilter")

#: the engine's run summary, one per engine call (apply or reduce)
# "on this process and 1 worker process": with workers=2, the engine's own filters also
# run in the calling process, next to one worker process
SUMMARY = re.compile(r"^\w+: \d+ tiles? on (this process and )?(\d+) worker process(?:es)? "
                     r"in [\d.]+ s; shared memory peak ")

#: what qgis_process 3.22 itself writes to stderr on Debian 12, headless
QGIS_STDERR = (re.compile(r"^QStandardPaths: "),
               re.compile(r"^<string>:\d+: DeprecationWarning: setapi\(\) is deprecated$"))

pytestmark = pytest.mark.skipif(not os.access(qh.QGIS_PROCESS, os.X_OK),
                                reason=f"{qh.QGIS_PROCESS} not installed")


@pytest.fixture(scope="session")
def decoy_python(tmp_path_factory):
    """A folder whose ``python3`` (and ``python``) only records that it was called and fails.

    Worker processes must be started with QGIS's own interpreter, never whatever ``python3``
    comes first on PATH (here the pyenv shims would come next).
    """
    folder = tmp_path_factory.mktemp("decoy-bin")
    called = folder / "called"
    for name in ("python3", "python"):
        script = folder / name
        script.write_text(f"#!/bin/sh\necho \"$0 $*\" >> '{called}'\nexit 97\n")
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return folder, called


@pytest.fixture(scope="session")
def qgis_env(plugin_parent_dir, tmp_path_factory, decoy_python):
    parent_dir = plugin_parent_dir
    config_dir = qh.make_qgis_profile(tmp_path_factory.mktemp("qgis-config"))
    env = qh.qgis_process_env(config_dir, parent_dir, path_prefix=[decoy_python[0]])
    # small test images must still go to the worker processes (the engine keeps runs under
    # a million pixels in the calling process otherwise)
    env["TILEWISE_MIN_PARALLEL_PIXELS"] = "0"
    # nor run on threads while the workers are starting (jobs this small finish before that)
    env["TILEWISE_BACKEND"] = "processes"
    return env


@pytest.fixture(autouse=True)
def decoy_never_called(decoy_python):
    yield
    called = decoy_python[1]
    assert not called.exists(), f"PATH's python3 was started: {called.read_text()}"


def qgis_process(env, *args, timeout=300):
    """Run qgis_process.bin; returns its stdout, failing the test with its output otherwise."""
    done = subprocess.run([qh.QGIS_PROCESS, *args], env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"qgis_process {' '.join(args)} failed ({done.returncode}):\n" \
                                 f"{done.stdout}\n{done.stderr}"
    return done.stdout


def run_json(env, algorithm, **parameters):
    """``qgis_process --json run algorithm -- KEY=VALUE ...``; returns the parsed JSON.

    With ``--json`` stdout must be the JSON document and nothing else.
    """
    stdout = qgis_process(env, "--json", "run", algorithm, "--",
                          *(f"{key}={value}" for key, value in parameters.items()))
    return json.loads(stdout)


def summaries(result):
    """The engine's run summary lines in a ``--json`` result's log."""
    return [line for line in result["log"].get("info", []) if SUMMARY.match(line)]


@pytest.fixture(scope="session")
def dem(tmp_path_factory):
    array = qh.punch_holes(qh.synthetic_dem(50, 70, seed=5), NODATA, seed=6)
    path = qh.write_geotiff(tmp_path_factory.mktemp("dem") / "dem.tif", array, nodata=NODATA)
    return path, array


def test_list_shows_the_algorithms(qgis_env):
    listing = qgis_process(qgis_env, "list")
    for algorithm in ALGORITHMS:
        assert algorithm in listing


def test_plugins_command_shows_tilewise_enabled(qgis_env):
    assert "* tilewise" in [line.strip() for line in qgis_process(qgis_env, "plugins").splitlines()]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_help(qgis_env, algorithm):
    text = qgis_process(qgis_env, "help", algorithm)
    for parameter in ("INPUT", "OUTPUT", "WORKERS", "TILE_SIZE", "OPTIONS"):
        assert f"{parameter}:" in text


def test_meanfilter_json(qgis_env, dem, tmp_path):
    path, array = dem
    out = tmp_path / "mean.tif"
    result = run_json(qgis_env, "tilewise:meanfilter", INPUT=path, SIZE=3, OUTPUT=out)
    assert result["results"]["OUTPUT"] == str(out)
    smooth = qh.read_geotiff(out)[0][0]
    valid = array != NODATA
    expected = uniform_filter(array.astype("float64"), 3, mode="reflect")
    clean = uniform_filter(valid.astype("float64"), 3, mode="reflect") > 1 - 1e-9
    np.testing.assert_allclose(smooth[clean], expected[clean], rtol=1e-5)
    assert np.all(smooth[~valid] == NODATA)


def test_chain_by_files(qgis_env, dem, tmp_path):
    """nodatamask -> fillnodata (mask as MASK) -> meanfilter, multi-process and tiled."""
    path, array = dem
    tiled = {"WORKERS": 2, "TILE_SIZE": 16}
    mask, filled, smooth = (tmp_path / name for name in ("mask.tif", "filled.tif", "smooth.tif"))
    results = [
        run_json(qgis_env, "tilewise:nodatamask", INPUT=path, BAND=1, OUTPUT=mask, **tiled),
        # qgis_process 3.22 wants BAND even though it has a default (so does gdal:fillnodata)
        run_json(qgis_env, "tilewise:fillnodata", INPUT=path, BAND=1, MASK=mask, MAX_DISTANCE=30,
                 SMOOTHING_ITERATIONS=1, OUTPUT=filled, OPTIONS="COMPRESS=DEFLATE|PREDICTOR=3",
                 **tiled),
        run_json(qgis_env, "tilewise:meanfilter", INPUT=filled, SIZE=5, OUTPUT=smooth, **tiled)]
    # the tiles really ran in worker processes started with QGIS's Python, not the decoy,
    # next to this process (GDAL's fill too: it releases the GIL, so it cannot stall the
    # stream's read and write threads here)
    for result, expected in zip(results, [("this process and ", "1")] * 3):
        assert [SUMMARY.match(line).groups() for line in summaries(result)] == \
            [expected], result["log"]

    expected_mask = (array == NODATA).astype("uint8")
    np.testing.assert_array_equal(qh.read_geotiff(mask)[0][0], expected_mask)

    expected_filled = fillnodata(array.copy(), mask=1 - expected_mask, max_search_distance=30,
                                 smoothing_iterations=1)
    filled_array, filled_profile = qh.read_geotiff(filled)
    assert filled_profile["compress"] == "deflate"
    np.testing.assert_array_equal(filled_array[0], expected_filled)

    valid = expected_filled != NODATA
    expected_smooth = uniform_filter(expected_filled.astype("float64"), 5, mode="reflect")
    clean = uniform_filter(valid.astype("float64"), 5, mode="reflect") > 1 - 1e-9
    smooth_array = qh.read_geotiff(smooth)[0][0]
    np.testing.assert_allclose(smooth_array[clean], expected_smooth[clean], rtol=1e-5)


@pytest.mark.parametrize("argument,culprit", [("SIZE=4", "SIZE"),
                                               ("OPTIONS=COMPRESS=NOPE", "OPTIONS"),
                                               ("WORKERS=-1", "WORKERS")])
def test_invalid_parameter_fails_naming_it_once(qgis_env, dem, tmp_path, argument, culprit):
    """Bad values are caught by checkParameterValues, before any work: qgis_process prints the
    message once. (An exception raised while the algorithm runs is printed three times by
    QGIS 3.22 itself: QgsProcessingAlgorithm::run logs it as Critical, which qgis_process echoes
    to stderr, then ConsoleFeedback::reportError prints "ERROR:" and logs it again.)"""
    done = subprocess.run([qh.QGIS_PROCESS, "run", "tilewise:meanfilter", "--", f"INPUT={dem[0]}",
                           argument, f"OUTPUT={tmp_path / 'mean.tif'}"],
                          env=qgis_env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert output.count(f"({culprit})") == 1, output
    assert "An error was encountered while checking parameter values" in done.stderr
    assert "Processing tiles" not in done.stdout  # no engine ran
    assert not (tmp_path / "mean.tif").exists()

NOISY_SITECUSTOMIZE = textwrap.dedent("""\
    # Makes every tile job of a Tilewise worker process noisy, in every way a filter could be.
    import sys
    if "--multiprocessing-fork" in sys.argv:  # spawned multiprocessing children only
        import importlib.abc
        import importlib.util
        import os

        class NoisyJobs(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if not name.endswith(".engine.execution.tasks"):
                    return None
                sys.meta_path.remove(self)
                spec = importlib.util.find_spec(name)
                execute = spec.loader.exec_module

                def exec_module(module):
                    execute(module)
                    run_job = module.run_job

                    def noisy_run_job(*args, **kwargs):
                        import logging
                        import warnings
                        print("NOISE print")
                        print("NOISE print to stderr", file=sys.stderr)
                        os.write(1, b"NOISE on fd 1\\n")
                        os.write(2, b"NOISE on fd 2\\n")
                        warnings.warn_explicit("NOISE warning", UserWarning, "noise.py", 1)
                        logging.getLogger("noise").warning("NOISE log record")
                        logging.getLogger("noise").info("NOISE info record")
                        return run_job(*args, **kwargs)
                    module.run_job = noisy_run_job
                spec.loader.exec_module = exec_module
                return spec

        sys.meta_path.insert(0, NoisyJobs())
""")


@pytest.fixture(scope="session")
def noisy_env(qgis_env, tmp_path_factory):
    """``qgis_env`` plus a ``sitecustomize`` (on PYTHONPATH, hence in the workers) whose worker
    processes print, write to file descriptors 1 and 2, warn and log in every tile job."""
    folder = tmp_path_factory.mktemp("noisy-site")
    (folder / "sitecustomize.py").write_text(NOISY_SITECUSTOMIZE)
    return {**qgis_env, "TILEWISE_BACKEND": "processes",  # tiles in worker processes only
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(folder), qgis_env.get("PYTHONPATH", "")]))}


def assert_only_qgis_stderr(stderr):
    foreign = [line for line in stderr.splitlines()
               if line.strip() and not any(p.match(line) for p in QGIS_STDERR)]
    assert not foreign, f"unexpected lines on stderr: {foreign}"


@pytest.mark.parametrize("noisy", [False, True], ids=["quiet-workers", "noisy-workers"])
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_worker_output_never_reaches_the_console(qgis_env, noisy_env, dem, tmp_path, algorithm,
                                                 noisy):
    """WORKERS=2 through qgis_process.bin --json: stdout is the JSON document alone, stderr
    holds only QGIS's own lines, and worker output (when there is some) is in the JSON log,
    warnings under "warning", each line naming its worker. One summary per engine call."""
    env = noisy_env if noisy else qgis_env
    out = tmp_path / "out.tif"
    done = subprocess.run(
        [qh.QGIS_PROCESS, "--json", "run", algorithm, "--", f"INPUT={dem[0]}", "BAND=1",
         "WORKERS=2", "TILE_SIZE=16", "MAX_DISTANCE=10", f"OUTPUT={out}"],
        env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)  # nothing but the JSON document on stdout
    assert result["results"]["OUTPUT"] == str(out) and out.exists()
    assert_only_qgis_stderr(done.stderr)
    log = result["log"]
    expected = ("this process and ", "1")  # the engine's filters also compute here
    assert [SUMMARY.match(line).groups() for line in summaries(result)] == [expected], log
    lines = [line for key in log for line in log[key]]
    noise = [line for line in lines if "NOISE" in line]
    assert all(re.match(r"worker \d+: ", line) for line in noise), noise
    assert not [line for line in noise if "on fd" in line]  # fd-level output is dropped
    if not noisy:
        assert not noise and not log.get("warning") and not log.get("error"), log
        return
    warnings = log.get("warning", [])
    assert any("UserWarning: NOISE warning" in line for line in warnings), log
    assert any(line.endswith("WARNING noise: NOISE log record") for line in warnings), log
    assert all(": WARNING " in line for line in warnings), warnings
    info = log.get("info", [])
    for expected in (": stdout: NOISE print", ": stderr: NOISE print to stderr",
                     ": INFO noise: NOISE info record"):
        assert any(line.endswith(expected) for line in info), (expected, info)
    assert "error" not in log


def test_worker_warnings_print_as_qgis_warnings(noisy_env, dem, tmp_path):
    """Without --json: worker output appears only as QGIS feedback lines, warnings as
    qgis_process's "WARNING:" lines, never as raw worker output."""
    done = subprocess.run(
        [qh.QGIS_PROCESS, "run", "tilewise:meanfilter", "--", f"INPUT={dem[0]}", "WORKERS=2",
         "TILE_SIZE=16", f"OUTPUT={tmp_path / 'mean.tif'}"],
        env=noisy_env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_only_qgis_stderr(done.stderr)
    noise = [line for line in done.stdout.splitlines() if "NOISE" in line]
    assert noise and all(re.search(r"(^|WARNING:\t|\.|\d)worker \d+: (stdout:|stderr:|INFO |WARNING )",
                                   line) for line in noise), noise
    assert any(re.search(r"WARNING:\tworker \d+: WARNING noise: NOISE log record", line)
               for line in noise), noise
    assert len([line for line in done.stdout.splitlines() if SUMMARY.search(
        line.split("done.")[-1])]) == 1
