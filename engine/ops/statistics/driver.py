"""The driver :func:`band_statistics`: checks its arguments, then runs ``moments``, the
histogram and the selection passes of the percentiles, and puts each band's results in
one JSON-ready dict."""

import numbers

from ...core.errors import InputError
from ..params import check_int
from ._common import _check_bands
from .histograms import DEFAULT_BINS, _check_range, histogram
from .variance import _moments_with_finite, _public
from .percentiles import SAMPLE_LIMIT, _lerp, _percentile_ranks, select_ranks

DEFAULT_PERCENTILES = (2, 25, 50, 75, 98)


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

    Parameters
    ----------
    engine : Engine
        The Engine holding ``raster``; its tiles run the passes.
    raster : SharedRaster
    band : int, sequence of int or None, optional
        Band numbers (from 1); None (default) all.
    bins : int, optional
        Histogram bins (default 256).
    range : (float, float), sequence of them, or None, optional
        The histogram's range for every band, one per band, or None for each band's
        min..max.
    percentiles : sequence of float, optional
        Percentiles to compute exactly (0 to 100); ``()`` skips the selection passes.
    sample_limit : int, optional
        Values gathered and sorted at most per wanted percentile in the last pass.

    Returns
    -------
    list of dict
        One per band, described below.

    Raises
    ------
    InputError
        Naming the parameter: a band out of range, bad bins, range or percentiles.

    Notes
    -----
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
    selection passes.
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
