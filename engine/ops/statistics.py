"""Per-band statistics of a raster (N images -> M scalars), merged soundly across tiles.

Three reducers, usable with ``Engine.reduce``, and one driver that chains them:

* :data:`moments`: count of valid pixels, count of nodata pixels, min, max, sum, mean,
  variance and std. **Population** statistics (divide by ``count``, numpy's ``ddof=0``).
  Each tile computes ``(n, mean, M2)`` with a two-pass, compensated formula
  (``M2 = sum(d*d) - sum(d)**2 / n`` with ``d = x - mean``); tiles are merged with Chan et
  al.'s parallel update, so values like ``1e9 + noise`` keep their variance (a naive
  ``sum(x*x)/n - mean**2`` loses every digit there).
* :data:`histogram`: ``bins`` equal bins over ``range=(lo, hi)``, exactly as
  ``numpy.histogram(values, bins, range)`` on the whole band (last bin closed; values
  outside the range are counted in ``below``/``above``, not in the bins).
* :data:`select`: the building block of exact percentiles (see below).
* :func:`band_statistics`: everything above for each band, with the histogram range defaulting
  to the band's min..max and exact percentiles. It runs ``moments`` first, then the
  histogram, then a few selection passes (usually 1 to 3): see :func:`band_statistics`.

Nodata pixels (the raster's nodata value, or NaN in float rasters) are left out everywhere;
``nodata_count`` counts them. All arithmetic is float64 and every result is a plain
Python number (int, float or None), so a result is JSON-serialisable.

Across tilings and worker counts, ``count``, ``nodata_count``, ``min``, ``max``, the
histogram and the percentiles are identical; ``sum``, ``mean``, ``variance`` and ``std``
may differ in the last bits (relative difference below 1e-12 for ``sum`` and ``mean``
and, for ``std``, below 1e-9 of ``std`` plus 1e-15 of ``|mean|``).
"""

import math
import numbers

import numpy as np

from ..core.errors import InputError
from ..core.filter import Reducer
from .params import check_band, check_int, check_known
from .filters.nodata import invalid_pixels

DEFAULT_BINS = 256
DEFAULT_PERCENTILES = (2, 25, 50, 75, 98)
SELECT_BINS = 4096          # bins per selection pass
SAMPLE_LIMIT = 65536        # values gathered at most per percentile interval in the last pass
MAX_SELECT_PASSES = 64


def _check_bands(profile, bands):
    if bands is None:
        return tuple(range(1, profile.count + 1))
    if isinstance(bands, numbers.Integral) and not isinstance(bands, bool):
        bands = [bands]
    try:
        bands = list(bands)
    except TypeError:
        raise InputError("band", f"must be a band number or a list of them, got {bands!r}") \
            from None
    if not bands:
        raise InputError("band", "is an empty list")
    return tuple(check_band(profile, b) for b in bands)


def _valid(buffers, profiles, band):
    """(valid values in their own dtype, 1-D; number of nodata pixels) of a 1-based band."""
    values = buffers[0][band - 1]
    invalid = invalid_pixels(values, profiles[0].nodata)
    if invalid.any():
        return values[~invalid], int(np.count_nonzero(invalid))
    return values.ravel(), 0


def _plain(value):
    """A numpy scalar as a Python int or float."""
    return value.item() if hasattr(value, "item") else value


# -- moments -------------------------------------------------------------------------------

def _check_moments(profiles, params):
    check_known(params, ("band",))
    return {"band": _check_bands(profiles[0], params.get("band"))}


def _tile_moments(values):
    """(n, (mean, mean_lo), M2, sum, -inf count, +inf count, finite min, finite max).

    The mean is kept as an unevaluated pair ``mean + mean_lo`` (the compensation of the
    two-pass formula), so that merging tiles whose means differ by less than one ulp
    (``1e9 + noise``) still sees the true difference.
    """
    n = values.size
    with np.errstate(invalid="ignore", over="ignore"):  # infinities: handled below
        total = float(values.sum())
        mean = total / n
        d = values - mean
        sd = float(d.sum())
        m2 = float(np.sum(d * d)) - sd * sd / n
    neg_inf = pos_inf = 0
    fmin, fmax = float(values.min()), float(values.max())
    if not (math.isfinite(fmin) and math.isfinite(fmax)):
        neg_inf = int(np.count_nonzero(values == -np.inf))
        pos_inf = int(np.count_nonzero(values == np.inf))
        finite = values[np.isfinite(values)]
        fmin, fmax = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    return n, _two_sum(mean, sd / n), max(m2, 0.0), total, neg_inf, pos_inf, fmin, fmax


