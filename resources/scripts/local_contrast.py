"""Tilewise custom filter: local contrast, max - min over a square window, band by band.

Parameter: ``size`` (odd, default 3). The filter reaches ``size // 2`` pixels, which
``margin`` tells the engine, so tiled results equal a whole-image run bit for bit.
The border is handled by reflection (``scipy.ndimage`` ``mode="reflect"``). Nodata
pixels (and NaN) are left out of the window; a nodata pixel stays nodata. Output:
same data type and nodata value as the input (NaN nodata for float inputs without one).

Ordinary Python: it runs with your rights, in worker processes (never in QGIS itself).
"""

import numpy as np
from scipy import ndimage


def margin(params):
    return params.get("size", 3) // 2


def check(profiles, params):
    size = params.get("size", 3)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1 or size % 2 == 0:
        from tilewise.engine import InputError
        raise InputError("size", f"must be an odd integer >= 1, got {size!r}")
    return {"size": size}


def output_profiles(profiles, params):
    p = profiles[0]
    if p.nodata is None and np.dtype(p.dtype).kind == "f":
        p = p.replace(nodata=float("nan"))
    return [p]


def filter(buffers, profiles, params):
    source, nodata, size = buffers[0], profiles[0].nodata, params["size"]
    out = np.empty(source.shape, dtype=source.dtype)
    fill = nodata if nodata is not None else np.nan
    for i, band in enumerate(source):
        invalid = np.isnan(band) if band.dtype.kind == "f" else np.zeros(band.shape, bool)
        if nodata is not None and not np.isnan(nodata):
            invalid |= band == nodata
        values = band.astype(np.float64)
        high = ndimage.maximum_filter(np.where(invalid, -np.inf, values), size, mode="reflect")
        low = ndimage.minimum_filter(np.where(invalid, np.inf, values), size, mode="reflect")
        contrast = high - low
        out[i] = np.where(invalid, fill, contrast) if band.dtype.kind == "f" else \
            np.where(invalid, fill, np.clip(contrast, 0, np.iinfo(band.dtype).max))
    return [out]
