"""Data-driven algorithms over one engine filter: a table row per algorithm, no copy-paste.

``filter_algorithm(class_name, ...)`` makes a ``TilewiseAlgorithm`` subclass from a
description: id, toolbox group, the engine filter, fixed engine parameters, its own parameters
(``Param``), and the help paragraphs. The class builds its QGIS parameters, its help text (every
parameter, nodata handling, then the base's common help with the tiling guarantee) and its
``engineStep``; the base does the rest (checks, engine run, output, error mapping).
"""

from dataclasses import dataclass

from qgis.core import (QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from .base import GROUPS, TilewiseAlgorithm  # noqa: F401 - GROUPS re-exported


def odd_window(alg, name, parameters, context):
    """A ``Param.check``: an integer window size must be odd."""
    size = alg.parameterAsInt(parameters, name, context)
    if size % 2 == 0:
        yield alg.tr("the window size must be odd, got {}").format(size)


@dataclass(frozen=True)
class Param:
    """One algorithm parameter and the engine keyword it feeds.

    ``kind``: "int", "double", "enum" (``choices`` = ((label, engine value), ...), default =
    index), "bool" or "raster" (a further engine input after INPUT, left out when empty; its
    ``engine`` is "inputs"). ``help`` is the line of the help text after "NAME: ".
    ``read_as``: "double" for an integer parameter whose engine value is a float.
    ``check``: ``check(alg, name, parameters, context)`` yields problems with the value (the
    widgets cannot catch), before any work.
    """

    name: str
    engine: str
    label: str
    help: str
    kind: str = "int"
    default: object = None
    minimum: float = None
    maximum: float = None
    choices: tuple = ()
    optional: bool = False
    read_as: str = None
    check: object = None

    def definition(self, alg):
        label = alg.tr(self.label)
        if self.kind == "raster":
            return QgsProcessingParameterRasterLayer(self.name, label, optional=self.optional)
        if self.kind == "enum":
            return QgsProcessingParameterEnum(
                self.name, label, options=[alg.tr(text) for text, _ in self.choices],
                defaultValue=self.default or 0)
        if self.kind == "bool":
            return QgsProcessingParameterBoolean(self.name, label, defaultValue=bool(self.default))
        number_type = (QgsProcessingParameterNumber.Integer if self.kind == "int"
                       else QgsProcessingParameterNumber.Double)
        kwargs = {"type": number_type, "defaultValue": self.default, "optional": self.optional}
        if self.minimum is not None:
            kwargs["minValue"] = self.minimum
        if self.maximum is not None:
            kwargs["maxValue"] = self.maximum
        return QgsProcessingParameterNumber(self.name, label, **kwargs)

    def value(self, alg, parameters, context):
        """The engine value (None for an empty optional number, and for a raster: an input)."""
        kind = self.read_as or self.kind
        if kind == "raster":
            return None
        if kind == "enum":
            return self.choices[alg.parameterAsEnum(parameters, self.name, context)][1]
        if kind == "bool":
            return alg.parameterAsBoolean(parameters, self.name, context)
        if self.optional and parameters.get(self.name) in (None, ""):
            return None
        if kind == "int":
            return alg.parameterAsInt(parameters, self.name, context)
        return alg.parameterAsDouble(parameters, self.name, context)

    def helpLine(self, alg):
        text = alg.tr(self.help)
        if self.kind == "enum":
            text += " " + alg.tr("Choices: {}.").format(", ".join(
                "{} = {}".format(index, alg.tr(label))
                for index, (label, _) in enumerate(self.choices)))
        return "{}: {}".format(self.name, text)


class CatalogueAlgorithm(TilewiseAlgorithm):
    """An algorithm running one engine filter on INPUT; configured by class attributes."""

    # ID, DISPLAY_NAME, GROUP (a key of GROUPS), TAGS, OUTPUT_LABEL: see TilewiseAlgorithm
    FILTER = None             # the engine Filter
    FIXED = {}                # engine parameters set by the algorithm itself
    PARAMS = ()               # Param rows
    ALL_BANDS = True          # BAND optional (empty = every band) or a single band (default 1)
    BAND_HELP = None          # the help's BAND line (None: the ALL_BANDS one)
    DESCRIPTION = ""          # first help paragraph: what it does
    OUTPUT_HELP = ""          # data type, nodata value, number of bands
    NODATA_HELP = ""          # how nodata pixels are handled
    NOTES = ""                # reference / border behaviour

    def helpText(self):
        band = (self.tr(self.BAND_HELP) if self.BAND_HELP else
                self.tr("BAND: the band to process; leave empty to process every band (the "
                        "output then has one band per input band).") if self.ALL_BANDS else
                self.tr("BAND: the band to process (default 1); the output has this band only."))
        lines = [self.tr(self.DESCRIPTION), self.tr("INPUT: the raster layer."), band]
        lines += [param.helpLine(self) for param in self.PARAMS]
        lines.append("OUTPUT: " + self.tr(self.OUTPUT_HELP))
        lines.append(self.tr("Nodata: ") + self.tr(self.NODATA_HELP))
        if self.NOTES:
            lines.append(self.tr(self.NOTES))
        return "\n".join(lines)

    def initParameters(self):
        self.addInputParameters(all_bands=self.ALL_BANDS)
        for param in self.PARAMS:
            self.addParameter(param.definition(self))

    def engineParams(self, parameters, context):
        """Engine keyword arguments: fixed ones, BAND, then each Param (None values left out)."""
        params = dict(self.FIXED)
        band = self.parameterAsInt(parameters, self.BAND, context)
        params["band"] = (band or None) if self.ALL_BANDS else band
        for param in self.PARAMS:
            value = param.value(self, parameters, context)
            if value is not None:
                params[param.engine] = value
        return params

    def parameterErrors(self, parameters, context):
        for param in self.PARAMS:
            if param.check is not None:
                for problem in param.check(self, param.name, parameters, context):
                    yield param.name, problem

    def engineStep(self, parameters, context):
        """INPUT, then the raster Params given, in their order."""
        names = [self.INPUT] + [param.name for param in self.PARAMS
                                if param.kind == "raster" and parameters.get(param.name)]
        return self.FILTER, names, self.engineParams(parameters, context)


def filter_algorithm(class_name, base=CatalogueAlgorithm, **attributes):
    """A CatalogueAlgorithm subclass named ``class_name`` with ``attributes``; its
    ENGINE_PARAMETERS map each Param's engine keyword to the Param's name, its RASTER_INPUTS
    are INPUT and the raster Params."""
    params = attributes.get("PARAMS", base.PARAMS)
    rasters = tuple(param.name for param in params if param.kind == "raster")
    # "output" stays OUTPUT (the engine's write errors): sobel's "output" is an enum, whose
    # values the engine never rejects
    engine_parameters = {**base.ENGINE_PARAMETERS,
                         **{param.engine: param.name for param in params
                            if param.engine != "output"}}
    return type(class_name, (base,), {"ENGINE_PARAMETERS": engine_parameters,
                                      "RASTER_INPUTS": (base.INPUT,) + rasters, **attributes})
