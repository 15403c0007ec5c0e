"""The advanced parameters every Tilewise algorithm shares (WORKERS, TILE_SIZE, MEMORY and, for
raster outputs, OPTIONS and COG) and what a run makes of them: the memory budget, the COG
driver, streaming file to file. Used by the base (``.base``) and by ``tilewise:pipeline``."""

from qgis.core import (QgsProcessingParameterBoolean,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..engine import env_choice


def cog_available():
    """True when GDAL has the COG driver (GDAL >= 3.1)."""
    from osgeo import gdal

    return gdal.GetDriverByName("COG") is not None


# The help shared by every algorithm (advanced parameters, tiling, performance) is one section,
# "Performance and tiling", in .help (the page performance.html); see help_string there.


def advanced_parameters(alg, raster_output=True):
    """WORKERS, TILE_SIZE, MEMORY and, for raster outputs, OPTIONS and COG of ``alg``.

    Optional with defaults, so that models need not set them (the modeler flags every
    mandatory parameter a step leaves unset). WORKERS' default is the provider setting
    (Processing > Options > Providers > Tilewise), read when the algorithm is created.
    """
    from ..provider.settings import default_workers

    workers = QgsProcessingParameterNumber(
        "WORKERS", alg.tr("Workers (0 = all CPU cores)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=default_workers(),
        optional=True, minValue=0)
    tile_size = QgsProcessingParameterNumber(
        "TILE_SIZE", alg.tr("Tile size in pixels (0 = automatic)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=0, optional=True, minValue=0)
    memory = QgsProcessingParameterNumber(
        "MEMORY", alg.tr("Memory budget in MiB (0 = the provider setting, else a quarter of "
                         "RAM)"),
        type=QgsProcessingParameterNumber.Integer, defaultValue=0, optional=True, minValue=0)
    if not raster_output:
        return [workers, tile_size, memory]
    options = QgsProcessingParameterString(
        "OPTIONS", alg.tr("Additional creation options"), defaultValue="", optional=True)
    options.setMetadata({"widget_wrapper": {
        "class": "processing.algs.gdal.ui.RasterOptionsWidget.RasterOptionsWidgetWrapper"}})
    cog = QgsProcessingParameterBoolean(
        "COG", alg.tr("Write a Cloud Optimized GeoTIFF (COG)"), defaultValue=False,
        optional=True)
    return [workers, tile_size, memory, options, cog]


def memory_budget(alg, parameters, context):
    """MEMORY in MiB, else the provider's memory setting; None for the engine's default."""
    value = None
    if alg.parameterDefinition("MEMORY") is not None and \
            parameters.get("MEMORY") not in (None, ""):
        value = alg.parameterAsDouble(parameters, "MEMORY", context)
    if not value:
        from ..provider.settings import memory_budget_mb
        value = memory_budget_mb()
    return value or None


def streams_from(eng, paths):
    """Does a run reading the files ``paths`` stream them (engine.execution.stream)? Yes, unless one
    is in the shared-memory cache (a model's intermediate: read from memory, not decoded
    again); TILEWISE_STREAM=0 or 1 forces the answer."""
    mode = env_choice("TILEWISE_STREAM", "auto", ("auto", "0", "1"))
    if mode != "auto" or eng.cache is None:
        return mode != "0"
    return not any(eng.cache.holds(path) for path in paths)


def engine_memory_budget(megabytes):
    """The Engine's ``memory_budget`` for a budget in MiB (None: the engine's default)."""
    return int(megabytes * 2**20) if megabytes else None
