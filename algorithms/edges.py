"""Edges and derivatives: tilewise:sobel, tilewise:laplacian, tilewise:gradientmagnitude."""

from ..engine import filters
from .catalogue import Param, filter_algorithm
from .smoothing import SIGMA, TRUNCATE

DIRECTION = Param("DIRECTION", "output", "Output",
                  "what to compute: the gradient magnitude (hypot of both directions), the x "
                  "derivative (right minus left) or the y derivative (bottom minus top), with "
                  "scipy's unscaled Sobel kernels.", kind="enum",
                  choices=(("Magnitude", "magnitude"), ("X (right minus left)", "x"),
                           ("Y (bottom minus top)", "y")))

FLOAT = ("float32 for integer and float32 inputs, float64 for float64 inputs; same nodata "
         "value as the input (NaN if it has none).")
NOTES = "At the raster edges the image is mirrored (scipy's 'reflect' mode)."

Sobel = filter_algorithm(
    "Sobel", ID="sobel", DISPLAY_NAME="Sobel edge detection", GROUP="edges",
    TAGS="sobel,edges,edge detection,gradient,derivative,high-pass",
    FILTER=filters.sobel, PARAMS=(DIRECTION,), OUTPUT_LABEL="Sobel",
    DESCRIPTION="Sobel operator (3 x 3): derivatives along x and y, or the gradient magnitude.",
    OUTPUT_HELP=FLOAT, NODATA_HELP="an output pixel is nodata where its 3 x 3 window holds "
                                   "nodata or NaN.",
    NOTES=NOTES + " Equals scipy.ndimage.sobel exactly where the window holds no nodata.")

Laplacian = filter_algorithm(
    "Laplacian", ID="laplacian", DISPLAY_NAME="Laplacian", GROUP="edges",
    TAGS="laplace,laplacian,second derivative,edges,curvature,high-pass",
    FILTER=filters.laplace, OUTPUT_LABEL="Laplacian",
    DESCRIPTION="Laplacian with the 5-point stencil (sum of the 4 neighbours minus 4 times the "
                "pixel).",
    OUTPUT_HELP=FLOAT, NODATA_HELP="an output pixel is nodata where the pixel or one of its 4 "
                                   "neighbours is nodata or NaN.",
    NOTES=NOTES + " Equals scipy.ndimage.laplace exactly where the stencil holds no nodata.")

GradientMagnitude = filter_algorithm(
    "GradientMagnitude", ID="gradientmagnitude", DISPLAY_NAME="Gaussian gradient magnitude",
    GROUP="edges", TAGS="gradient,magnitude,gaussian,derivative,edges,smooth",
    FILTER=filters.gaussian_gradient_magnitude, PARAMS=(SIGMA, TRUNCATE),
    OUTPUT_LABEL="Gradient magnitude",
    DESCRIPTION="Magnitude of the gradient computed with Gaussian derivative kernels (edge "
                "strength at the scale SIGMA).",
    OUTPUT_HELP=FLOAT, NODATA_HELP="an output pixel is nodata where the kernel's square window "
                                   "(side 2 int(TRUNCATE * SIGMA + 0.5) + 1) holds nodata or NaN.",
    NOTES=NOTES + " Equals scipy.ndimage.gaussian_gradient_magnitude exactly where the window "
                  "holds no nodata.")

ALGORITHMS = [Sobel, Laplacian, GradientMagnitude]
