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
                       QgsProcessingParameterNumber)

from .base import TilewiseAlgorithm

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
}


@dataclass(frozen=True)
class Param:
    """One algorithm parameter and the engine keyword it feeds.

    ``kind``: "int", "double", "enum" (``choices`` = ((label, engine value), ...), default =
    index) or "bool". ``help`` is the line of the help text after "NAME: ".
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

    def definition(self, alg):
        label = alg.tr(self.label)
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
        """The engine value (None for an empty optional number)."""
        if self.kind == "enum":
            return self.choices[alg.parameterAsEnum(parameters, self.name, context)][1]
        if self.kind == "bool":
            return alg.parameterAsBoolean(parameters, self.name, context)
        if self.optional and parameters.get(self.name) in (None, ""):
            return None
        if self.kind == "int":
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

    ID = None                 # algorithm name, e.g. "gaussianfilter"
    DISPLAY_NAME = None
    GROUP = None              # key of GROUPS
    TAGS = ""                 # comma-separated
    FILTER = None             # the engine Filter
    FIXED = {}                # engine parameters set by the algorithm itself
    PARAMS = ()               # Param rows
    ALL_BANDS = True          # BAND optional (empty = every band) or a single band (default 1)
    DESCRIPTION = ""          # first help paragraph: what it does
    OUTPUT_LABEL = ""
    OUTPUT_HELP = ""          # data type, nodata value, number of bands
    NODATA_HELP = ""          # how nodata pixels are handled
    NOTES = ""                # reference / border behaviour

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

    def outputDescription(self):
        return self.tr(self.OUTPUT_LABEL)

    def helpText(self):
        band = (self.tr("BAND: the band to process; leave empty to process every band (the "
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

    def engineStep(self, parameters, context):
        return self.FILTER, [self.INPUT], self.engineParams(parameters, context)


def filter_algorithm(class_name, base=CatalogueAlgorithm, **attributes):
    """A CatalogueAlgorithm subclass named ``class_name`` with ``attributes``; its
    ENGINE_PARAMETERS map each Param's engine keyword to the Param's name."""
    params = attributes.get("PARAMS", base.PARAMS)
    # "output" stays OUTPUT (the engine's write errors): sobel's "output" is an enum, whose
    # values the engine never rejects
    engine_parameters = {**base.ENGINE_PARAMETERS,
                         **{param.engine: param.name for param in params
                            if param.engine != "output"}}
    return type(class_name, (base,), {"ENGINE_PARAMETERS": engine_parameters, **attributes})