def _two_sum(a, b):
    """(s, e) with s = fl(a + b) and s + e == a + b exactly (Knuth)."""
    s = a + b
    if not math.isfinite(s):
        return s, 0.0
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _moments(buffers, profiles, params):
    partials = []
    for band in params["band"]:
        values, nodata_count = _valid(buffers, profiles, band)
        if values.size == 0:
            partials.append((0, nodata_count, None, None, None))
            continue
        partials.append((values.size, nodata_count, _plain(values.min()), _plain(values.max()),
                         _tile_moments(values.astype(np.float64, copy=False))))
    return partials


def chan_merge(a, b):
    """Merge two ``(n, mean, M2)`` summaries (Chan, Golub & LeVeque's parallel update).

    ``mean`` is a float or a ``(mean, mean_lo)`` pair whose sum is the mean; the result's
    mean is such a pair. ``M2`` is the sum of squared deviations from the mean::

        delta = mean_b - mean_a
        n     = n_a + n_b
        mean  = mean_a + delta * n_b / n
        M2    = M2_a + M2_b + delta**2 * n_a * n_b / n
    """
    n_a, mean_a, m2_a = a
    n_b, mean_b, m2_b = b
    hi_a, lo_a = mean_a if isinstance(mean_a, tuple) else (mean_a, 0.0)
    hi_b, lo_b = mean_b if isinstance(mean_b, tuple) else (mean_b, 0.0)
    if n_a == 0:
        return n_b, (hi_b, lo_b), m2_b
    if n_b == 0:
        return n_a, (hi_a, lo_a), m2_a
    n = n_a + n_b
    delta = (hi_b - hi_a) + (lo_b - lo_a)
    hi, err = _two_sum(hi_a, delta * (n_b / n))
    mean = _two_sum(hi, lo_a + err)
    m2 = m2_a + m2_b + delta * delta * (n_a * (n_b / n))
    return n, mean, m2


def _merge_moments(partials, params):
    results = []
    for i, band in enumerate(params["band"]):
        count = nodata_count = 0
        low = high = fmin = fmax = None
        summary = (0, 0.0, 0.0)
        sums = []
        neg_inf = pos_inf = 0
        for part in partials:
            n, nd, lo, hi, tile = part[i]
            count += n
            nodata_count += nd
            if n == 0:
                continue
            low = lo if low is None else min(low, lo)
            high = hi if high is None else max(high, hi)
            tn, tmean, tm2, tsum, tneg, tpos, tfmin, tfmax = tile
            summary = chan_merge(summary, (tn, tmean, tm2))
            sums.append(tsum)
            neg_inf += tneg
            pos_inf += tpos
            if tfmin is not None:
                fmin = tfmin if fmin is None else min(fmin, tfmin)
                fmax = tfmax if fmax is None else max(fmax, tfmax)
        result = {"band": band, "count": count, "nodata_count": nodata_count, "min": low,
                  "max": high, "sum": None, "mean": None, "variance": None, "std": None}
        if count:
            n, (mean_hi, mean_lo), m2 = summary
            mean = mean_hi + mean_lo
            with np.errstate(invalid="ignore"):
                total = math.fsum(sums) if all(map(math.isfinite, sums)) else \
                    float(np.sum(sums))
            variance = m2 / n
            if not (neg_inf or pos_inf):
                result.update(sum=total, mean=mean, variance=variance,
                              std=math.sqrt(variance))
            else:  # as numpy would say
                with np.errstate(invalid="ignore"):
                    inf_mean = float(np.float64(total) / n)
                result.update(sum=total, mean=inf_mean, variance=math.nan, std=math.nan)
        # kept for the percentile driver; not part of the documented result
        result["_finite"] = (count - neg_inf - pos_inf, neg_inf, pos_inf, fmin, fmax)
        results.append(result)
    return results


def _public(results):
    for result in results:
        result.pop("_finite", None)
    return results


def _merge_public_moments(partials, params):
    return _public(_merge_moments(partials, params))


