"""The Tilewise Processing provider."""

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from ..algorithms import ALGORITHMS, ICON_PATH


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

    def loadAlgorithms(self):
        for algorithm_class in ALGORITHMS:
            self.addAlgorithm(algorithm_class())

    def supportedOutputRasterLayerExtensions(self):
        return ["tif", "tiff"]

    def defaultRasterFileExtension(self):
        return "tif"

    def supportsNonFileBasedOutput(self):
        return False
