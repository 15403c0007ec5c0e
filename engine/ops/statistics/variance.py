"""The ``moments`` reducer: per band, counts, min, max, sum, mean, variance and std, each
tile summarised as ``(n, mean, M2)`` with compensated sums and the tiles merged with Chan
et al.'s parallel update (:func:`chan_merge`)."""

import math

import numpy as np

from ...core.filter import Reducer
from ..params import check_known
from ._common import _check_bands, _plain, _valid


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
