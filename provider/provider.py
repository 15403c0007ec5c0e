"""The Tilewise Processing provider: the algorithms, plus the example models of resources/models.

Its settings (Processing → Options → Providers → Tilewise) are in :mod:`.settings`. When a
Python dependency is missing (:mod:`tilewise.deps`), the provider registers no algorithm, and
the plugin shows what to install; nothing here imports numpy before that check.
"""

import glob
import os
import sys

from qgis.core import (Qgis, QgsApplication, QgsMessageLog, QgsProcessingModelAlgorithm,
                       QgsProcessingProvider)
from qgis.PyQt.QtGui import QIcon

from . import settings
from .settings import ICON_PATH

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS_DIR = os.path.join(PLUGIN_DIR, "resources", "models")

_dependency_problems = None


def dependency_problems():
    """What :func:`tilewise.deps.missing` reports, computed once per process."""
    global _dependency_problems
    if _dependency_problems is None:
        from .. import deps

        _dependency_problems = deps.missing()
    return _dependency_problems


class ShippedModel(QgsProcessingModelAlgorithm):
    """A model of resources/models: its id is the file name (``tilewise:seed_pipeline``), so
    that commands keep working, while the toolbox shows the model's own (human) name."""

    def __init__(self, path=None, model_id=None):
        super().__init__()
        self._path = path
        self._id = model_id

    def name(self):
        return self._id or super().name()

    def displayName(self):
        return super().name()

    def createInstance(self):
        instance = ShippedModel(self._path, self._id)
        instance.loadVariant(self.toVariant())
        instance.setSourceFilePath(self.sourceFilePath())
        return instance


class TilewiseProvider(QgsProcessingProvider):
    """Provider ``tilewise``: tiled, multi-core raster algorithms writing GeoTIFF files."""

    def id(self):
        return "tilewise"

    def name(self):
        return settings.PROVIDER_NAME

    def longName(self):
        return self.tr("Tilewise (tiled, multi-core raster filters)")

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):
        return ICON_PATH

    def load(self):
        settings.register()
        settings.apply_environment()
        return super().load()

    def unload(self):
        """Remove the settings, free the shared-memory cache and stop the session's worker
        processes and script host (qgis_process and QGIS call this when they exit)."""
        settings.unregister()
        if "tilewise.engine" in sys.modules:  # never imported when numpy is missing
            from ..engine import clear_default_cache, close_default_host, close_default_session

            clear_default_cache()
            close_default_session()
            close_default_host()
        super().unload()

    def isActive(self):
        return settings.value(settings.ACTIVATE)

    def setActive(self, active):
        settings.set_value(settings.ACTIVATE, bool(active))

    def loadAlgorithms(self):
        settings.apply_environment()  # the Options dialog refreshes the providers on OK
        if dependency_problems():
            return  # the plugin says what to install; no algorithm that cannot run
        from ..algorithms import ALGORITHMS

        for algorithm_class in ALGORITHMS:
            self.addAlgorithm(algorithm_class())
        if QgsApplication.processingRegistry().providerById(self.id()) is self:
            # the models' steps are looked up in the registry: only once this provider is in
            # it (the plugin refreshes the provider right after adding it)
            self.loadModels()

    def loadModels(self, folder=MODELS_DIR):
        """Add each ``*.model3`` of ``folder`` as ``tilewise:<file name>``; a file that does not
        load, or whose steps are unknown, is skipped with a warning in the log (Tilewise tab)
        and the others still load."""
        for path in sorted(glob.glob(os.path.join(folder, "*.model3"))):
            model_id = os.path.splitext(os.path.basename(path))[0]
            model = ShippedModel(path, model_id)
            problem = None
            try:
                if not model.fromFile(path):
                    problem = "not a valid model file"
                elif not QgsProcessingModelAlgorithm.name(model):
                    problem = "the model has no name"
                else:
                    unknown = sorted(child.algorithmId()
                                     for child in model.childAlgorithms().values()
                                     if child.algorithm() is None)
                    if unknown:
                        problem = "unknown algorithm(s) " + ", ".join(unknown)
                    else:
                        model.setSourceFilePath(path)
                        if not self.addAlgorithm(model):
                            problem = f"another algorithm is already called tilewise:{model_id}"
            except Exception as error:  # noqa: BLE001 - a broken file must not stop the rest
                problem = str(error)
            if problem:
                QgsMessageLog.logMessage(
                    f"Tilewise: skipped the model {path}: {problem}", "Tilewise", Qgis.Warning)

    def supportedOutputRasterLayerExtensions(self):
        return ["tif", "tiff"]

    def defaultRasterFileExtension(self):
        return "tif"

    def supportsNonFileBasedOutput(self):
        return False
