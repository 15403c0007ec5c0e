"""Smoothing filters."""

import numpy as np

from ...core.lazy import lazy_module

from ...core.errors import InputError
from ...core.filter import Filter
from ..params import check_band, check_known, check_positive, check_window
from .windows import band_outputs, float_dtype, per_band, reflect_pad
from .nodata import invalid_pixels

ndi = lazy_module("scipy.ndimage")  # imported at the first filter run


def box_sum(values, radius):
    """Sum over the (2r+1)^2 window, with scipy's 'reflect' border, summed in a fixed order.

    Unlike scipy's running sum, the result at a pixel does not depend on where the array
    starts, so tiles give the same bits as the whole image.
    """
    if radius == 0:
        return values.copy()
    padded = reflect_pad(values, radius)
    rows, cols = values.shape
    width = 2 * radius + 1
    acc = padded[0:rows] + padded[1:rows + 1]
    for k in range(2, width):
        acc += padded[k:k + rows]
    out = acc[:, 0:cols] + acc[:, 1:cols + 1]
    for k in range(2, width):
        out += acc[:, k:k + cols]
    return out


def _check(profiles, params):
    check_known(params, ("size", "band"))
    return {"size": check_window("size", params.get("size")),
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
            # integer counts are exact; as float64 they equal a float sum of ones
            counts = box_sum((~invalid).astype(np.int32), radius).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = box_sum(values, radius) / counts
            mean[invalid] = fill
        else:
            mean = box_sum(values, radius) / float((2 * radius + 1) ** 2)
        out[i] = mean
    return [out]


mean = Filter("mean", _mean, margin=_radius, outputs=_outputs, check=_check,
              releases_gil=True, runs_in_caller=True)
"""Mean over a ``size`` x ``size`` window, nodata left out of the window and kept in the output."""


def gaussian_radius(sigma, truncate):
    """The kernel radius scipy uses: ``int(truncate * sigma + 0.5)``."""
    return int(truncate * sigma + 0.5)


def check_gaussian(profiles, params):
    """``sigma`` (required, > 0), ``truncate`` (4.0) and ``band`` of a Gaussian kernel."""
    check_known(params, ("sigma", "truncate", "band"))
    if "sigma" not in params:
        raise InputError("sigma", "is required (standard deviation in pixels, > 0)")
    return {"sigma": check_positive("sigma", params["sigma"]),
            "truncate": check_positive("truncate", params.get("truncate", 4.0)),
            "band": check_band(profiles[0], params.get("band"), allow_none=True)}


def gaussian_margin(params):
    return gaussian_radius(params["sigma"], params["truncate"])


def _float_outputs(profiles, params):
    return band_outputs(profiles, params, float_dtype(profiles[0].dtype))


def _normalized_gaussian(values, invalid, sigma, truncate):
    """filter(values, nodata zeroed) / filter(valid mask); explicit weighted sums (correlate1d)."""
    kw = dict(sigma=sigma, truncate=truncate, mode="reflect")
    num = ndi.gaussian_filter(np.where(invalid, 0.0, values), **kw)
    den = ndi.gaussian_filter((~invalid).astype(np.float64), **kw)
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _gaussian(buffers, profiles, params):
    sigma, truncate = params["sigma"], params["truncate"]
    return [per_band(buffers, profiles, params, float_dtype(buffers[0].dtype),
                     lambda v, i: _normalized_gaussian(v, i, sigma, truncate))]


gaussian = Filter("gaussian", _gaussian, margin=gaussian_margin, outputs=_float_outputs,
                  check=check_gaussian, releases_gil=True, runs_in_caller=True)
"""Gaussian smoothing (``sigma`` px, kernel radius ``int(truncate * sigma + 0.5)`` = margin),
as a normalized convolution: nodata pixels get weight 0 and the weights of the valid ones are
renormalized; nodata stays nodata. Equals ``scipy.ndimage.gaussian_filter`` (mode reflect) to
within rounding where the kernel holds no nodata. Integer inputs give float32."""


def _windowed_median(values, invalid, size):
    """scipy's median filter where the window is all valid; near nodata, the median of the
    valid pixels, gathered per pixel, so the slow path costs only where holes are."""
    out = ndi.median_filter(np.where(invalid, 0.0, values), size=size, mode="reflect")
    if invalid.any():
        dirty = ndi.maximum_filter(invalid, size=size, mode="reflect") & ~invalid
        rows, cols = np.nonzero(dirty)
        out[rows, cols] = _valid_median_at(values, invalid, size, rows, cols)
    return out


def _valid_median_at(values, invalid, size, rows, cols, chunk=2**15):
    """Median of the valid pixels of the size x size windows centred on (rows, cols); an even
    count averages the two middle values. Borders mirror like scipy's 'reflect'."""
    r = size // 2
    padded = np.pad(np.where(invalid, np.inf, values), r, mode="symmetric")
    offsets = np.arange(size)
    out = np.empty(len(rows))
    for start in range(0, len(rows), chunk):
        rr = rows[start:start + chunk, None, None] + offsets[None, :, None]
        cc = cols[start:start + chunk, None, None] + offsets[None, None, :]
        windows = np.sort(padded[rr, cc].reshape(len(rr), -1), axis=1)  # nodata (inf) last
        n = np.isfinite(windows).sum(axis=1)
        at = np.arange(len(rr))
        low, high = windows[at, (n - 1) // 2], windows[at, n // 2]
        out[start:start + chunk] = np.where(n % 2 == 1, low, (low + high) / 2)
    return out


def _median(buffers, profiles, params):
    size = params["size"]
    return [per_band(buffers, profiles, params, float_dtype(buffers[0].dtype),
                     lambda v, i: _windowed_median(v, i, size))]


median = Filter("median", _median, margin=_radius, outputs=_float_outputs, check=_check,
                releases_gil=True, runs_in_caller=True)
"""Median of the valid pixels in a ``size`` x ``size`` window (odd ``size``; an even count
averages the two middle values); nodata stays nodata. Equals ``scipy.ndimage.median_filter``
(mode reflect) exactly where the window holds no nodata. Integer inputs give float32."""
