"""Exact percentiles by selection: the ``select`` reducer (counts over narrowing intervals,
or their sorted values), the passes of :func:`select_ranks` that find the values at given
ranks, and numpy's linear interpolation between them."""

import math

import numpy as np

from ...core.errors import InputError
from ...core.filter import Reducer
from ..params import check_band, check_int, check_known
from ._common import _valid

SELECT_BINS = 4096          # bins per selection pass
SAMPLE_LIMIT = 65536        # values gathered at most per percentile interval in the last pass
MAX_SELECT_PASSES = 64


def select_edges(lo, hi, bins):
    """Bin edges of ``[lo, hi)`` for a selection pass: monotone, first ``lo``, last ``hi``."""
    t = np.arange(bins + 1, dtype=np.float64) / bins
    width = hi - lo
    if math.isfinite(width):
        edges = lo + t * width
    else:
        edges = lo + (t * (hi / 2 - lo / 2)) * 2
    edges[0], edges[-1] = lo, hi
    return np.maximum.accumulate(edges)


def bin_index(values, edges):
    """``searchsorted(edges, values, side="right") - 1`` for values in [edges[0], edges[-1]).

    Edges are nearly uniform, so a linear guess corrected by one step is right almost
    always; it is checked, and any value it misses goes through searchsorted. O(n), where
    searchsorted is O(n log bins).
    """
    bins = len(edges) - 1
    with np.errstate(all="ignore"):
        scale = bins / (edges[-1] - edges[0])
        guess = (values - edges[0]) * scale
    if not np.isfinite(scale) or values.size == 0:
        return np.searchsorted(edges, values, side="right") - 1
    index = np.clip(np.nan_to_num(guess, nan=0.0), 0, bins - 1).astype(np.intp)
    index -= values < edges[index]
    index += values >= edges[index + 1]
    np.clip(index, 0, bins - 1, out=index)
    wrong = (values < edges[index]) | (values >= edges[index + 1])
    if wrong.any():
        index[wrong] = np.searchsorted(edges, values[wrong], side="right") - 1
    return index


def _check_select(profiles, params):
    check_known(params, ("requests", "bins"))
    requests = []
    for band, lo, hi, mode in params["requests"]:
        if mode not in ("hist", "collect"):
            raise InputError("requests", f"unknown mode {mode!r}")
        requests.append((check_band(profiles[0], band), float(lo), float(hi), mode))
    return {"requests": tuple(requests), "bins": check_int("bins", params.get("bins",
                                                                           SELECT_BINS), 1)}


def _select(buffers, profiles, params):
    cache = {}
    partials = []
    for band, lo, hi, mode in params["requests"]:
        if band not in cache:
            values, _ = _valid(buffers, profiles, band)
            cache[band] = values.astype(np.float64, copy=False)
        values = cache[band]
        inside = values[(values >= lo) & (values < hi)]
        if mode == "collect":
            partials.append(np.sort(inside))
            continue
        edges = select_edges(lo, hi, params["bins"])
        index = bin_index(inside, edges)
        counts = np.bincount(index, minlength=params["bins"])[:params["bins"]]
        partials.append((counts.astype(np.int64),
                         float(inside.min()) if inside.size else None,
                         float(inside.max()) if inside.size else None))
    return partials


def _merge_select(partials, params):
    results = []
    for i, (_, _, _, mode) in enumerate(params["requests"]):
        if mode == "collect":
            results.append(np.sort(np.concatenate([p[i] for p in partials])))
            continue
        counts = np.zeros(params["bins"], dtype=np.int64)
        found = []
        for part in partials:
            counts += part[i][0]
            if part[i][1] is not None:
                found.append(part[i][1:])
        low = min(f[0] for f in found) if found else None
        high = max(f[1] for f in found) if found else None
        results.append((counts, low, high))
    return results


select = Reducer("select", _select, _merge_select, check=_check_select,
                 releases_gil=True, runs_in_caller=True)
"""Per request ``(band, lo, hi, mode)``: over the valid values ``lo <= v < hi``, either
``"hist"`` -> (counts over :func:`select_edges`, min, max) or ``"collect"`` -> the sorted values."""


def _percentile_ranks(n, q):
    """numpy's 'linear' percentile: (lower rank, upper rank, gamma) for ``q`` in 0..100.

    Mirrors ``numpy.lib.function_base._quantile`` (numpy 1.24) step by step, so that the
    interpolation rounds exactly as ``numpy.percentile`` does.
    """
    quantile = np.true_divide(np.float64(q), 100)
    virtual = (n - 1) * quantile
    previous = np.floor(virtual)
    low, high = int(previous), int(previous) + 1
    if virtual >= n - 1:       # numpy takes the last value, and its index -1 enters gamma
        previous, low, high = np.float64(-1), n - 1, n - 1
    elif virtual < 0:
        previous, low, high = np.float64(0), 0, 0
    gamma = virtual - previous
    return low, high, gamma


def _lerp(a, b, t):
    """numpy's ``_lerp``, on float64 scalars, so percentiles match ``numpy.percentile``."""
    a, b = np.float64(a), np.float64(b)
    with np.errstate(invalid="ignore"):
        diff = b - a
        if t >= 0.5:
            return float(b - diff * (1 - t))
        return float(a + diff * t)


def select_ranks(engine, raster, band, finite, ranks, bins=SELECT_BINS,
                 sample_limit=SAMPLE_LIMIT):
    """Exact values at 0-based ``ranks`` of the sorted valid values of ``band``.

    ``finite`` is ``(finite count, -inf count, +inf count, finite min, finite max)``.
    Each pass of :data:`select` narrows every pending rank to one bin of its interval
    (``bins`` times narrower); an interval holding at most ``sample_limit`` values is
    gathered and read off exactly, and one whose values are all equal is done at once.
    Memory: the parent holds at most ``sample_limit`` values per distinct interval.
    """
    n_finite, neg_inf, pos_inf, fmin, fmax = finite
    values = {}
    pending = {}  # rank among finite values -> (lo, hi, below, count)
    for rank in ranks:
        if rank < neg_inf:
            values[rank] = -math.inf
        elif rank >= neg_inf + n_finite:
            values[rank] = math.inf
        else:
            pending[rank] = (fmin, float(np.nextafter(fmax, np.inf)), 0, n_finite)
    passes = 0
    while pending:
        passes += 1
        if passes > MAX_SELECT_PASSES:
            raise RuntimeError("percentile selection did not converge")  # cannot happen
        intervals = {}
        for lo, hi, below, count in pending.values():
            intervals[(lo, hi)] = "collect" if count <= sample_limit else "hist"
        keys = list(intervals)
        answers = engine.reduce(select, raster, bins=bins,
                                requests=[(band, lo, hi, intervals[(lo, hi)])
                                          for lo, hi in keys])
        answer_of = dict(zip(keys, answers))
        for rank, (lo, hi, below, count) in list(pending.items()):
            answer = answer_of[(lo, hi)]
            k = rank - neg_inf - below
            if intervals[(lo, hi)] == "collect":
                values[rank] = float(answer[k])
                del pending[rank]
                continue
            counts, low, high = answer
            if low == high:
                values[rank] = low
                del pending[rank]
                continue
            cumulative = np.cumsum(counts)
            j = int(np.searchsorted(cumulative, k, side="right"))
            edges = select_edges(lo, hi, bins)
            before = int(cumulative[j - 1]) if j else 0
            pending[rank] = (float(edges[j]), float(edges[j + 1]), below + before,
                             int(counts[j]))
    return values
