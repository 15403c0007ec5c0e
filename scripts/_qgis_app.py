"""A headless QgsApplication with the checkout registered as the plugin ``tilewise``, for the
scripts that need its provider (scripts/build_help.py, resources/models/build_*.py):

    with qgis_app("tilewise-models"):
        ...  # QgsApplication.processingRegistry().providerById("tilewise") is there

The checkout is imported as ``tilewise`` through a symlink in a temporary folder, QGIS runs in
a temporary profile; both are removed on exit. Run with QGIS's Python (/usr/bin/python3).
"""

import contextlib
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextlib.contextmanager
def qgis_app(prefix="tilewise"):
    """Start QGIS and the plugin's provider; yields the plugin (kept alive meanwhile)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parent = tempfile.mkdtemp(prefix=prefix + "-")
    profile = tempfile.mkdtemp(prefix=prefix + "-profile-")
    os.symlink(REPO, os.path.join(parent, "tilewise"))
    sys.path.insert(0, parent)
    try:
        from qgis.core import QgsApplication

        QgsApplication.setPrefixPath("/usr", True)
        app = QgsApplication([], False, profile)
        app.initQgis()
        from tilewise import classFactory

        plugin = classFactory(None)
        plugin.initProcessing()
        try:
            yield plugin
        finally:
            plugin.unload()
            app.exitQgis()
    finally:
        sys.path.remove(parent)
        shutil.rmtree(parent, True)  # the link, not the checkout
        shutil.rmtree(profile, True)
