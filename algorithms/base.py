"""Shared base of the Tilewise algorithms: parameters, engine run, error mapping.

Subclasses only declare their parameters (``initParameters``), extra checks
(``parameterErrors``) and the engine step (``runEngine``). Layers are resolved to file paths in
``prepareAlgorithm`` (main thread); ``processAlgorithm`` may run in a worker thread and only
talks to the engine and the feedback.
"""

import os
from itertools import chain

from qgis.core import (Qgis,
                       QgsProcessingAlgorithm,
                       QgsProcessingException,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine import (Cancelled, Engine, InputError, TilewiseError, check_options,
                      parse_options)
from .feedback import FeedbackBridge

ICON_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "resources", "icon.svg")

OUTPUT_EXTENSIONS = (".tif", ".tiff")

#: raster data types the engine has no numpy counterpart for (complex, colour)
UNSUPPORTED_DATA_TYPES = {Qgis.CInt16: "CInt16", Qgis.CInt32: "CInt32", Qgis.CFloat32: "CFloat32",
                          Qgis.CFloat64: "CFloat64", Qgis.ARGB32: "ARGB32",
                          Qgis.ARGB32_Premultiplied: "ARGB32_Premultiplied"}

COMMON_HELP = """\
Advanced parameters:
WORKERS: number of worker processes. 0 (default) uses all CPU cores; 1 runs the tiles in the \
QGIS process itself, without worker processes.
TILE_SIZE: side of the square tiles the raster is split into, in pixels. 0 (default) picks a \
size automatically.
OPTIONS: GDAL GeoTIFF creation options, KEY=VALUE pairs separated by |, e.g. \
COMPRESS=DEFLATE|PREDICTOR=2|TILED=YES.
Tiling guarantee: the output is identical, bit for bit, whatever the number of workers and the \
tile size; tiles read the margin they need from their neighbours.
Performance: the input is read once into shared memory and the workers read it from there, so \
the memory needed is about the size of the input plus the output (uncompressed). Worker \
processes take a moment to start: for small rasters, WORKERS=1 is often fastest.
Input rasters must be files readable by GDAL (the 'gdal' data provider); the output is a \
GeoTIFF file."""


