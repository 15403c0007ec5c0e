"""Filling nodata holes by inverse-distance interpolation (GDAL's FillNodata)."""

import math

import numpy as np
from rasterio.fill import fillnodata

from ..filter import Filter
from ._params import check_band, check_int, check_known, check_number
from .nodata import invalid_pixels


def _check(profiles, params):
    check_known(params, ("band", "max_distance", "smoothing_iterations"))
    checked = {
        "band": check_band(profiles[0], params.get("band", 1)),
        "max_distance": check_number("max_distance", params.get("max_distance", 100), 0),
        "smoothing_iterations": check_int("smoothing_iterations",
                                          params.get("smoothing_iterations", 0), 0),
    }
    return checked


def _margin(params):
    # GDAL looks at most max_distance pixels away; each smoothing pass reaches one more.
    return math.ceil(params["max_distance"]) + params["smoothing_iterations"]


def _outputs(profiles, params):
    p = profiles[0]
    return [p.replace(count=1, descriptions=(p.descriptions[params["band"] - 1],))]


def _fill_nodata(buffers, profiles, params):
    band = buffers[0][params["band"] - 1]
    if len(buffers) > 1:
        to_fill = buffers[1][0] != 0
    else:
        to_fill = invalid_pixels(band, profiles[0].nodata)
    if not to_fill.any() or to_fill.all():
        return [band[None]]
    filled = fillnodata(np.array(band), mask=(~to_fill).view(np.uint8),
                        max_search_distance=params["max_distance"],
                        smoothing_iterations=params["smoothing_iterations"])
    return [filled[None]]


fill_nodata = Filter("fill_nodata", _fill_nodata, margin=_margin, outputs=_outputs, check=_check,
                     inputs=(1, 2))
"""Fill ``band``'s nodata (or the pixels where the optional 2nd input is nonzero) like
``rasterio.fill.fillnodata`` on the whole image, bit for bit. Unfilled pixels keep their value."""
