"""Smoothing filters."""

import numpy as np

from ..filter import Filter
from ._params import check_band, check_int, check_known
from .nodata import invalid_pixels


def box_sum(values, radius):
    """Sum over the (2r+1)^2 window, with scipy's 'reflect' border, summed in a fixed order.

    Unlike scipy's running sum, the result at a pixel does not depend on where the array
    starts, so tiles give the same bits as the whole image.
    """
    if radius == 0:
        return values.copy()
    padded = np.pad(values, radius, mode="symmetric")  # numpy 'symmetric' == scipy 'reflect'
    rows, cols = values.shape
    width = 2 * radius + 1
    acc = padded[0:rows].copy()
    for k in range(1, width):
        acc += padded[k:k + rows]
    out = acc[:, 0:cols].copy()
    for k in range(1, width):
        out += acc[:, k:k + cols]
    return out


def _check(profiles, params):
    check_known(params, ("size", "band"))
    return {"size": check_int("size", params.get("size", 3), 1, odd=True),
            "band": check_band(profiles[0], params.get("band"), allow_none=True)}


def _radius(params):
    return params["size"] // 2


def _output_dtype(dtype):
    return dtype if np.dtype(dtype).kind == "f" else "float32"


def _outputs(profiles, params):
    p = profiles[0]
    bands = [params["band"]] if params["band"] else range(1, p.count + 1)
    return [p.replace(count=len(bands), dtype=_output_dtype(p.dtype),
                      descriptions=tuple(p.descriptions[b - 1] for b in bands))]


def _mean(buffers, profiles, params):
    source, nodata = buffers[0], profiles[0].nodata
    bands = [params["band"]] if params["band"] else range(1, source.shape[0] + 1)
    radius = params["size"] // 2
    out = np.empty((len(bands),) + source.shape[1:], dtype=_output_dtype(source.dtype))
    fill = np.nan if nodata is None else nodata
    for i, b in enumerate(bands):
        values = source[b - 1].astype(np.float64)
        invalid = invalid_pixels(source[b - 1], nodata)
        if invalid.any():
            values[invalid] = 0.0
            counts = box_sum((~invalid).astype(np.float64), radius)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = box_sum(values, radius) / counts
            mean[invalid] = fill
        else:
            mean = box_sum(values, radius) / float((2 * radius + 1) ** 2)
        out[i] = mean
    return [out]


mean = Filter("mean", _mean, margin=_radius, outputs=_outputs, check=_check)
"""Mean over a ``size`` x ``size`` window, nodata left out of the window and kept in the output."""
