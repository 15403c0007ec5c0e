"""The QGIS desktop under Xvfb (``qgis --code``): every Tilewise algorithm's dialog opens
without error, with a widget for every parameter and an enabled Help button; the modeler opens
each shipped model, valid; screenshots of the toolbox, one dialog and the modeler go to
docs/img/ (shown in the README). A second run hides scipy: the message bar says what to
install, once.

Screenshots are taken by Qt itself (QWidget.grab), so no screen-capture tool is needed.
"""

import json
import os
import shutil
import subprocess
import textwrap

import pytest

import qgis_helpers as qh
from counts import ALGORITHMS

pytestmark = pytest.mark.skipif(not shutil.which("xvfb-run") or not shutil.which("qgis"),
                                reason="needs xvfb-run and the qgis desktop binary")

IMG = qh.REPO_ROOT / "docs" / "img"

SCRIPT = textwrap.dedent('''
    import json, os, traceback
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm
    from qgis.PyQt.QtCore import Qt, QTimer
    from qgis.PyQt.QtWidgets import QApplication, QDialogButtonBox
    from qgis.utils import iface

    report = {"dialogs": {}, "models": {}, "messages": []}
    out = os.environ["TW_IMG"]

    def settle(rounds=20):
        for _ in range(rounds):
            QApplication.processEvents()

    def shoot(widget, name):
        if out:
            settle()
            widget.grab().save(os.path.join(out, name))

    def run():
        try:
            bar = iface.messageBar()
            report["messages"] = [item.text() for item in bar.items()]
            provider = QgsApplication.processingRegistry().providerById("tilewise")
            algorithms = provider.algorithms() if provider else []
            report["count"] = len(algorithms)
            if os.environ.get("TW_ONLY_MESSAGES"):
                return
            from qgis.utils import plugins
            from processing.gui.AlgorithmDialog import AlgorithmDialog
            from processing.modeler.ModelerDialog import ModelerDialog

            iface.mainWindow().resize(1280, 860)
            toolbox = plugins["processing"].toolbox
            toolbox.show()
            toolbox.searchBox.setText("tilewise")
            settle()
            shoot(iface.mainWindow(), "toolbox.png")
            from processing.gui.ConfigDialog import ConfigDialog
            options = ConfigDialog()
            providers = options.model.findItems("Providers")[0]
            for row in range(providers.rowCount()):
                group = providers.child(row, 0)
                if group.text() == "Tilewise":
                    report["options"] = [group.child(r, 0).text()
                                         for r in range(group.rowCount())]
                    options.tree.expand(options.model.indexFromItem(providers))
                    options.tree.expand(options.model.indexFromItem(group))
            options.resize(900, 600)
            options.show()
            shoot(options, "options_providers_tilewise.png")
            options.close()
            for alg in algorithms:
                if isinstance(alg, QgsProcessingModelAlgorithm):
                    continue
                entry = report["dialogs"][alg.id()] = {}
                try:
                    dialog = AlgorithmDialog(alg.create(), parent=iface.mainWindow())
                    dialog.show()
                    settle(3)
                    wrappers = dialog.mainWidget().wrappers
                    entry["missing"] = [p.name() for p in alg.parameterDefinitions()
                                        if p.name() not in wrappers
                                        or wrappers[p.name()] is None]
                    button = dialog.buttonBox().button(QDialogButtonBox.Help)
                    entry["help"] = button is not None and button.isEnabled()
                    if alg.name() == "fillnodata":
                        dialog.resize(900, 640)
                        shoot(dialog, "dialog_fillnodata.png")
                    dialog.close()
                    dialog.deleteLater()
                except Exception:
                    entry["error"] = traceback.format_exc()
            for alg in algorithms:
                if not isinstance(alg, QgsProcessingModelAlgorithm):
                    continue
                entry = report["models"][alg.id()] = {}
                try:
                    dialog = ModelerDialog.create(alg.create())
                    dialog.show()
                    dialog.resize(1100, 700)
                    settle()
                    entry["validate"] = list(dialog.model().validate()[1])
                    entry["items"] = len(dialog.view().scene().items())
                    if alg.name() == "seed_pipeline":
                        view = dialog.view()
                        rect = view.scene().itemsBoundingRect().adjusted(-40, -40, 40, 40)
                        view.fitInView(rect, Qt.KeepAspectRatio)
                        shoot(dialog, "modeler_seed_pipeline.png")
                    dialog.setDirty(False) if hasattr(dialog, "setDirty") else None
                    dialog.close()
                except Exception:
                    entry["error"] = traceback.format_exc()
        except Exception:
            report["error"] = traceback.format_exc()
        finally:
            with open(os.environ["TW_REPORT"], "w") as handle:
                json.dump(report, handle)
            QTimer.singleShot(0, iface.actionExit().trigger)

    QTimer.singleShot(500, run)
''')


