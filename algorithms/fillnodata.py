"""tilewise:fillnodata: fill nodata by inverse-distance interpolation (GDAL's FillNodata)."""

from qgis.core import QgsProcessingParameterNumber, QgsProcessingParameterRasterLayer

from ..engine import filters
from .base import TilewiseAlgorithm


class FillNodata(TilewiseAlgorithm):
    MASK = "MASK"
    MAX_DISTANCE = "MAX_DISTANCE"
    SMOOTHING_ITERATIONS = "SMOOTHING_ITERATIONS"

    RASTER_INPUTS = (TilewiseAlgorithm.INPUT, MASK)
    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS,
                         "inputs": MASK,
                         "max_distance": MAX_DISTANCE,
                         "smoothing_iterations": SMOOTHING_ITERATIONS}

    def name(self):
        return "fillnodata"

    def displayName(self):
        return self.tr("Fill nodata")

    def group(self):
        return self.tr("Nodata")

    def groupId(self):
        return "nodata"

    def tags(self):
        return self.tr("fill,nodata,gaps,holes,void,interpolate,inpaint,gdal_fillnodata").split(",")

    def outputDescription(self):
        return self.tr("Filled")

    def helpText(self):
        return self.tr(
            "Fills the nodata pixels of one band by inverse-distance weighted interpolation from "
            "the valid pixels around them, as GDAL's FillNodata (gdal_fillnodata) does.\n"
            "INPUT: the raster layer.\n"
            "BAND: the band to fill (default 1). The output holds this band only.\n"
            "MASK: optional raster on the same grid as INPUT; pixels where its first band is "
            "nonzero are filled. Without it, the pixels equal to the band's nodata value (or NaN) "
            "are filled.\n"
            "MAX_DISTANCE: how far, in pixels, to search for valid pixels (default 100).\n"
            "SMOOTHING_ITERATIONS: number of 3x3 smoothing passes over the filled pixels "
            "(default 0).\n"
            "OUTPUT: same data type and nodata value as the band.\n"
            "Nodata: the pixels to fill are the band's nodata (and NaN) pixels, or MASK's. "
            "Pixels with no valid pixel within MAX_DISTANCE keep their value (the nodata "
            "value).\n"
            "The result equals rasterio.fill.fillnodata (GDAL) run on the whole image at once, "
            "bit for bit. Large MAX_DISTANCE values mean wide tile margins, hence more work "
            "per tile.")

    def initParameters(self):
        self.addInputParameters()
        self.addParameter(QgsProcessingParameterRasterLayer(
            self.MASK, self.tr("Fill mask (nonzero = fill here; default: the band's nodata)"),
            optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.MAX_DISTANCE, self.tr("Maximum search distance in pixels"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=100, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(
            self.SMOOTHING_ITERATIONS, self.tr("Smoothing iterations"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0))

    def parameterErrors(self, parameters, context):
        """A MASK on another grid than INPUT (checked here, before any raster is read)."""
        if not parameters.get(self.MASK):
            return
        source = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        mask = self.parameterAsRasterLayer(parameters, self.MASK, context)
        if source is None or mask is None:
            return  # reported by the base class
        if (mask.width(), mask.height()) != (source.width(), source.height()):
            yield self.MASK, self.tr("the mask is {} x {} pixels, the input {} x {}; both must "
                                     "be on the same grid").format(
                mask.width(), mask.height(), source.width(), source.height())
        elif mask.crs() != source.crs():
            yield self.MASK, self.tr("the mask's CRS ({}) differs from the input's ({}); both "
                                     "must be on the same grid").format(
                mask.crs().authid() or mask.crs().description(),
                source.crs().authid() or source.crs().description())
        elif not _same_extent(mask.extent(), source.extent(),
                              tolerance=1e-6 * max(source.rasterUnitsPerPixelX(),
                                                   source.rasterUnitsPerPixelY())):
            yield self.MASK, self.tr("the mask's extent ({}) differs from the input's ({}); "
                                     "both must be on the same grid").format(
                mask.extent().toString(), source.extent().toString())

    def engineStep(self, parameters, context):
        names = [self.INPUT] + ([self.MASK] if parameters.get(self.MASK) else [])
        return filters.fill_nodata, names, {
            "band": self.parameterAsInt(parameters, self.BAND, context),
            "max_distance": self.parameterAsDouble(parameters, self.MAX_DISTANCE, context),
            "smoothing_iterations": self.parameterAsInt(
                parameters, self.SMOOTHING_ITERATIONS, context)}


def _same_extent(a, b, tolerance):
    return all(abs(x - y) <= tolerance for x, y in (
        (a.xMinimum(), b.xMinimum()), (a.yMinimum(), b.yMinimum()),
        (a.xMaximum(), b.xMaximum()), (a.yMaximum(), b.yMaximum())))
