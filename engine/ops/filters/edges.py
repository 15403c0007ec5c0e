"""Edge detectors and derivatives (scipy.ndimage kernels, per pixel, no pixel size).

Nodata policy: a derivative is computed only where its whole stencil is valid; elsewhere the
output is nodata (the input's nodata value, else NaN), so nodata grows by the stencil radius.
Border: reflect. Outputs float32 (float64 for float64 input).
"""

import numpy as np

from ...core.lazy import lazy_module

from ...core.filter import Filter
from ..params import check_band, check_choice, check_known
from .windows import band_outputs, fill_value, float_dtype, footprint, selected_bands, working
from .smoothing import check_gaussian, gaussian_margin, gaussian_radius

ndi = lazy_module("scipy.ndimage")  # imported at the first filter run


def _outputs(profiles, params):
    return band_outputs(profiles, params, float_dtype(profiles[0].dtype))


def _strict(buffers, profiles, params, fp, compute):
    """``compute(values with nodata zeroed)`` where the footprint holds no nodata."""
    source, nodata = buffers[0], profiles[0].nodata
    bands = selected_bands(params, source.shape[0])
    out = np.empty((len(bands),) + source.shape[1:], dtype=float_dtype(source.dtype))
    for i, b in enumerate(bands):
        values, invalid = working(source[b - 1], nodata)
        values[invalid] = 0.0
        result = compute(values)
        if invalid.any():
            result[ndi.maximum_filter(invalid, footprint=fp, mode="reflect")] = fill_value(nodata)
        out[i] = result
    return [out]


# -- sobel ---------------------------------------------------------------------------------
def _check_sobel(profiles, params):
    check_known(params, ("output", "band"))
    return {"output": check_choice("output", params.get("output", "magnitude"),
                                   ("magnitude", "x", "y")),
            "band": check_band(profiles[0], params.get("band"), allow_none=True)}


def sobel_of(values, output):
    if output == "x":
        return ndi.sobel(values, axis=1, mode="reflect")
    if output == "y":
        return ndi.sobel(values, axis=0, mode="reflect")
    return np.hypot(ndi.sobel(values, axis=1, mode="reflect"),
                    ndi.sobel(values, axis=0, mode="reflect"))


def _sobel(buffers, profiles, params):
    return _strict(buffers, profiles, params, footprint("square", 1),
                   lambda v: sobel_of(v, params["output"]))


sobel = Filter("sobel", _sobel, margin=1, outputs=_outputs, check=_check_sobel,
               releases_gil=True, runs_in_caller=True)
"""Sobel (``scipy.ndimage.sobel``, unscaled): ``output`` 'x' (along columns, right minus
left), 'y' (along rows, bottom minus top) or 'magnitude' (hypot of both). Margin 1; nodata
wherever the 3x3 window holds nodata. Float32 (float64 for float64 input)."""


# -- laplace -------------------------------------------------------------------------------
def _check_band_only(profiles, params):
    check_known(params, ("band",))
    return {"band": check_band(profiles[0], params.get("band"), allow_none=True)}


def _laplace_of(values):
    return ndi.laplace(values, mode="reflect")


def _laplace(buffers, profiles, params):
    return _strict(buffers, profiles, params, footprint("cross", 1), _laplace_of)


laplace = Filter("laplace", _laplace, margin=1, outputs=_outputs, check=_check_band_only,
                 releases_gil=True, runs_in_caller=True)
"""Laplacian with the 5-point stencil (``scipy.ndimage.laplace``). Margin 1; nodata wherever
the pixel or one of its 4 neighbours is nodata. Float32 (float64 for float64 input)."""


# -- gaussian gradient magnitude -----------------------------------------------------------
def _ggm(buffers, profiles, params):
    sigma, truncate = params["sigma"], params["truncate"]
    fp = footprint("square", gaussian_radius(sigma, truncate))
    return _strict(buffers, profiles, params, fp,
                   lambda v: ndi.gaussian_gradient_magnitude(v, sigma, mode="reflect",
                                                             truncate=truncate))


gaussian_gradient_magnitude = Filter("gaussian_gradient_magnitude", _ggm, margin=gaussian_margin,
                                     outputs=_outputs, check=check_gaussian,
                                     releases_gil=True, runs_in_caller=True)
"""``scipy.ndimage.gaussian_gradient_magnitude`` (``sigma`` px; margin = kernel radius
``int(truncate * sigma + 0.5)``). Nodata wherever the kernel's square window holds nodata.
Float32 (float64 for float64 input)."""
