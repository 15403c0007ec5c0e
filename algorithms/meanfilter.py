"""tilewise:meanfilter: moving-window mean that leaves nodata out."""

from qgis.core import QgsProcessingParameterNumber

from ..engine import filters
from .base import TilewiseAlgorithm


class MeanFilter(TilewiseAlgorithm):
    SIZE = "SIZE"

    ENGINE_PARAMETERS = {**TilewiseAlgorithm.ENGINE_PARAMETERS, "size": SIZE}

    def name(self):
        return "meanfilter"

    def displayName(self):
        return self.tr("Mean filter")

    def group(self):
        return self.tr("Smoothing")

    def groupId(self):
        return "smoothing"

    def tags(self):
        return self.tr("mean,average,smooth,smoothing,low-pass,boxcar,focal,moving window"
                       ).split(",")

    def outputDescription(self):
        return self.tr("Smoothed")

    def helpText(self):
        return self.tr(
            "Replaces each pixel by the mean of the SIZE x SIZE window centred on it (a box or "
            "moving-average filter). At the raster edges the window is mirrored (scipy's "
            "'reflect' mode).\n"
            "INPUT: the raster layer.\n"
            "BAND: the band to smooth; leave empty to smooth every band (the output then has as "
            "many bands as the input).\n"
            "SIZE: side of the window in pixels, an odd integer >= 1 (default 3; 1 copies the "
            "input).\n"
            "OUTPUT: float32 for integer inputs; floating-point inputs keep their type. The "
            "nodata value is kept.\n"
            "Nodata: nodata and NaN pixels are left out of the windows and stay nodata in the "
            "output. Where a window holds no nodata, the result equals "
            "scipy.ndimage.uniform_filter within floating-point rounding.")

    def initParameters(self):
        self.addInputParameters(all_bands=True)
        self.addParameter(QgsProcessingParameterNumber(
            self.SIZE, self.tr("Window size in pixels (odd)"),
            type=QgsProcessingParameterNumber.Integer, defaultValue=3, minValue=1))

    def parameterErrors(self, parameters, context):
        size = self.parameterAsInt(parameters, self.SIZE, context)
        if size % 2 == 0:
            yield self.SIZE, self.tr("the window size must be odd, got {}").format(size)

    def engineStep(self, parameters, context):
        return filters.mean, [self.INPUT], {
            "size": self.parameterAsInt(parameters, self.SIZE, context),
            "band": self.parameterAsInt(parameters, self.BAND, context) or None}