def run_desktop(tmp_path, plugin_parent_dir, img="", block=""):
    profile = tmp_path / "profile" / "profiles" / "default" / "QGIS"
    profile.mkdir(parents=True)
    (profile / "QGIS3.ini").write_text("[PythonPlugins]\ntilewise=true\n")
    (tmp_path / "script.py").write_text(SCRIPT)
    env = {**os.environ, "QGIS_PLUGINPATH": str(plugin_parent_dir),
           "QGIS_CUSTOM_CONFIG_PATH": str(tmp_path / "profile"),
           "TW_REPORT": str(tmp_path / "report.json"), "TW_IMG": str(img),
           "XDG_RUNTIME_DIR": str(tmp_path)}
    if block:
        env.update(PYTHONPATH=str(qh.REPO_ROOT / "tests" / "qgis" / "blocker"),
                   TILEWISE_TEST_BLOCK=block, TW_ONLY_MESSAGES="1")
    env.pop("QT_QPA_PLATFORM", None)  # the desktop needs a (virtual) display
    done = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x900x24", "qgis", "--nologo",
                           "--noversioncheck", "--code", str(tmp_path / "script.py")],
                          env=env, capture_output=True, text=True, timeout=600)
    assert (tmp_path / "report.json").exists(), done.stdout + done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert "error" not in report, report["error"]
    return report


def test_dialogs_modeler_and_screenshots(tmp_path, plugin_parent_dir):
    IMG.mkdir(parents=True, exist_ok=True)
    report = run_desktop(tmp_path, plugin_parent_dir, img=IMG)
    assert not any("Tilewise" in m for m in report["messages"]), report["messages"]
    assert len(report["dialogs"]) == ALGORITHMS
    for algorithm_id, entry in report["dialogs"].items():
        assert "error" not in entry, (algorithm_id, entry["error"])
        assert entry["missing"] == [], (algorithm_id, entry["missing"])
        assert entry["help"], f"{algorithm_id}: the Help button is disabled"
    assert set(report["models"]) >= {"tilewise:seed_pipeline", "tilewise:ndvi_smoothing",
                                     "tilewise:dem_terrain"}
    for model_id, entry in report["models"].items():
        assert "error" not in entry, (model_id, entry["error"])
        assert entry["validate"] == [] and entry["items"] > 3, (model_id, entry)
    from tilewise.provider import settings

    # Processing > Options > Providers > Tilewise lists every setting (sorted by the dialog)
    assert sorted(report["options"]) == sorted(description for description, _, _ in
                                               settings.SETTINGS.values())
    for name in ("toolbox.png", "dialog_fillnodata.png", "modeler_seed_pipeline.png",
                 "options_providers_tilewise.png"):
        assert (IMG / name).stat().st_size > 10000, name  # a real picture, not an empty grab


def test_missing_dependency_shows_one_message_in_the_message_bar(tmp_path, plugin_parent_dir):
    report = run_desktop(tmp_path, plugin_parent_dir, block="scipy")
    tilewise = [m for m in report["messages"] if "Tilewise needs" in m]
    assert len(tilewise) == 1, report["messages"]
    assert "python3-scipy" in tilewise[0] and "OSGeo4W" in tilewise[0]
    assert report["count"] == 0  # the provider is there, without algorithms that cannot run
