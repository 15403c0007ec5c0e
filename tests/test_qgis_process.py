"""The plugin as QGIS's command-line runner sees it: ``/usr/bin/qgis_process.bin`` against the
checkout, with an isolated QGIS profile and a decoy ``python3`` first on PATH.

QGIS 3.22's qgis_process reads no JSON from stdin: parameters go after ``--`` as KEY=VALUE.
"""

import json
import os
import stat
import subprocess

import numpy as np
import pytest
from rasterio.fill import fillnodata
from scipy.ndimage import uniform_filter

import qgis_helpers as qh

NODATA = -9999.0
ALGORITHMS = ("tilewise:nodatamask", "tilewise:fillnodata", "tilewise:meanfilter")

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
def qgis_env(request, tmp_path_factory, decoy_python):
    parent_dir = qh.plugin_parent_dir(request, tmp_path_factory)
    config_dir = qh.make_qgis_profile(tmp_path_factory.mktemp("qgis-config"))
    return qh.qgis_process_env(config_dir, parent_dir, path_prefix=[decoy_python[0]])


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
    """``qgis_process --json run algorithm -- KEY=VALUE ...``; returns the parsed JSON."""
    stdout = qgis_process(env, "--json", "run", algorithm, "--",
                          *(f"{key}={value}" for key, value in parameters.items()))
    return json.loads(stdout[stdout.index("{"):])


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
    run_json(qgis_env, "tilewise:nodatamask", INPUT=path, BAND=1, OUTPUT=mask, **tiled)
    # qgis_process 3.22 wants BAND even though it has a default (so does gdal:fillnodata)
    run_json(qgis_env, "tilewise:fillnodata", INPUT=path, BAND=1, MASK=mask, MAX_DISTANCE=30,
             SMOOTHING_ITERATIONS=1, OUTPUT=filled, OPTIONS="COMPRESS=DEFLATE|PREDICTOR=3", **tiled)
    run_json(qgis_env, "tilewise:meanfilter", INPUT=filled, SIZE=5, OUTPUT=smooth, **tiled)

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


def test_invalid_parameter_fails_naming_it(qgis_env, dem, tmp_path):
    done = subprocess.run([qh.QGIS_PROCESS, "run", "tilewise:meanfilter", "--", f"INPUT={dem[0]}",
                           "SIZE=4", f"OUTPUT={tmp_path / 'mean.tif'}"],
                          env=qgis_env, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "(SIZE)" in done.stdout + done.stderr
    assert not (tmp_path / "mean.tif").exists()
