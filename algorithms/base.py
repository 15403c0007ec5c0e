"""Shared base of the Tilewise algorithms: identity, parameters, engine run, outputs, errors.

Subclasses declare who they are (``ID``, ``DISPLAY_NAME``, ``GROUP``, ``TAGS``,
``OUTPUT_LABEL``: ``AlgorithmIdentity``), their parameters (``initParameters``), help
(``helpText``), extra checks (``parameterErrors``) and the engine step (``engineStep``). The
parameter checks live in :mod:`.checks` (a mixin), the advanced parameters in :mod:`.advanced`.
Layers are resolved to file paths in ``prepareAlgorithm`` (main thread); ``processAlgorithm``
may run in a worker thread and only talks to the engine and the feedback.

Raster inputs (``RASTER_INPUTS``) are single raster layers or multiple-layer parameters (their
layers are engine inputs in the order given). An algorithm with ``RASTER_OUTPUT = False``
(statistics, the vector algorithms) has no OUTPUT raster, OPTIONS or COG: it overrides
``runEngine`` and ``writeResults`` and declares its own outputs in ``initOutputs``.
"""

import os
from itertools import chain

from qgis.core import (QgsProcessingAlgorithm,
                       QgsProcessingException,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine import (Cancelled, Engine, InputError, TilewiseError, default_cache, default_session,
                      parse_options)
# re-exported: tilewise:pipeline takes them from here
from .advanced import (advanced_parameters, cog_available, engine_memory_budget,  # noqa: F401
                       memory_budget, streams_from)
from .boundary import ErrorBoundary
from .checks import (OUTPUT_EXTENSIONS, UNSUPPORTED_DATA_TYPES, ParameterChecks,  # noqa: F401
                     file_path)
from .feedback import FeedbackBridge
from .help import help_string, help_url

ICON_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icon.svg")

#: group id -> toolbox group name
GROUPS = {
    "smoothing": "Smoothing",
    "focalstatistics": "Focal statistics",
    "morphology": "Morphology",
    "edges": "Edges and derivatives",
    "terrain": "Terrain",
    "bandmath": "Band math",
    "statistics": "Statistics",
    "nodata": "Nodata",
    "custom": "Custom",
    "pipelines": "Pipelines",
    "vectors": "Vectors",
}


class AlgorithmIdentity:
    """What a Tilewise algorithm says about itself, from class attributes: ``ID`` (its name),
    ``DISPLAY_NAME``, ``GROUP`` (a key of ``GROUPS``), ``TAGS`` (comma-separated); and what
    every Tilewise algorithm shares: the icon, the help (``helpText``, by ``.help``), no short
    description, a new instance of its own class, translations in its class's context. A
    mixin before ``QgsProcessingAlgorithm`` (tilewise:pipeline can take it too)."""

    ID = None
    DISPLAY_NAME = None
    GROUP = None
    TAGS = ""

    def createInstance(self):
        return type(self)()

    def tr(self, string):
        return QCoreApplication.translate(type(self).__name__, string)

    def name(self):
        return self.ID

    def displayName(self):
        return self.tr(self.DISPLAY_NAME)

    def group(self):
        return self.tr(GROUPS[self.GROUP])

    def groupId(self):
        return self.GROUP

    def tags(self):
        return [tag for tag in self.tr(self.TAGS).split(",") if tag]

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):
        return ICON_PATH

    def shortDescription(self):
        # empty, as GDAL's algorithms: qgis_process help prints shortDescription and then
        # shortHelpString, and the dialog shows only shortHelpString, which starts with it
        return ""

    def shortHelpString(self):
        return help_string(self)

    def helpUrl(self):
        """The algorithm's help page, a local file written on demand (the dialog's Help button)."""
        return help_url(self)


