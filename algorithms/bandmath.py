"""tilewise:bandmath: one band computed from an expression over several rasters (A, B, ...)."""

from qgis.core import (QgsProcessing,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterString)

from ..engine import SUPPORTED_DTYPES, filters
from .base import TilewiseAlgorithm

#: OUTPUT_TYPE choices: (label, engine dtype), in SUPPORTED_DTYPES order
OUTPUT_TYPES = tuple((label, dtype) for label, dtype in (
    ("Byte (uint8)", "uint8"), ("Int8", "int8"), ("UInt16", "uint16"), ("Int16", "int16"),
    ("UInt32", "uint32"), ("Int32", "int32"), ("Float32", "float32"), ("Float64", "float64"))
    if dtype in SUPPORTED_DTYPES)
DEFAULT_TYPE = [dtype for _, dtype in OUTPUT_TYPES].index("float32")


class BandMath(TilewiseAlgorithm):
    INPUTS = "INPUTS"
    EXPRESSION = "EXPRESSION"
    OUTPUT_TYPE = "OUTPUT_TYPE"
    NODATA = "NODATA"

    RASTER_INPUTS = (INPUTS,)
    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS,
                         "path": INPUTS, "inputs": INPUTS, "expression": EXPRESSION,
                         "dtype": OUTPUT_TYPE, "nodata": NODATA}

    ID = "bandmath"
    DISPLAY_NAME = "Band math"
    GROUP = "bandmath"
    TAGS = "band math,raster calculator,calculator,expression,ndvi,index,formula,map algebra"
    OUTPUT_LABEL = "Result"

    def helpText(self):
        types = ", ".join("{} = {}".format(i, label) for i, (label, _) in enumerate(OUTPUT_TYPES))
        return self.tr(
            "Computes one band, pixel by pixel, from an expression over one or more rasters on "
            "the same grid (a raster calculator). The expression is parsed and checked against "
            "a fixed list of operations; it is never run as Python code.\n"
            "INPUTS: 1 to 26 raster layers on the same grid (same size, CRS and geotransform), "
            "named A, B, C, ... in the order given.\n"
            "EXPRESSION: e.g. (A@4 - A@3) / (A@4 + A@3). A@k is band k of raster A; a bare @k "
            "is band k of A; a bare letter (A) only for a single-band raster. Allowed: numbers, "
            "pi, e; + - * / // % **; comparisons < <= > >= == != (1 or 0); and, or, not (also "
            "& | ~, logical); a if c else b; where(c, a, b), clip(x, lo, hi), sqrt, log, log10, "
            "exp, abs, floor, ceil, min(a, b, ...), max(a, b, ...). Attributes, strings, "
            "subscripts, names with __, other functions and anything else are refused with an "
            "error before any work. Computed in float64.\n"
            "OUTPUT_TYPE: data type of the output ({}; default Float32). Integer results are "
            "rounded to the nearest integer (halves to even); results outside the type's range "
            "become nodata.\n"
            "NODATA: nodata value of the output. Optional for floating-point types (default "
            "NaN); required for integer types.\n"
            "OUTPUT: one band on the grid of the first input, described by the expression.\n"
            "Nodata: an output pixel is NODATA where any input band the expression reads is "
            "nodata (its raster's nodata value, or NaN) and where the result is not a finite "
            "number (division by zero, log(0), sqrt(-1), overflow). Bands the expression does "
            "not read do not matter; where(B@1 != 0, A@1 / B@1, 0) is valid everywhere."
        ).format(types)

    def initParameters(self):
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Input rasters (A, B, C, ... in this order)"),
            layerType=QgsProcessing.TypeRaster))
        self.addParameter(QgsProcessingParameterString(
            self.EXPRESSION, self.tr("Expression (e.g. (A@4 - A@3) / (A@4 + A@3))")))
        self.addParameter(QgsProcessingParameterEnum(
            self.OUTPUT_TYPE, self.tr("Output data type"),
            options=[label for label, _ in OUTPUT_TYPES], defaultValue=DEFAULT_TYPE))
        self.addParameter(QgsProcessingParameterNumber(
            self.NODATA, self.tr("Output nodata value (empty = NaN; required for integer "
                                 "types)"), type=QgsProcessingParameterNumber.Double,
            optional=True))

    def engineStep(self, parameters, context):
        params = {"expression": self.parameterAsString(parameters, self.EXPRESSION, context),
                  "dtype": OUTPUT_TYPES[self.parameterAsEnum(
                      parameters, self.OUTPUT_TYPE, context)][1]}
        if parameters.get(self.NODATA) not in (None, ""):
            params["nodata"] = self.parameterAsDouble(parameters, self.NODATA, context)
        return filters.band_math, [self.INPUTS], params
