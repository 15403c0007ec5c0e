"""The engine inside the QGIS desktop application: the PyQGIS console's interpreter.

`qgis --code script.py` runs a script in the desktop's embedded Python at start-up, exactly
where console code runs. A decoy `python3` first on PATH makes `sys.executable` wrong, as it
is inside QGIS; the workers must still start with the right interpreter.
"""

import json
import os
import shutil
import subprocess
import textwrap

import numpy as np
import pytest
import rasterio

from tilewise.engine import Engine, filters

pytestmark = pytest.mark.skipif(not shutil.which("xvfb-run") or not shutil.which("qgis"),
                                reason="needs xvfb-run and the qgis desktop binary")

SCRIPT = textwrap.dedent('''
    import json, os, sys, traceback
    from qgis.PyQt.QtCore import QTimer
    from qgis.utils import iface
    report = {"sys_executable": sys.executable}
    try:
        import processing
        from tilewise.engine import Engine, filters
        from tilewise.engine.execution.interpreter import resolve_worker_python
        report["worker_python"] = resolve_worker_python()
        report["processing"] = processing.run("tilewise:meanfilter", {
            "INPUT": os.environ["TW_INPUT"], "SIZE": 3, "WORKERS": 2, "TILE_SIZE": 16,
            "OUTPUT": os.environ["TW_OUTPUT"]})
        lines = []
        with Engine(workers=2, tile_size=16, log=lines.append,   # as typed in the console
                    backend="processes") as eng:
            raster = eng.open(os.environ["TW_INPUT"])
            report["console_sum"] = float(eng.apply(filters.mean, raster, size=5).array.sum())
        report["console_log"] = lines
    except Exception:
        report["error"] = traceback.format_exc()
    with open(os.environ["TW_REPORT"], "w") as f:
        json.dump(report, f)
    QTimer.singleShot(0, iface.actionExit().trigger)
''')


def test_desktop_qgis_runs_the_engine_with_the_right_interpreter(tmp_path, plugin_parent_dir):
    data = np.random.default_rng(4).random((1, 64, 64)).astype(np.float32)
    src = tmp_path / "in.tif"
    with rasterio.open(src, "w", driver="GTiff", width=64, height=64, count=1, dtype="float32",
                       transform=rasterio.Affine(10, 0, 0, 0, -10, 0)) as dst:
        dst.write(data)
    profile = tmp_path / "profile" / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text("[PythonPlugins]\ntilewise=true\n")
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "python3").write_text("#!/bin/sh\nexit 97\n")
    (decoy / "python3").chmod(0o755)
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {**os.environ, "QGIS_PLUGINPATH": str(plugin_parent_dir),
           "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "PATH": f"{decoy}:{os.environ['PATH']}", "TILEWISE_MIN_PARALLEL_PIXELS": "0",
           "TW_INPUT": str(src), "TW_OUTPUT": str(tmp_path / "out.tif"),
           "TW_REPORT": str(tmp_path / "report.json"), "XDG_RUNTIME_DIR": str(tmp_path)}
    env.pop("QT_QPA_PLATFORM", None)  # the desktop needs a (virtual) display
    done = subprocess.run(["xvfb-run", "-a", "qgis", "--nologo", "--noversioncheck", "--code",
                           str(tmp_path / "script.py")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert (tmp_path / "report.json").exists(), done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert "error" not in report, report["error"]
    assert report["sys_executable"] == str(decoy / "python3")
    assert os.path.basename(report["worker_python"]).startswith("python3")
    assert any("on this process and 1 worker process" in line for line in report["console_log"])
    with Engine(workers=1) as eng:
        raster = eng.open(src)
        expected3 = np.array(eng.apply(filters.mean, raster, size=3).array)
        expected5 = float(eng.apply(filters.mean, raster, size=5).array.sum())
    with rasterio.open(tmp_path / "out.tif") as ds:
        np.testing.assert_array_equal(ds.read(), expected3)
    assert report["console_sum"] == expected5
    assert "leaked shared_memory" not in done.stderr
