"""Parameter validation shared by the Tilewise algorithms (a mixin of ``TilewiseAlgorithm``).

Every check is a generator of ``(parameter name, message)``; the base turns the first one into
"Invalid value for parameter '<label>' (<NAME>): <message>". All of them run before any
engine starts (``checkParameterValues``, and again in ``prepareAlgorithm`` for runs that skip
it, such as model children).

Raster inputs are the parameters listed in ``RASTER_INPUTS``: single raster layers, or
multiple-layer parameters (``QgsProcessingParameterMultipleLayers``) whose layers are engine
inputs in the order given.
"""

import os

from qgis.core import (Qgis,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber,
                       QgsProcessingUtils)

from ..engine import InputError, check_options, is_gdal_source, read_profile

OUTPUT_EXTENSIONS = (".tif", ".tiff")

#: raster data types the engine has no numpy counterpart for (complex, colour)
UNSUPPORTED_DATA_TYPES = {Qgis.CInt16: "CInt16", Qgis.CInt32: "CInt32", Qgis.CFloat32: "CFloat32",
                          Qgis.CFloat64: "CFloat64", Qgis.ARGB32: "ARGB32",
                          Qgis.ARGB32_Premultiplied: "ARGB32_Premultiplied"}


def is_optional(definition):
    return bool(definition.flags() & QgsProcessingParameterDefinition.FlagOptional)


def is_multiple(definition):
    return isinstance(definition, QgsProcessingParameterMultipleLayers)


def same_file(path, other):
    """True when both paths name the same file (whether or not it exists yet)."""
    return os.path.normcase(os.path.realpath(path)) == os.path.normcase(os.path.realpath(other))


def file_path(layer):
    """The file behind a GDAL raster layer (its source without ``|option`` suffixes)."""
    return layer.source().split("|")[0]