class TilewiseAlgorithm(AlgorithmIdentity, ErrorBoundary, ParameterChecks,
                        QgsProcessingAlgorithm):
    """Base of the Tilewise algorithms (in the style of QGIS's GdalAlgorithm)."""

    INPUT = "INPUT"
    BAND = "BAND"
    OUTPUT = "OUTPUT"
    WORKERS = "WORKERS"
    TILE_SIZE = "TILE_SIZE"
    MEMORY = "MEMORY"
    OPTIONS = "OPTIONS"
    COG = "COG"

    #: raster parameters handed to the engine (opened in this order); optional ones may be empty
    RASTER_INPUTS = (INPUT,)

    #: False for algorithms whose results are not one raster (statistics, vectors)
    RASTER_OUTPUT = True

    #: label of the OUTPUT raster parameter
    OUTPUT_LABEL = ""

    #: engine parameter name -> QGIS parameter name, to name the culprit of an ``InputError``
    ENGINE_PARAMETERS = {
        "path": INPUT,
        "inputs": INPUT,
        "band": BAND,
        "workers": WORKERS,
        "tile_size": TILE_SIZE,
        "memory": MEMORY,
        "options": OPTIONS,
        "output": OUTPUT,
    }

    #: QGIS parameter blamed for engine parameters not in ENGINE_PARAMETERS (None: none)
    OTHER_ENGINE_PARAMETERS = None

    def __init__(self):
        super().__init__()
        self._sources = {}  # raster input parameter name -> file path (list for multiple layers)
        self._output = None
        self._options = []
        self._driver = "GTiff"

    # --- subclass interface -------------------------------------------------------------------

    def initParameters(self):
        """Add the algorithm's own parameters (the common ones are added by the base)."""
        raise NotImplementedError

    def initOutputs(self):
        """Add outputs other than the OUTPUT raster (after the advanced parameters)."""

    def outputDescription(self):
        """Label of the OUTPUT parameter."""
        return self.tr(self.OUTPUT_LABEL)

    def helpText(self):
        """What the algorithm does and its own parameters, one paragraph per line."""
        raise NotImplementedError

    def parameterErrors(self, parameters, context):
        """Yield ``(parameter name, message)`` for invalid values the widgets cannot catch."""
        return ()

    def engineStep(self, parameters, context):
        """What this algorithm asks of the engine: ``(filter, raster parameter names, params)``.

        The names are the raster input parameters the filter reads, in its input order (empty
        optional ones left out); a multiple-layer parameter stands for all its layers, in
        order. ``tilewise:pipeline`` chains algorithms through this.
        """
        raise NotImplementedError

    def engineOps(self, parameters, context):
        """The filters and reducers ``runEngine`` will run (the engine starts worker processes
        early, while the inputs are read, when one of them needs them)."""
        return [self.engineStep(parameters, context)[0]]

    def runEngine(self, eng, rasters, parameters, context, bridge):
        """Run the engine on ``rasters`` (parameter name -> SharedRaster, or a list of them for
        a multiple-layer parameter); return the result."""
        filter_, names, params = self.engineStep(parameters, context)
        return eng.apply(filter_, self.engineInputs(rasters, names), **params)

    def writeResults(self, eng, result, parameters, context, feedback):
        """Write ``result`` (what ``runEngine`` returned); return the algorithm's outputs."""
        feedback.setProgressText(self.tr("Writing {}").format(self._output))
        eng.write(result, self._output, options=self._options, driver=self._driver)
        return {self.OUTPUT: self._output}

    # --- QgsProcessingAlgorithm ---------------------------------------------------------------

    def initAlgorithm(self, config=None):
        self.initParameters()
        for parameter in self._advancedParameters():
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        if self.RASTER_OUTPUT:
            self.addParameter(QgsProcessingParameterRasterDestination(
                self.OUTPUT, self.outputDescription()))
        self.initOutputs()

    def checkParameterValues(self, parameters, context):
        # QGIS 3.22 rejects a missing band parameter even when it has a default value (e.g.
        # "qgis_process run ... -- INPUT=x OUTPUT=y"); check defaults as if they were given.
        parameters = {**{p.name(): p.defaultValue() for p in self.parameterDefinitions()
                         if p.defaultValue() is not None}, **parameters}
        for name, problem in chain(self._numberErrors(parameters, context),
                                   self._unloadableInputs(parameters, context)):
            return False, self.parameterError(name, problem)
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        for name, problem in self._allErrors(parameters, context):
            return False, self.parameterError(name, problem)
        return True, ""

    def prepareAlgorithm(self, parameters, context, feedback):
        # Runs in the main thread: resolve layers to paths here, not in processAlgorithm (the
        # output, though, is resolved there: see processAlgorithm).
        # The checks run again: model children and pipelines may skip checkParameterValues.
        for name, problem in chain(self._unloadableInputs(parameters, context),
                                   self._allErrors(parameters, context)):
            raise QgsProcessingException(self.parameterError(name, problem))
        self._sources = {}
        for name, layer in self.rasterLayers(parameters, context).items():
            self._sources[name] = ([file_path(item) for item in layer]
                                   if isinstance(layer, list) else file_path(layer))
        if self.RASTER_OUTPUT:
            self._options = parse_options(self.parameterAsString(parameters, self.OPTIONS,
                                                                 context))
            self._driver = self._outputDriver(parameters, context)
        return True

    def processAlgorithm(self, parameters, context, feedback):
        if self.RASTER_OUTPUT:
            # Resolved here, on the context the run's results come from: the dialog runs this
            # in a task with a context of its own, and only that context's layers to load
            # (which parameterAsOutputLayer registers) reach the project.
            self._output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        bridge = FeedbackBridge(feedback)
        workers = self.parameterAsInt(parameters, self.WORKERS, context)
        tile_size = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        memory_mb = self.memoryBudget(parameters, context)
        bridge.debug("Tilewise: workers={}, tile_size={}, memory={} MiB, driver={}, creation "
                     "options={}".format(workers, tile_size, memory_mb or "default",
                                         self._driver, self._options))
        try:
            with Engine(workers=workers, tile_size=tile_size, progress=bridge.progress,
                        cancel=bridge.cancel, log=bridge.log,
                        memory_budget=engine_memory_budget(memory_mb),
                        cache=default_cache(),  # None when TILEWISE_CACHE=0
                        session=default_session()) as eng:
                if self.streams(eng, parameters, context):
                    filter_, names, params = self.engineStep(parameters, context)
                    feedback.setProgressText(self.tr("Reading, processing and writing by "
                                                     "strips"))
                    sources = [path for name in names for path in (
                        self._sources[name] if isinstance(self._sources[name], list)
                        else [self._sources[name]])]
                    eng.stream(filter_, sources, [self._output], options=self._options,
                               driver=self._driver, **params)
                    return {self.OUTPUT: self._output}
                eng.prepare(*self.engineOps(parameters, context))
                feedback.setProgressText(self.tr("Reading input rasters"))
                rasters = {name: ([self._open(eng, name, item) for item in path]
                                  if isinstance(path, list) else self._open(eng, name, path))
                           for name, path in self._sources.items()}
                feedback.setProgressText(self.tr("Processing tiles"))
                result = self.runEngine(eng, rasters, parameters, context, bridge)
                return self.writeResults(eng, result, parameters, context, feedback)
        except Cancelled:
            feedback.pushInfo(self.tr("Canceled: no output was written."))
            return {}
        except InputError as error:
            raise QgsProcessingException(self._engineInputError(error))
        except TilewiseError as error:
            raise QgsProcessingException(str(error))

    # --- helpers ------------------------------------------------------------------------------

    def memoryBudget(self, parameters, context):
        return memory_budget(self, parameters, context)

    def streams(self, eng, parameters, context):
        """Does this run go file to file by strips (engine.execution.stream)? Yes for one filter
        writing one raster, unless an input is in the shared-memory cache (a model's
        intermediate: read from memory, not decoded again), or TILEWISE_STREAM=0."""
        if not self.RASTER_OUTPUT or type(self).runEngine is not TilewiseAlgorithm.runEngine:
            return False
        return streams_from(eng, [path for value in self._sources.values()
                                  for path in (value if isinstance(value, list) else [value])])

    def engineInputs(self, rasters, names):
        """The engine inputs for raster parameter ``names``, multiple-layer lists flattened."""
        inputs = []
        for name in names:
            value = rasters[name]
            inputs.extend(value if isinstance(value, list) else [value])
        return inputs

    def engineParameterName(self, param):
        """The QGIS parameter an engine ``InputError.param`` stands for."""
        name = self.ENGINE_PARAMETERS.get(param)
        if name is None and self.OTHER_ENGINE_PARAMETERS is not None:
            name = self.OTHER_ENGINE_PARAMETERS
        return name if name is not None else param

    def addInputParameters(self, all_bands=False):
        """Add INPUT (raster) and BAND; with ``all_bands`` BAND is optional, empty = all bands."""
        self.addParameter(QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input layer")))
        if all_bands:
            band = QgsProcessingParameterBand(
                self.BAND, self.tr("Band number (empty = all bands)"),
                parentLayerParameterName=self.INPUT, optional=True)
        else:
            band = QgsProcessingParameterBand(
                self.BAND, self.tr("Band number"), 1, parentLayerParameterName=self.INPUT)
        self.addParameter(band)

    def _allErrors(self, parameters, context):
        """Every check after QGIS's own, in order; the first problem wins."""
        checks = [self._inputErrors(parameters, context)]
        if self.RASTER_OUTPUT:
            checks.append(self._cogErrors(parameters, context))
            checks.append(self._rasterOutputErrors(
                parameters, context, self.parameterAsFileOutput(parameters, self.OUTPUT, context),
                self._outputDriver(parameters, context)))
        checks += [self._bandErrors(parameters, context),
                   self.parameterErrors(parameters, context)]
        if self.RASTER_OUTPUT:
            checks.append(self._engineErrors(parameters, context))
        return chain(*checks)

    def _outputDriver(self, parameters, context):
        if self.RASTER_OUTPUT and self.parameterDefinition(self.COG) is not None and \
                self.parameterAsBoolean(parameters, self.COG, context):
            return "COG"
        return "GTiff"

    def _advancedParameters(self):
        return advanced_parameters(self, self.RASTER_OUTPUT)

    def _cogErrors(self, parameters, context):
        """COG asked for but GDAL has no COG driver."""
        if self._outputDriver(parameters, context) == "COG" and not cog_available():
            yield self.COG, self.tr("this GDAL has no COG driver (GDAL 3.1 or later needed)")

    def _open(self, eng, name, path):
        try:
            return eng.open(path)
        except InputError as error:
            raise QgsProcessingException(self.parameterError(name, error.message))

    def _engineInputError(self, error):
        name = self.engineParameterName(error.param)
        if self.parameterDefinition(name) is None:
            return self.tr("Invalid input ({}): {}").format(error.param, error.message)
        return self.parameterError(name, error.message)
