"""tilewise:nodatamask: a 0/1 raster marking the nodata pixels of a band."""

from ..engine import filters
from .base import TilewiseAlgorithm


class NodataMask(TilewiseAlgorithm):

    def name(self):
        return "nodatamask"

    def displayName(self):
        return self.tr("Nodata mask")

    def group(self):
        return self.tr("Nodata")

    def groupId(self):
        return "nodata"

    def tags(self):
        return self.tr("nodata,mask,missing,void,nan").split(",")

    def outputDescription(self):
        return self.tr("Nodata mask")

    def helpText(self):
        return self.tr(
            "Creates a mask of the nodata pixels of one band: 1 where the band equals the band's "
            "nodata value (or is NaN, for floating-point data), 0 elsewhere.\n"
            "INPUT: the raster layer.\n"
            "BAND: the band to test (default 1).\n"
            "OUTPUT: a single-band Byte (uint8) GeoTIFF on the grid of the input, without a "
            "nodata value of its own.\n"
            "Nodata: if the band has no nodata value, only NaN pixels are marked.")

    def initParameters(self):
        self.addInputParameters()

    def engineStep(self, parameters, context):
        return filters.nodata_mask, [self.INPUT], {
            "band": self.parameterAsInt(parameters, self.BAND, context)}
