"""Smoothing: tilewise:meanfilter, tilewise:gaussianfilter, tilewise:medianfilter."""

from ..engine import filters
from .catalogue import Param, filter_algorithm, odd_window

SIZE = Param("SIZE", "size", "Window size in pixels (odd)",
             "side of the square window in pixels, an odd integer >= 1 (default 3).",
             default=3, minimum=1)
SIGMA = Param("SIGMA", "sigma", "Standard deviation (sigma) in pixels",
              "standard deviation of the Gaussian kernel in pixels, > 0 (default 1).",
              kind="double", default=1.0, minimum=0)
TRUNCATE = Param("TRUNCATE", "truncate", "Kernel radius in standard deviations",
                 "the kernel stops at TRUNCATE standard deviations (default 4, as scipy): its "
                 "radius, hence the tile margin, is int(TRUNCATE * SIGMA + 0.5) pixels.",
                 kind="double", default=4.0, minimum=0)

MeanFilter = filter_algorithm(
    "MeanFilter", ID="meanfilter", DISPLAY_NAME="Mean filter", GROUP="smoothing",
    TAGS="mean,average,smooth,smoothing,low-pass,boxcar,focal,moving window",
    FILTER=filters.mean, OUTPUT_LABEL="Smoothed",
    PARAMS=(Param("SIZE", "size", "Window size in pixels (odd)",
                  "side of the window in pixels, an odd integer >= 1 (default 3; 1 copies the "
                  "input).", default=3, minimum=1, check=odd_window),),
    BAND_HELP="BAND: the band to smooth; leave empty to smooth every band (the output then has "
              "as many bands as the input).",
    DESCRIPTION="Replaces each pixel by the mean of the SIZE x SIZE window centred on it (a box "
                "or moving-average filter). At the raster edges the window is mirrored (scipy's "
                "'reflect' mode).",
    OUTPUT_HELP="float32 for integer inputs; floating-point inputs keep their type. The nodata "
                "value is kept.",
    NODATA_HELP="nodata and NaN pixels are left out of the windows and stay nodata in the "
                "output. Where a window holds no nodata, the result equals "
                "scipy.ndimage.uniform_filter within floating-point rounding.")

FLOAT_OUTPUT = ("float32 for integer and float32 inputs, float64 for float64 inputs; same "
                "nodata value as the input (NaN if it has none).")

GaussianFilter = filter_algorithm(
    "GaussianFilter", ID="gaussianfilter", DISPLAY_NAME="Gaussian filter", GROUP="smoothing",
    TAGS="gaussian,blur,smooth,smoothing,low-pass,kernel,sigma",
    FILTER=filters.gaussian, PARAMS=(SIGMA, TRUNCATE), OUTPUT_LABEL="Smoothed",
    DESCRIPTION="Smooths the raster with a Gaussian kernel (a weighted moving average whose "
                "weights fall off with the distance from the centre).",
    OUTPUT_HELP=FLOAT_OUTPUT,
    NODATA_HELP="normalized convolution: nodata and NaN pixels get weight 0 and the weights of "
                "the valid pixels in the kernel are renormalized; input nodata pixels stay "
                "nodata.",
    NOTES="Where the kernel holds no nodata the result equals scipy.ndimage.gaussian_filter "
          "(mode 'reflect': the image is mirrored at its edges) within rounding.")

MedianFilter = filter_algorithm(
    "MedianFilter", ID="medianfilter", DISPLAY_NAME="Median filter", GROUP="smoothing",
    TAGS="median,smooth,smoothing,despeckle,noise,salt and pepper,focal,moving window",
    FILTER=filters.median, PARAMS=(SIZE,), OUTPUT_LABEL="Smoothed",
    DESCRIPTION="Replaces each pixel by the median of the valid pixels in the SIZE x SIZE "
                "window centred on it (removes speckle and outliers while keeping edges).",
    OUTPUT_HELP=FLOAT_OUTPUT,
    NODATA_HELP="nodata and NaN pixels are left out of the windows (an even number of valid "
                "pixels gives the mean of the two middle values) and stay nodata.",
    NOTES="Where the window holds no nodata the result equals scipy.ndimage.median_filter "
          "(mode 'reflect') exactly.")

ALGORITHMS = [GaussianFilter, MedianFilter]
