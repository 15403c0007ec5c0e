"""Tilewise custom filter: normalised difference (b1 - b2) / (b1 + b2) of two bands.

Parameters: ``band1`` (default 4, e.g. near infrared) and ``band2`` (default 3, e.g. red)
of the single input raster. Output: float32, NaN where either band is nodata or NaN,
or where b1 + b2 == 0. With the defaults on a Sentinel-2-like stack this is the NDVI.

Load it with ``tilewise.engine.load_filter(path)``; this file is ordinary Python
and runs with your rights, in worker processes (never in QGIS itself).
"""

import numpy as np

from tilewise.engine import InputError


def check(profiles, params):
    count = profiles[0].count
    checked = {"band1": params.get("band1", 4), "band2": params.get("band2", 3)}
    for name, band in checked.items():
        if isinstance(band, bool) or not isinstance(band, int) or not 1 <= band <= count:
            raise InputError(name, f"must be a band number in 1..{count}, got {band!r}")
    unknown = set(params) - set(checked)
    if unknown:
        raise InputError(sorted(unknown)[0], "unknown parameter; expected band1, band2")
    return checked


def output_profiles(profiles, params):
    return profiles[0].replace(count=1, dtype="float32", nodata=float("nan"),
                               descriptions=(f"normalised difference of bands "
                                             f"{params['band1']} and {params['band2']}",))


def _invalid(values, nodata):
    invalid = np.isnan(values) if values.dtype.kind == "f" else np.zeros(values.shape, bool)
    if nodata is not None and not np.isnan(nodata):
        invalid |= values == nodata
    return invalid


def filter(buffers, profiles, params):
    source, nodata = buffers[0], profiles[0].nodata
    b1, b2 = source[params["band1"] - 1], source[params["band2"] - 1]
    invalid = _invalid(b1, nodata) | _invalid(b2, nodata)
    a, b = b1.astype(np.float64), b2.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        result = (a - b) / (a + b)
    result[invalid | ~np.isfinite(result)] = np.nan
    return [result.astype(np.float32)[None]]
