"""Focal statistics: one algorithm per statistic (tilewise:focalmin, focalmax, ...).

One algorithm per statistic rather than one with a STATISTIC choice: the toolbox search finds
"focal maximum" or "majority" directly, each dialog shows only the parameters that apply
(Q for the percentile), each help states its own output type and a model node says what it
computes. All share the window parameters and the engine's ``focal_statistics`` filter.
"""

from ..engine import filters
from .catalogue import CatalogueAlgorithm, Param, filter_algorithm

SQUARE, CIRCLE = 0, 1
SHAPE = Param("SHAPE", "shape", "Window shape",
              "the window: a SIZE x SIZE square, or a circle of radius RADIUS (the pixels with "
              "dy^2 + dx^2 <= RADIUS^2).",
              kind="enum", choices=(("Square", "square"), ("Circle", "circle")), default=SQUARE)
SIZE = Param("SIZE", "size", "Square window size in pixels (odd)",
             "side of the square window in pixels, an odd integer >= 1 (default 3); used when "
             "SHAPE is Square.", default=3, minimum=1)
RADIUS = Param("RADIUS", "radius", "Circle radius in pixels",
               "radius of the circular window in pixels, >= 0 (default 1); used when SHAPE is "
               "Circle.", kind="double", default=1.0, minimum=0, maximum=1e4)
Q = Param("Q", "q", "Percentile (0-100)",
          "the percentile, 0 to 100 (default 50 = median), with linear interpolation between "
          "the two nearest values (as numpy.percentile).", kind="double", default=50.0,
          minimum=0, maximum=100)

KEEP = "same data type and nodata value as the input."
FLOAT = ("float32 for integer and float32 inputs, float64 for float64 inputs; same nodata "
         "value as the input (NaN if it has none).")


class FocalAlgorithm(CatalogueAlgorithm):
    GROUP = "focalstatistics"
    FILTER = filters.focal_statistics
    PARAMS = (SHAPE, SIZE, RADIUS)
    NODATA_HELP = ("nodata and NaN pixels are left out of every window; input nodata pixels "
                   "stay nodata; a window without any valid pixel gives nodata.")
    NOTES = ("At the raster edges the window is mirrored (scipy's 'reflect' mode). The tile "
             "margin is the window's half-width.")

    def engineParams(self, parameters, context):
        params = super().engineParams(parameters, context)
        params.pop("radius" if params["shape"] == "square" else "size")
        return params


def _focal(class_name, statistic, title, what, output_help, tags, params=(SHAPE, SIZE, RADIUS)):
    return filter_algorithm(
        class_name, base=FocalAlgorithm, ID="focal" + statistic,
        DISPLAY_NAME="Focal " + title, TAGS="focal,neighbourhood,neighborhood,moving window,"
                                            "r.neighbors," + tags,
        FIXED={"statistic": statistic}, PARAMS=params, OUTPUT_LABEL="Focal " + title,
        DESCRIPTION="Replaces each pixel by the {} of the valid pixels in the window around it."
                    .format(what), OUTPUT_HELP=output_help)


FocalMin = _focal("FocalMin", "min", "minimum", "minimum", KEEP, "minimum,min")
FocalMax = _focal("FocalMax", "max", "maximum", "maximum", KEEP, "maximum,max")
FocalRange = _focal("FocalRange", "range", "range", "range (maximum minus minimum)", FLOAT,
                    "range,max-min,relief")
FocalSum = _focal("FocalSum", "sum", "sum", "sum",
                  "float64 (sums of large windows need it); same nodata value as the input "
                  "(NaN if it has none).", "sum,total")
FocalStd = _focal("FocalStd", "std", "standard deviation",
                  "standard deviation (population, divided by the number of valid pixels)",
                  FLOAT, "std,standard deviation,texture")
FocalVariance = _focal("FocalVariance", "variance", "variance",
                       "variance (population, divided by the number of valid pixels)", FLOAT,
                       "variance,texture")
FocalPercentile = _focal("FocalPercentile", "percentile", "percentile", "Q-th percentile",
                         FLOAT, "percentile,quantile,median", params=(SHAPE, SIZE, RADIUS, Q))
FocalMajority = _focal("FocalMajority", "majority", "majority",
                       "most frequent value (ties go to the smallest value)", KEEP,
                       "majority,mode,most frequent,classification,categorical")

ALGORITHMS = [FocalMin, FocalMax, FocalRange, FocalSum, FocalStd, FocalVariance,
              FocalPercentile, FocalMajority]
