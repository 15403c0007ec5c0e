"""Focal (moving-window) statistics of the valid pixels, on the window library
(``windows``): exact, so a tile gives the same bits as the whole image."""

import numpy as np

from ...core.errors import InputError
from ...core.filter import Filter
from ..params import (check_band, check_between, check_choice, check_known,
                      check_window)
from .windows import (band_outputs, float_dtype, footprint, per_band, reflect_pad, shifted,
                      window_extreme, window_majority, window_percentile, window_sums)

STATISTICS = ("min", "max", "range", "sum", "mean", "std", "variance", "median", "percentile",
              "majority")
_KEEP_DTYPE = ("min", "max", "majority")


def statistic(values, invalid, fp, name, q=None):
    """Float64 focal statistic ``name`` (see STATISTICS) of the valid pixels."""
    if name in ("min", "max"):
        return window_extreme(values, invalid, fp, name)
    if name == "range":
        return window_extreme(values, invalid, fp, "max") - window_extreme(values, invalid, fp,
                                                                             "min")
    if name == "median":
        return window_percentile(values, invalid, fp, 50.0)
    if name == "percentile":
        return window_percentile(values, invalid, fp, q)
    if name == "majority":
        return window_majority(values, invalid, fp)
    total, count = window_sums(values, invalid, fp)
    if name == "sum":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        if name == "mean":
            return mean
        r = fp.shape[0] // 2
        zeroed = np.where(invalid, 0.0, values)
        squares = np.zeros(values.shape)
        for z, v in zip(shifted(reflect_pad(zeroed, r), fp, values.shape),
                        shifted(reflect_pad(~invalid, r), fp, values.shape)):
            d = z - mean
            squares += np.where(v, d * d, 0.0)
        variance = squares / count
    return variance if name == "variance" else np.sqrt(variance)


# -- the filter ----------------------------------------------------------------------------
def output_dtype(name, dtype):
    if name in _KEEP_DTYPE:
        return np.dtype(dtype).name
    if name == "sum":
        return "float64"
    return float_dtype(dtype)


def _check(profiles, params):
    check_known(params, ("statistic", "shape", "size", "radius", "q", "band"))
    name = check_choice("statistic", params.get("statistic", "mean"), STATISTICS)
    shape = check_choice("shape", params.get("shape", "square"), ("square", "circle"))
    checked = {"statistic": name, "shape": shape,
               "band": check_band(profiles[0], params.get("band"), allow_none=True)}
    if shape == "square":
        if params.get("radius") is not None:
            raise InputError("radius", "only for shape='circle'; a square window takes size")
        size = check_window("size", params.get("size"))
        checked["radius"] = size // 2
    else:
        if params.get("size") is not None:
            raise InputError("size", "only for shape='square'; a circle takes radius")
        checked["radius"] = check_between("radius", params.get("radius", 1), 0, 1e4)
    if name == "percentile":
        if params.get("q") is None:
            raise InputError("q", "statistic='percentile' needs q (0 to 100)")
        checked["q"] = check_between("q", params["q"], 0, 100)
    elif params.get("q") is not None:
        raise InputError("q", "only for statistic='percentile'")
    return checked


def _margin(params):
    return int(params["radius"])


def _outputs(profiles, params):
    return band_outputs(profiles, params, output_dtype(params["statistic"], profiles[0].dtype))


def _focal(buffers, profiles, params):
    shape = "square" if params["shape"] == "square" else "disk"
    fp = footprint(shape, params["radius"])
    dtype = output_dtype(params["statistic"], buffers[0].dtype)
    return [per_band(buffers, profiles, params, dtype,
                     lambda v, i: statistic(v, i, fp, params["statistic"], params.get("q")))]


focal_statistics = Filter("focal_statistics", _focal, margin=_margin, outputs=_outputs,
                          check=_check, releases_gil=True, runs_in_caller=True)
"""Statistic of the valid pixels in a moving window; nodata pixels are left out of every
window and stay nodata in the output.

``statistic``: min, max, range, sum, mean, std, variance (population, ddof=0), median,
percentile (needs ``q`` in [0, 100], linear interpolation), majority (most frequent value,
ties to the smallest). ``shape='square'`` with odd ``size`` (default 3), or
``shape='circle'`` with ``radius`` (pixels with dy^2 + dx^2 <= radius^2). ``band=None``: all
bands. Margin: the window's half-width. Output dtype: min, max, majority keep the input's;
sum is float64; the others are float32 (float64 for float64 input)."""
