"""The Tilewise Processing provider: the algorithms, plus the example models of resources/models."""

import glob
import os

from qgis.core import (Qgis, QgsMessageLog, QgsProcessingModelAlgorithm, QgsProcessingProvider,
                       QgsSettings)
from qgis.PyQt.QtGui import QIcon

from ..algorithms import ALGORITHMS, ICON_PATH

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "resources", "models")

#: QgsSettings key: budget of the shared-memory cache of written rasters, in MiB (0 = off).
#: Read when the provider loads; the environment variables TILEWISE_CACHE and
#: TILEWISE_CACHE_MB, when set, take precedence.
CACHE_SETTING = "tilewise/cache_mb"


def apply_cache_setting(settings=None):
    """Turn the ``tilewise/cache_mb`` setting into the engine's environment variables.

    Returns what was applied: None (nothing set, or the environment decides), 0 (off) or the
    budget in MiB.
    """
    if "TILEWISE_CACHE" in os.environ or "TILEWISE_CACHE_MB" in os.environ:
        return None
    value = (settings or QgsSettings()).value(CACHE_SETTING, None)
    if value in (None, ""):
        return None
    try:
        megabytes = float(value)
    except (TypeError, ValueError):
        QgsMessageLog.logMessage(f"Tilewise: ignoring {CACHE_SETTING}={value!r}: not a number",
                                 "Tilewise", Qgis.Warning)
        return None
    if megabytes <= 0:
        os.environ["TILEWISE_CACHE"] = "0"
        return 0
    os.environ["TILEWISE_CACHE_MB"] = format(megabytes, "g")
    return megabytes


class TilewiseProvider(QgsProcessingProvider):
    """Provider ``tilewise``: tiled, multi-core raster algorithms writing GeoTIFF files."""

    def id(self):
        return "tilewise"

    def name(self):
        return "Tilewise"

    def longName(self):
        return self.tr("Tilewise (tiled, multi-core raster filters)")

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):
        return ICON_PATH

    def load(self):
        apply_cache_setting()
        return super().load()

    def unload(self):
        """Free the shared-memory cache and stop the session's worker processes (qgis_process
        and QGIS call this when they exit)."""
        from ..engine.cache import clear_default_cache
        from ..engine.session import close_default_session

        clear_default_cache()
        close_default_session()
        super().unload()

    def loadAlgorithms(self):
        for algorithm_class in ALGORITHMS:
            self.addAlgorithm(algorithm_class())
        self.loadModels()

    def loadModels(self, folder=MODELS_DIR):
        """Add each ``*.model3`` of ``folder``; a file that does not load is skipped with a
        warning in the log (Tilewise tab) and the others still load."""
        for path in sorted(glob.glob(os.path.join(folder, "*.model3"))):
            model = QgsProcessingModelAlgorithm()
            problem = None
            try:
                if not model.fromFile(path):
                    problem = "not a valid model file"
                elif not model.name():
                    problem = "the model has no name"
                elif not self.addAlgorithm(model):
                    problem = f"another algorithm is already called tilewise:{model.name()}"
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