class TilewiseAlgorithm(QgsProcessingAlgorithm):
    """Base of the Tilewise algorithms (in the style of QGIS's GdalAlgorithm)."""

    INPUT = "INPUT"
    BAND = "BAND"
    OUTPUT = "OUTPUT"
    WORKERS = "WORKERS"
    TILE_SIZE = "TILE_SIZE"
    OPTIONS = "OPTIONS"

    #: raster parameters handed to the engine (opened in this order); optional ones may be empty
    RASTER_INPUTS = (INPUT,)

    #: engine parameter name -> QGIS parameter name, to name the culprit of an ``InputError``
    ENGINE_PARAMETERS = {
        "path": INPUT,
        "inputs": INPUT,
        "band": BAND,
        "workers": WORKERS,
        "tile_size": TILE_SIZE,
        "options": OPTIONS,
        "output": OUTPUT,
    }

    def __init__(self):
        super().__init__()
        self._sources = {}  # raster input parameter name -> file path, set by prepareAlgorithm
        self._output = None
        self._options = []

    # --- subclass interface -------------------------------------------------------------------

    def initParameters(self):
        """Add the algorithm's own parameters (the common ones are added by the base)."""
        raise NotImplementedError

    def outputDescription(self):
        """Label of the OUTPUT parameter."""
        raise NotImplementedError

    def helpText(self):
        """What the algorithm does and its own parameters, one paragraph per line."""
        raise NotImplementedError

    def parameterErrors(self, parameters, context):
        """Yield ``(parameter name, message)`` for invalid values the widgets cannot catch."""
        return ()

    def engineStep(self, parameters, context):
        """What this algorithm asks of the engine: ``(filter, raster parameter names, params)``.

        The names are the raster input parameters the filter reads, in its input order (empty
        optional ones left out). ``tilewise:pipeline`` chains algorithms through this.
        """
        raise NotImplementedError

    def runEngine(self, eng, rasters, parameters, context, bridge):
        """Run the engine on ``rasters`` (parameter name -> SharedRaster); return the result."""
        filter_, names, params = self.engineStep(parameters, context)
        return eng.apply(filter_, [rasters[name] for name in names], **params)

    # --- QgsProcessingAlgorithm ---------------------------------------------------------------

    def createInstance(self):
        return type(self)()

    def tr(self, string):
        return QCoreApplication.translate(type(self).__name__, string)

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):
        return ICON_PATH

    def shortDescription(self):
        return self.helpText().split("\n", 1)[0]

    def shortHelpString(self):
        return self.helpText() + "\n" + self.tr(COMMON_HELP)

    def initAlgorithm(self, config=None):
        self.initParameters()
        for parameter in self._advancedParameters():
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterRasterDestination(
            self.OUTPUT, self.outputDescription()))

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
        output = self.parameterAsFileOutput(parameters, self.OUTPUT, context)
        for name, problem in chain(self._inputErrors(parameters, context, output),
                                   self._bandErrors(parameters, context),
                                   self.parameterErrors(parameters, context)):
            return False, self.parameterError(name, problem)
        return True, ""

    def prepareAlgorithm(self, parameters, context, feedback):
        # Runs in the main thread: resolve layers to paths here, not in processAlgorithm.
        self._output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        for name, problem in self._inputErrors(parameters, context, self._output):
            raise QgsProcessingException(self.parameterError(name, problem))
        self._sources = {name: _file_path(layer)
                         for name, layer in self._rasterLayers(parameters, context).items()}
        self._options = parse_options(self.parameterAsString(parameters, self.OPTIONS, context))
        return True

    def processAlgorithm(self, parameters, context, feedback):
        bridge = FeedbackBridge(feedback)
        workers = self.parameterAsInt(parameters, self.WORKERS, context)
        tile_size = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        bridge.debug("Tilewise: workers={}, tile_size={}, creation options={}".format(
            workers, tile_size, self._options))
        try:
            with Engine(workers=workers, tile_size=tile_size, progress=bridge.progress,
                        cancel=bridge.cancel, log=bridge.log) as eng:
                feedback.setProgressText(self.tr("Reading input rasters"))
                rasters = {name: self._open(eng, name, path)
                           for name, path in self._sources.items()}
                feedback.setProgressText(self.tr("Processing tiles"))
                result = self.runEngine(eng, rasters, parameters, context, bridge)
                feedback.setProgressText(self.tr("Writing {}").format(self._output))
                eng.write(result, self._output, options=self._options)
        except Cancelled:
            feedback.pushInfo(self.tr("Canceled: no output was written."))
            return {}
        except InputError as error:
            raise QgsProcessingException(self._engineInputError(error))
        except TilewiseError as error:
            raise QgsProcessingException(str(error))
        return {self.OUTPUT: self._output}

    # --- helpers ------------------------------------------------------------------------------

    def parameterError(self, name, message):
        """Message naming parameter ``name`` (its label and its id) and what is wrong with it."""
        definition = self.parameterDefinition(name)
        label = definition.description() if definition is not None else name
        return self.tr("Invalid value for parameter '{}' ({}): {}").format(label, name, message)

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

    def _advancedParameters(self):
        workers = QgsProcessingParameterNumber(
            self.WORKERS, self.tr("Worker processes (0 = all CPU cores)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0)
        tile_size = QgsProcessingParameterNumber(
            self.TILE_SIZE, self.tr("Tile size in pixels (0 = automatic)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0)
        options = QgsProcessingParameterString(
            self.OPTIONS, self.tr("Additional creation options"), defaultValue="", optional=True)
        options.setMetadata({"widget_wrapper": {
            "class": "processing.algs.gdal.ui.RasterOptionsWidget.RasterOptionsWidgetWrapper"}})
        return [workers, tile_size, options]

    def _bandErrors(self, parameters, context):
        """Band numbers beyond the band count of their parent layer."""
        for definition in self.parameterDefinitions():
            if not isinstance(definition, QgsProcessingParameterBand):
                continue
            band = self.parameterAsInt(parameters, definition.name(), context)
            layer = self.parameterAsRasterLayer(
                parameters, definition.parentLayerParameterName(), context)
            if layer is None or (band == 0 and _is_optional(definition)):
                continue
            if not 1 <= band <= layer.bandCount():
                yield definition.name(), self.tr("band {} does not exist; the layer has {} band(s)"
                                                 ).format(band, layer.bandCount())

    def _rasterLayers(self, parameters, context):
        """Raster input parameter name -> layer (None if it cannot be loaded); empty optional
        inputs are left out."""
        layers = {}
        for name in self.RASTER_INPUTS:
            if _is_optional(self.parameterDefinition(name)) and not parameters.get(name):
                continue
            layers[name] = self.parameterAsRasterLayer(parameters, name, context)
        return layers

    def _unloadableInputs(self, parameters, context):
        """Raster inputs given as paths that do not load, with the reason (QGIS's own check
        says "not found" even when the file exists but is not a raster)."""
        for name in self.RASTER_INPUTS:
            value = parameters.get(name)
            if not isinstance(value, str) or not value.strip():
                continue
            if self.parameterAsRasterLayer(parameters, name, context) is not None:
                continue
            path = value.split("|")[0]
            if not os.path.exists(path):
                yield name, self.tr("no such file: {}").format(path)
            else:
                yield name, self.tr("'{}' is not a raster GDAL can read").format(path)

    def _inputErrors(self, parameters, context, output):
        """Inputs that are not GDAL files or hold data types the engine cannot handle; outputs
        that are not GeoTIFF, overwrite an input or cannot be written in their folder; creation
        options GDAL's GeoTIFF driver does not know (all before any work)."""
        layers = self._rasterLayers(parameters, context)
        for name, layer in layers.items():
            if layer is None:
                yield name, self.tr("could not load '{}' as a raster layer"
                                    ).format(parameters[name])
            elif layer.providerType() != "gdal":
                yield name, self.tr(
                    "layer '{}' uses the '{}' data provider; Tilewise needs a file-based GDAL "
                    "raster (save the layer as GeoTIFF first)"
                ).format(layer.name(), layer.providerType())
            else:
                types = {UNSUPPORTED_DATA_TYPES.get(layer.dataProvider().dataType(band))
                         for band in range(1, layer.bandCount() + 1)} - {None}
                if types:
                    yield name, self.tr(
                        "'{}' holds {} data; Tilewise handles 8-, 16- and 32-bit integers and "
                        "32- and 64-bit floating-point rasters").format(
                        _file_path(layer), " and ".join(sorted(types)))
        if os.path.splitext(output)[1].lower() not in OUTPUT_EXTENSIONS:
            yield self.OUTPUT, self.tr(
                "the output must be a GeoTIFF file (.tif or .tiff), got '{}'").format(output)
        for name, layer in layers.items():
            if layer is not None and _same_file(_file_path(layer), output):
                yield self.OUTPUT, self.tr(
                    "'{}' is also the {} raster; choose another output file").format(output, name)
        yield from self._outputFolderErrors(output)
        try:  # the whole check (GDAL's option list), so a bad option fails before any work
            check_options(self.parameterAsString(parameters, self.OPTIONS, context))
        except InputError as error:
            yield self.OPTIONS, error.message

    def _outputFolderErrors(self, output):
        """An output that is a folder, or whose folder is missing or not writable (the engine
        would find out only when writing, after the computation)."""
        folder = os.path.dirname(os.path.abspath(output))
        if os.path.isdir(output):
            yield self.OUTPUT, self.tr("'{}' is a folder; give a file name").format(output)
        elif not os.path.isdir(folder):
            yield self.OUTPUT, self.tr("the folder {} does not exist").format(folder)
        elif not os.access(folder, os.W_OK | os.X_OK):  # also false on a read-only file system
            yield self.OUTPUT, self.tr("the folder {} is not writable").format(folder)

    def _numberErrors(self, parameters, context):
        """Numbers below their minimum, with the minimum in the message (QGIS's own check only
        says "Incorrect parameter value")."""
        for definition in self.parameterDefinitions():
            if not isinstance(definition, QgsProcessingParameterNumber):
                continue
            value = parameters.get(definition.name())
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue  # not a plain number (an expression, a property): QGIS checks it
            if number != number:
                yield definition.name(), self.tr("must be a number, got {}").format(value)
            elif number < definition.minimum():
                yield definition.name(), self.tr("must be >= {:g}, got {:g}").format(
                    definition.minimum(), number)

    def _open(self, eng, name, path):
        try:
            return eng.open(path)
        except InputError as error:
            raise QgsProcessingException(self.parameterError(name, error.message))

    def _engineInputError(self, error):
        name = self.ENGINE_PARAMETERS.get(error.param)
        if name is None:
            return self.tr("Invalid input ({}): {}").format(error.param, error.message)
        return self.parameterError(name, error.message)


def _is_optional(definition):
    return bool(definition.flags() & QgsProcessingParameterDefinition.FlagOptional)


def _same_file(path, other):
    """True when both paths name the same file (whether or not it exists yet)."""
    return os.path.normcase(os.path.realpath(path)) == os.path.normcase(os.path.realpath(other))


def _file_path(layer):
    """The file behind a GDAL raster layer (its source without ``|option`` suffixes)."""
    return layer.source().split("|")[0]
