"""QGIS plugin object: registers the Tilewise Processing provider.

When numpy, scipy or rasterio is missing or too old, the plugin still loads: the provider is
registered without algorithms (its settings stay reachable) and ONE message says what to
install, in QGIS's message bar and log (desktop) or in the log, which qgis_process prints.
"""

from qgis.core import Qgis, QgsApplication, QgsMessageLog

from . import deps
from .provider import TilewiseProvider
from .provider.provider import dependency_problems


class TilewisePlugin:
    """Registers the provider; needs no GUI, so ``iface`` may be None (qgis_process)."""

    def __init__(self, iface):
        self.iface = iface
        self.provider = None
        self._told = False

    def initProcessing(self):
        """Called by QGIS (also by qgis_process) to register the Processing provider."""
        if self.provider is None:
            self.provider = TilewiseProvider()
            if QgsApplication.processingRegistry().addProvider(self.provider):
                # the models' steps are found in the registry only now
                self.provider.refreshAlgorithms()
            self.reportMissingDependencies()

    def initGui(self):
        self.initProcessing()

    def reportMissingDependencies(self):
        """Show the one message about missing dependencies (once per plugin object)."""
        problems = dependency_problems()
        if not problems or self._told:
            return
        self._told = True
        text = deps.message(problems)
        # qgis_process prints the log on stderr; the desktop also gets a message bar
        QgsMessageLog.logMessage(text, "Tilewise", Qgis.Critical)
        if self.iface is not None:
            self.iface.messageBar().pushMessage("Tilewise", text, Qgis.Critical, 0)

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
