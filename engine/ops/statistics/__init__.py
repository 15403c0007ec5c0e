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

from .driver import DEFAULT_PERCENTILES, band_statistics
from .histograms import DEFAULT_BINS, histogram
from .variance import chan_merge, moments
from .percentiles import bin_index, select, select_edges, select_ranks

__all__ = ["DEFAULT_BINS", "DEFAULT_PERCENTILES", "chan_merge", "histogram", "moments",
           "select", "select_edges", "select_ranks", "band_statistics", "bin_index"]