moments = Reducer("moments", _moments, _merge_public_moments, check=_check_moments,
                  releases_gil=True, runs_in_caller=True)
"""Per band: count, nodata_count, min, max, sum, mean, variance, std (population)."""
_moments_with_finite = Reducer("moments", _moments, _merge_moments, check=_check_moments,
                               releases_gil=True, runs_in_caller=True)


# -- histogram -----------------------------------------------------------------------------

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


# -- exact selection -----------------------------------------------------------------------

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


# -- everything ----------------------------------------------------------------------------

def _check_percentiles(percentiles):
    try:
        qs = [float(q) for q in percentiles]
    except (TypeError, ValueError):
        raise InputError("percentiles", f"must be a list of numbers in 0..100, "
                         f"got {percentiles!r}") from None
    for q in qs:
        if not 0 <= q <= 100:
            raise InputError("percentiles", f"must be in 0..100, got {q}")
    return qs


def band_statistics(engine, raster, band=None, bins=DEFAULT_BINS, range=None,  # noqa: A002
               percentiles=DEFAULT_PERCENTILES, sample_limit=SAMPLE_LIMIT):
    """All statistics of each band of ``raster``: a list of JSON-ready dicts, one per band.

    Each dict: ``band``, ``count`` (valid pixels), ``nodata_count``, ``min``, ``max``,
    ``sum``, ``mean``, ``variance``, ``std`` (population, ``ddof=0``), ``histogram``
    (``bins``, ``range``, ``edges``, ``counts``, ``below``, ``above``, as
    ``numpy.histogram``) and ``percentiles`` (``{"50": value, ...}``, keys as
    ``format(q, "g")``, exact: equal to ``numpy.percentile(values, q)`` with its default
    linear interpolation, computed in float64). A band with no valid pixel gets ``None``
    for min, max, sum, mean, variance, std and the percentiles, and zero counts.

    Passes over the raster: ``moments`` (1), ``histogram`` (1) and exact selection of the
    percentiles: each pass narrows the interval holding a wanted rank 4096-fold, and an
    interval with at most ``sample_limit`` values is gathered and sorted (memory bound:
    ``sample_limit`` float64 values per wanted percentile). Typical data need 1 to 3
    selection passes; ``percentiles=()`` skips them.

    ``range``: ``(lo, hi)`` for every band, a list of pairs (one per band), or None for
    each band's min..max. ``band``: None (all), a band number or a list of them.
    """
    profile = raster.profile
    bands = _check_bands(profile, band)
    bins = check_int("bins", bins, 1)
    qs = _check_percentiles(percentiles)
    sample_limit = check_int("sample_limit", sample_limit, 1)
    if range is not None:
        ranges = list(range)
        if len(ranges) == 2 and all(isinstance(v, numbers.Real) for v in ranges):
            ranges = [ranges] * len(bands)
        if len(ranges) != len(bands):
            raise InputError("range", f"give one (lo, hi) pair, or one per band ({len(bands)})")
        ranges = [_check_range(r) for r in ranges]
    results = engine.reduce(_moments_with_finite, raster, band=list(bands))
    if range is None:
        ranges = []
        for r in results:
            fmin, fmax = r["_finite"][3], r["_finite"][4]
            ranges.append((float(fmin), float(fmax)) if fmin is not None else (0.0, 1.0))
    histograms = engine.reduce(histogram, raster, band=list(bands), bins=bins, range=ranges)
    for result, hist in zip(results, histograms):
        result["histogram"] = hist
        finite = result["_finite"]
        n = result["count"]
        if not n or not qs:
            result["percentiles"] = {format(q, "g"): None for q in qs}
            continue
        wanted = {q: _percentile_ranks(n, q) for q in qs}
        ranks = sorted({r for low, high, _ in wanted.values() for r in (low, high)})
        found = select_ranks(engine, raster, result["band"], finite, ranks,
                             sample_limit=sample_limit)
        result["percentiles"] = {format(q, "g"): _lerp(found[low], found[high], gamma)
                                 for q, (low, high, gamma) in wanted.items()}
    return _public(results)


__all__ = ["DEFAULT_BINS", "DEFAULT_PERCENTILES", "chan_merge", "histogram", "moments",
           "select", "select_edges", "select_ranks", "band_statistics"]
