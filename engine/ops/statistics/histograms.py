"""The ``histogram`` reducer: per band, ``bins`` equal bins over a given range, as
``numpy.histogram`` on the whole band, with the values outside counted apart."""

import math
import numbers

import numpy as np

from ...core.errors import InputError
from ...core.filter import Reducer
from ..params import check_int, check_known
from ._common import _check_bands, _valid

DEFAULT_BINS = 256


def _check_range(value, name="range"):
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(name, f"must be a pair (lo, hi) of numbers, got {value!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo > hi:
        raise InputError(name, f"must be finite with lo <= hi, got {value!r}")
    return lo, hi


def _check_histogram(profiles, params):
    check_known(params, ("band", "bins", "range"))
    bands = _check_bands(profiles[0], params.get("band"))
    bins = check_int("bins", params.get("bins", DEFAULT_BINS), 1)
    ranges = params.get("range")
    if ranges is None:
        raise InputError("range", "is required by the histogram reducer (use "
                         "band_statistics() to take each band's min..max)")
    ranges = list(ranges)
    if len(ranges) == 2 and all(isinstance(v, numbers.Real) for v in ranges):
        ranges = [ranges] * len(bands)
    if len(ranges) != len(bands):
        raise InputError("range", f"give one (lo, hi) pair, or one per band ({len(bands)})")
    return {"band": bands, "bins": bins, "range": tuple(_check_range(r) for r in ranges)}


def _histogram(buffers, profiles, params):
    partials = []
    for band, (lo, hi) in zip(params["band"], params["range"]):
        values, _ = _valid(buffers, profiles, band)
        values = values.astype(np.float64, copy=False)
        counts, _ = np.histogram(values, params["bins"], range=(lo, hi))
        partials.append((counts.astype(np.int64), int(np.count_nonzero(values < lo)),
                         int(np.count_nonzero(values > hi))))
    return partials


def _merge_histogram(partials, params):
    results = []
    for i, (lo, hi) in enumerate(params["range"]):
        counts = np.zeros(params["bins"], dtype=np.int64)
        below = above = 0
        for part in partials:
            counts += part[i][0]
            below += part[i][1]
            above += part[i][2]
        edges = np.histogram_bin_edges(np.empty(0), params["bins"], range=(lo, hi))
        results.append({"bins": params["bins"], "range": [lo, hi],
                        "edges": [float(e) for e in edges], "counts": [int(c) for c in counts],
                        "below": below, "above": above})
    return results


histogram = Reducer("histogram", _histogram, _merge_histogram, check=_check_histogram,
                    releases_gil=True, runs_in_caller=True)
"""Per band: ``bins`` counts over ``range`` (required), as ``numpy.histogram`` on the band."""
