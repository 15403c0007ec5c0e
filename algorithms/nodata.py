"""Nodata: tilewise:nodatamask (a 0/1 raster of a band's nodata pixels) and tilewise:fillnodata
(fill them by inverse-distance interpolation, GDAL's FillNodata)."""

from ..engine import filters
from .catalogue import Param, filter_algorithm


def _same_extent(a, b, tolerance):
    return all(abs(x - y) <= tolerance for x, y in (
        (a.xMinimum(), b.xMinimum()), (a.yMinimum(), b.yMinimum()),
        (a.xMaximum(), b.xMaximum()), (a.yMaximum(), b.yMaximum())))


def mask_on_input_grid(alg, name, parameters, context):
    """A MASK on another grid than INPUT (checked here, before any raster is read)."""
    if not parameters.get(name):
        return
    source = alg.parameterAsRasterLayer(parameters, alg.INPUT, context)
    mask = alg.parameterAsRasterLayer(parameters, name, context)
    if source is None or mask is None:
        return  # reported by the base class
    if (mask.width(), mask.height()) != (source.width(), source.height()):
        yield alg.tr("the mask is {} x {} pixels, the input {} x {}; both must be on the same "
                     "grid").format(mask.width(), mask.height(), source.width(), source.height())
    elif mask.crs() != source.crs():
        yield alg.tr("the mask's CRS ({}) differs from the input's ({}); both must be on the "
                     "same grid").format(mask.crs().authid() or mask.crs().description(),
                                         source.crs().authid() or source.crs().description())
    elif not _same_extent(mask.extent(), source.extent(),
                          tolerance=1e-6 * max(source.rasterUnitsPerPixelX(),
                                               source.rasterUnitsPerPixelY())):
        yield alg.tr("the mask's extent ({}) differs from the input's ({}); both must be on the "
                     "same grid").format(mask.extent().toString(), source.extent().toString())


NodataMask = filter_algorithm(
    "NodataMask", ID="nodatamask", DISPLAY_NAME="Nodata mask", GROUP="nodata",
    TAGS="nodata,mask,missing,void,nan", FILTER=filters.nodata_mask, ALL_BANDS=False,
    OUTPUT_LABEL="Nodata mask", BAND_HELP="BAND: the band to test (default 1).",
    DESCRIPTION="Creates a mask of the nodata pixels of one band: 1 where the band equals the "
                "band's nodata value (or is NaN, for floating-point data), 0 elsewhere.",
    OUTPUT_HELP="a single-band Byte (uint8) GeoTIFF on the grid of the input, without a nodata "
                "value of its own.",
    NODATA_HELP="if the band has no nodata value, only NaN pixels are marked.")

MASK = Param("MASK", "inputs", "Fill mask (nonzero = fill here; default: the band's nodata)",
             "optional raster on the same grid as INPUT; pixels where its first band is nonzero "
             "are filled. Without it, the pixels equal to the band's nodata value (or NaN) are "
             "filled.", kind="raster", optional=True, check=mask_on_input_grid)
MAX_DISTANCE = Param("MAX_DISTANCE", "max_distance", "Maximum search distance in pixels",
                     "how far, in pixels, to search for valid pixels (default 100).",
                     default=100, minimum=0, read_as="double")
SMOOTHING_ITERATIONS = Param("SMOOTHING_ITERATIONS", "smoothing_iterations",
                             "Smoothing iterations", "number of 3x3 smoothing passes over the "
                             "filled pixels (default 0).", default=0, minimum=0)

FillNodata = filter_algorithm(
    "FillNodata", ID="fillnodata", DISPLAY_NAME="Fill nodata", GROUP="nodata",
    TAGS="fill,nodata,gaps,holes,void,interpolate,inpaint,gdal_fillnodata",
    FILTER=filters.fill_nodata, PARAMS=(MASK, MAX_DISTANCE, SMOOTHING_ITERATIONS),
    ALL_BANDS=False, OUTPUT_LABEL="Filled",
    BAND_HELP="BAND: the band to fill (default 1). The output holds this band only.",
    DESCRIPTION="Fills the nodata pixels of one band by inverse-distance weighted interpolation "
                "from the valid pixels around them, as GDAL's FillNodata (gdal_fillnodata) "
                "does.",
    OUTPUT_HELP="same data type and nodata value as the band.",
    NODATA_HELP="the pixels to fill are the band's nodata (and NaN) pixels, or MASK's. Pixels "
                "with no valid pixel within MAX_DISTANCE keep their value (the nodata value).",
    NOTES="The result equals rasterio.fill.fillnodata (GDAL) run on the whole image at once, "
          "bit for bit. Large MAX_DISTANCE values mean wide tile margins, hence more work per "
          "tile.")

ALGORITHMS = [NodataMask, FillNodata]
