"""Morphology: tilewise:erosion, dilation, opening, closing, whitetophat, blacktophat."""

from ..engine import filters
from .catalogue import CatalogueAlgorithm, Param, filter_algorithm

RADIUS = Param("RADIUS", "radius", "Structuring element radius in pixels",
               "radius of the structuring element in pixels, an integer >= 0 (default 1; 0 "
               "copies the input).", default=1, minimum=0)
SHAPE = Param("SHAPE", "shape", "Structuring element",
              "shape of the structuring element: a (2 RADIUS + 1) square, a disk (dy^2 + dx^2 "
              "<= RADIUS^2) or a cross (the centre row and column).",
              kind="enum", choices=(("Square", "square"), ("Disk", "disk"), ("Cross", "cross")))
BINARY = Param("BINARY", "binary", "Binary morphology (nonzero = 1)",
               "unchecked (default): grey-level morphology on the values; checked: binary "
               "morphology, every nonzero pixel counts as 1.", kind="bool", default=False)


class MorphologyAlgorithm(CatalogueAlgorithm):
    GROUP = "morphology"
    FILTER = filters.morphology
    PARAMS = (RADIUS, SHAPE, BINARY)
    NODATA_HELP = ("nodata and NaN pixels are never read (they count as +infinity in a "
                   "minimum and -infinity in a maximum, in every pass) and stay nodata; binary "
                   "outputs mark them 255.")
    NOTES = ("Grey-level results equal scipy.ndimage's grey morphology (mode 'reflect') where "
             "the structuring element holds no nodata. The tile margin is RADIUS, twice RADIUS "
             "for the two-pass operations (opening, closing, top-hats).")


def _morphology(operation, title, what, grey_output, tags):
    """The algorithm of one operation; its class is named after the title (WhiteTopHat)."""
    return filter_algorithm(
        title.title().replace(" ", "").replace("-", ""), base=MorphologyAlgorithm,
        ID=operation.replace("_", ""), DISPLAY_NAME=title,
        TAGS="morphology,mathematical morphology,structuring element," + tags,
        FIXED={"operation": operation}, OUTPUT_LABEL=title, DESCRIPTION=title + ": " + what,
        OUTPUT_HELP=grey_output + " With BINARY: Byte (uint8) 0/1, nodata 255.")


SAME = "grey-level: same data type and nodata value as the input."
TOPHAT = ("grey-level: float32 (float64 for float64 input), same nodata value as the input "
          "(NaN if it has none).")
#: (operation, title, what it does, grey-level output, tags), one row per algorithm
OPERATIONS = (
    ("erosion", "Erosion",
     "each pixel becomes the minimum under the structuring element (shrinks bright areas).",
     SAME, "erosion,erode,minimum,shrink"),
    ("dilation", "Dilation",
     "each pixel becomes the maximum under the structuring element (grows bright areas).",
     SAME, "dilation,dilate,maximum,grow,buffer"),
    ("opening", "Opening",
     "erosion then dilation (removes bright details smaller than the structuring element).",
     SAME, "opening,open,erosion,dilation"),
    ("closing", "Closing",
     "dilation then erosion (fills dark gaps smaller than the structuring element).",
     SAME, "closing,close,dilation,erosion,gaps"),
    ("white_tophat", "White top-hat",
     "the input minus its opening (bright details smaller than the structuring element).",
     TOPHAT, "white top-hat,tophat,top hat,bright features"),
    ("black_tophat", "Black top-hat",
     "the closing minus the input (dark details smaller than the structuring element).",
     TOPHAT, "black top-hat,tophat,top hat,bottom hat,dark features"),
)

ALGORITHMS = [_morphology(*row) for row in OPERATIONS]
Erosion, Dilation, Opening, Closing, WhiteTopHat, BlackTopHat = ALGORITHMS
