"""Dependencies checked at load: with numpy, scipy or rasterio missing (hidden by
tests/blocker/sitecustomize.py) or too old, qgis_process.bin still starts and exits normally,
prints ONE message naming what to install, and registers no Tilewise algorithm."""

import os
import subprocess

import pytest

import qgis_helpers as qh

BLOCKER = qh.REPO_ROOT / "tests" / "qgis" / "blocker"


def test_missing_lists_what_cannot_be_imported_or_is_too_old():
    from tilewise import deps

    assert deps.missing() == []  # this machine has everything
    problems = deps.missing({"tilewise_no_such_module": ("1", "python3-x", "python3-x", "x"),
                             "numpy": ("999.0", "python3-numpy", "python3-numpy", "numpy")})
    assert [module for module, _ in problems] == ["tilewise_no_such_module", "numpy"]
    assert "cannot be imported" in problems[0][1]
    assert "999.0 or later is needed" in problems[1][1]
    assert deps.message([]) == ""


def test_message_names_the_packages_for_each_platform():
    from tilewise import deps

    text = deps.message([("scipy", "cannot be imported"), ("rasterio", "cannot be imported")])
    assert "sudo apt install python3-scipy python3-rasterio" in text
    assert "OSGeo4W" in text and "python3-scipy python3-rasterio" in text
    assert "restart QGIS" in text


@pytest.fixture(scope="module")
def profile(tmp_path_factory):
    if not os.access(qh.QGIS_PROCESS, os.X_OK):
        pytest.skip(f"{qh.QGIS_PROCESS} not installed")
    return qh.make_qgis_profile(tmp_path_factory.mktemp("config"))


def qgis_process(profile, plugin_parent_dir, *args, block="", old=""):
    env = qh.qgis_process_env(profile, plugin_parent_dir)
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(BLOCKER),
                                                        env.get("PYTHONPATH", "")])),
               TILEWISE_TEST_BLOCK=block, TILEWISE_TEST_OLD=old)
    return subprocess.run([qh.QGIS_PROCESS, *args], env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("block,old,package", [
    ("scipy", "", "python3-scipy"),
    ("rasterio", "", "python3-rasterio"),
    ("numpy", "", "python3-numpy"),
    ("", "scipy:0.19.1", "python3-scipy"),
])
def test_qgis_process_loads_without_a_dependency(profile, plugin_parent_dir, block, old,
                                                 package):
    done = qgis_process(profile, plugin_parent_dir, "list", block=block, old=old)
    text = done.stdout + done.stderr
    assert done.returncode == 0, text  # never a signal (negative) nor an abort (134)
    assert text.count("Tilewise needs") == 1, text  # one message
    assert f"sudo apt install {package}" in text and "OSGeo4W" in text, text
    if old:
        assert "is version 0.19.1" in text, text
    # (without numpy, QGIS's own processing plugin fails to start: its traceback is not ours)
    assert "/tilewise/" not in text and ("Traceback" not in text or block == "numpy"), text
    assert "tilewise:" not in done.stdout, "an algorithm that cannot run is registered"
    assert "native:buffer" in done.stdout  # QGIS itself is fine

    done = qgis_process(profile, plugin_parent_dir, "run", "tilewise:meanfilter", "--",
                        "INPUT=x.tif", "OUTPUT=y.tif", block=block, old=old)
    assert done.returncode > 0 and "/tilewise/" not in done.stdout + done.stderr


def test_without_the_blocker_the_algorithms_are_there(profile, plugin_parent_dir):
    """The blocker itself changes nothing when it blocks nothing (the test above can fail)."""
    done = qgis_process(profile, plugin_parent_dir, "list")
    assert done.returncode == 0 and "Tilewise needs" not in done.stdout + done.stderr
    assert "tilewise:meanfilter" in done.stdout and "tilewise:seed_pipeline" in done.stdout
