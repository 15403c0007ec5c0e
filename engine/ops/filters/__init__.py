"""The engine's built-in filters."""

from .bandmath import band_math
from .edges import gaussian_gradient_magnitude, laplace, sobel
from .fill import fill_nodata
from .focal import STATISTICS, focal_statistics
from .geometry import geometry_mask
from .morphology import morphology
from .nodata import invalid_pixels, nodata_mask
from .smoothing import gaussian, mean, median
from .terrain import aspect, hillshade, roughness, slope, tri

__all__ = ["STATISTICS", "aspect", "band_math", "fill_nodata", "focal_statistics", "gaussian",
           "gaussian_gradient_magnitude", "geometry_mask", "hillshade", "invalid_pixels", "laplace", "mean",
           "median", "morphology", "nodata_mask", "roughness", "slope", "sobel", "tri"]
