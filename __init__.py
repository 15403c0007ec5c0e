"""Tilewise QGIS plugin.

Importing this package must never import qgis: worker processes import ``tilewise.engine``,
which imports this package first. Hence the lazy import in ``classFactory``.
"""


def classFactory(iface):
    """Entry point called by QGIS (and qgis_process) to load the plugin."""
    from .plugin import TilewisePlugin

    return TilewisePlugin(iface)
