"""QGIS plugin object: registers the Tilewise Processing provider."""

from qgis.core import QgsApplication

from .provider import TilewiseProvider


class TilewisePlugin:
    """Registers the provider; needs no GUI, so ``iface`` may be None (qgis_process)."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None

    def initProcessing(self):
        """Called by QGIS (also by qgis_process) to register the Processing provider."""
        if self.provider is None:
            self.provider = TilewiseProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
