"""Built-in reducers (N images -> M scalars): per-band statistics of valid pixels.

Nodata and NaN pixels are left out. Results are lists with one entry per band.
"""

import builtins

import numpy as np

from ..core.filter import Reducer
from .filters.nodata import invalid_pixels


def _valid_bands(buffers, profiles):
    for band in buffers[0]:
        invalid = invalid_pixels(band, profiles[0].nodata)
        yield band[~invalid] if invalid.any() else band.ravel()


def _count(buffers, profiles, params):
    return [int(v.size) for v in _valid_bands(buffers, profiles)]


def _merge_count(partials, params):
    return [int(builtins.sum(col)) for col in zip(*partials)]


def _minmax(buffers, profiles, params):
    return [(v.min().item(), v.max().item()) if v.size else None
            for v in _valid_bands(buffers, profiles)]


def _merge_minmax(partials, params):
    merged = []
    for col in zip(*partials):
        found = [p for p in col if p is not None]
        merged.append((min(p[0] for p in found), max(p[1] for p in found)) if found else None)
    return merged


def _sum(buffers, profiles, params):
    return [float(v.sum(dtype=np.float64)) for v in _valid_bands(buffers, profiles)]


def _merge_sum(partials, params):
    return [float(np.sum(col, dtype=np.float64)) for col in zip(*partials)]


count = Reducer("count", _count, _merge_count, releases_gil=True, runs_in_caller=True)
"""Number of valid pixels per band."""
minmax = Reducer("minmax", _minmax, _merge_minmax, releases_gil=True, runs_in_caller=True)
"""(min, max) of valid pixels per band, or None for a band with none."""
sum = Reducer("sum", _sum, _merge_sum,  # noqa: A001  (named like numpy's)
              releases_gil=True, runs_in_caller=True)
"""Sum of valid pixels per band, accumulated in float64."""