def _given_values(value):
    """The items of a multiple-layer value: a list, or a ';'-separated string."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        return [item for item in value.split(";") if item.strip()]
    return [value]


class ParameterChecks:
    """Checks of raster inputs, band numbers, numbers, outputs and the engine's own parameter
    checks. Needs ``RASTER_INPUTS``, ``OUTPUT``, ``OPTIONS`` and ``engineParameterName``."""

    def parameterError(self, name, message):
        """Message naming parameter ``name`` (its label and its id) and what is wrong with it."""
        definition = self.parameterDefinition(name)
        label = definition.description() if definition is not None else name
        return self.tr("Invalid value for parameter '{}' ({}): {}").format(label, name, message)

    # --- raster inputs ------------------------------------------------------------------------

    def rasterLayers(self, parameters, context):
        """Raster input parameter name -> layer (None if it cannot be loaded), or -> list of
        layers for a multiple-layer parameter; empty optional inputs are left out."""
        layers = {}
        for name in self.RASTER_INPUTS:
            definition = self.parameterDefinition(name)
            if is_optional(definition) and not parameters.get(name):
                continue
            if is_multiple(definition):
                layers[name] = [self._loadRaster(value, context)
                                for value in _given_values(parameters.get(name))]
            else:
                layers[name] = self.parameterAsRasterLayer(parameters, name, context)
        return layers

    def _loadRaster(self, value, context):
        if not isinstance(value, str):
            return value  # a layer object
        return QgsProcessingUtils.mapLayerFromString(
            value, context, True, QgsProcessingUtils.LayerHint.Raster)

    @staticmethod
    def layerItems(layers):
        """``(parameter name, layer)`` pairs of ``rasterLayers``' result, lists flattened."""
        for name, layer in layers.items():
            for item in (layer if isinstance(layer, list) else [layer]):
                yield name, item

    def _unloadableInputs(self, parameters, context):
        """Raster inputs given as paths that do not load, with the reason (QGIS's own check
        says "not found" even when the file exists but is not a raster)."""
        for name in self.RASTER_INPUTS:
            definition = self.parameterDefinition(name)
            values = (_given_values(parameters.get(name)) if is_multiple(definition)
                      else [parameters.get(name)])
            if is_multiple(definition) and not values and not is_optional(definition):
                yield name, self.tr("give at least one raster layer")
            for value in values:
                if not isinstance(value, str) or not value.strip():
                    continue
                if self._loadRaster(value, context) is not None:
                    continue
                path = value.split("|")[0]
                if not os.path.exists(path) and is_gdal_source(path):
                    yield name, self.tr("GDAL cannot open '{}' as a raster (a GDAL source: "
                                        "check the driver prefix, the path inside it and "
                                        "the subdataset or table name)").format(path)
                elif not os.path.exists(path):
                    yield name, self.tr("no such file: {}").format(path)
                else:
                    yield name, self.tr("'{}' is not a raster GDAL can read").format(path)

    def _inputErrors(self, parameters, context):
        """Inputs that are not GDAL files or hold data types the engine cannot handle."""
        for name, layer in self.layerItems(self.rasterLayers(parameters, context)):
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
                        file_path(layer), " and ".join(sorted(types)))

    def _bandErrors(self, parameters, context):
        """Band numbers beyond the band count of their parent layer."""
        for definition in self.parameterDefinitions():
            if not isinstance(definition, QgsProcessingParameterBand):
                continue
            band = self.parameterAsInt(parameters, definition.name(), context)
            layer = self.parameterAsRasterLayer(
                parameters, definition.parentLayerParameterName(), context)
            if layer is None or (band == 0 and is_optional(definition)):
                continue
            if not 1 <= band <= layer.bandCount():
                yield definition.name(), self.tr("band {} does not exist; the layer has {} band(s)"
                                                 ).format(band, layer.bandCount())

    # --- numbers ------------------------------------------------------------------------------

    def _numberErrors(self, parameters, context):
        """Numbers outside their limits, with the limit in the message (QGIS's own check only
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
            elif (definition.dataType() == QgsProcessingParameterNumber.Integer
                  and number != int(number) if abs(number) != float("inf") else False):
                # QGIS would round 3.5 to 4 and the engine then blame the 4
                yield definition.name(), self.tr("must be a whole number, got {}").format(value)
            elif number < definition.minimum():
                yield definition.name(), self.tr("must be >= {:g}, got {:g}").format(
                    definition.minimum(), number)
            elif number > definition.maximum():
                yield definition.name(), self.tr("must be <= {:g}, got {:g}").format(
                    definition.maximum(), number)

    # --- outputs ------------------------------------------------------------------------------

    def _rasterOutputErrors(self, parameters, context, output, driver):
        """A raster output that is not GeoTIFF, overwrites an input or cannot be written in
        its folder; creation options GDAL's driver does not know."""
        if os.path.splitext(output)[1].lower() not in OUTPUT_EXTENSIONS:
            yield self.OUTPUT, self.tr(
                "the output must be a GeoTIFF file (.tif or .tiff), got '{}'").format(output)
        for name, layer in self.layerItems(self.rasterLayers(parameters, context)):
            if layer is not None and same_file(file_path(layer), output):
                yield self.OUTPUT, self.tr(
                    "'{}' is also the {} raster; choose another output file").format(output, name)
        yield from self.fileOutputErrors(self.OUTPUT, output)
        try:  # the whole check (GDAL's option list), so a bad option fails before any work
            check_options(self.parameterAsString(parameters, self.OPTIONS, context), driver)
        except InputError as error:
            yield self.OPTIONS, error.message

    def fileOutputErrors(self, name, output):
        """An output that is a folder, or whose folder is missing or not writable (the engine
        would find out only when writing, after the computation)."""
        folder = os.path.dirname(os.path.abspath(output))
        try:
            longest = os.pathconf(folder if os.path.isdir(folder) else "/", "PC_NAME_MAX")
        except (OSError, ValueError, AttributeError):
            longest = 255
        if "\x00" in output:
            yield name, self.tr("the file name contains a NUL character")
        elif len(os.path.basename(output).encode("utf-8", "surrogateescape")) > longest:
            yield name, self.tr("the file name is longer than {} bytes: '{}...'").format(
                longest, os.path.basename(output)[:40])
        elif os.path.isdir(output):
            yield name, self.tr("'{}' is a folder; give a file name").format(output)
        elif not os.path.isdir(folder):
            yield name, self.tr("the folder {} does not exist").format(folder)
        elif not os.access(folder, os.W_OK | os.X_OK):  # also false on a read-only file system
            yield name, self.tr("the folder {} is not writable").format(folder)

    # --- the engine's own checks ----------------------------------------------------------------

    def _engineErrors(self, parameters, context):
        """The engine filter's parameter checks, on the input files' profiles (read from the
        files' headers, no pixels): bad expressions, even window sizes, out-of-range values,
        inputs on other grids ... all named as QGIS parameters, before any work."""
        layers = self.rasterLayers(parameters, context)
        if any(layer is None for _, layer in self.layerItems(layers)):
            return  # reported by the other checks
        try:
            filter_, names, params = self.engineStep(parameters, context)
            profiles = {name: [read_profile(file_path(layer))
                               for layer in (value if isinstance(value, list) else [value])]
                        for name, value in layers.items()}
            inputs = [p for name in names for p in profiles.get(name, [])]
            low, high = filter_.inputs
            if not low <= len(inputs) <= high:
                expected = str(low) if low == high else "{} to {}".format(low, high)
                raise InputError("inputs", self.tr("takes {} input raster(s), got {}").format(
                    expected, len(inputs)))
            for index, profile in enumerate(inputs[1:], start=1):
                if (profile.height, profile.width) != (inputs[0].height, inputs[0].width) or \
                        not inputs[0].same_grid(profile):
                    raise InputError("inputs", self.tr(
                        "input {} ({} x {} pixels) is not on the grid of the first input "
                        "({} x {} pixels, same CRS and geotransform needed)").format(
                        index + 1, profile.width, profile.height, inputs[0].width,
                        inputs[0].height))
            params = filter_.check(inputs, params)
            outputs = list(filter_.outputs(inputs, params))
            if len(outputs) != 1:
                raise InputError("filter", self.tr(
                    "the filter makes {} output rasters; this algorithm writes exactly one"
                ).format(len(outputs)))
        except InputError as error:
            yield self.engineParameterName(error.param), error.message
