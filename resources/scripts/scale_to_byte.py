"""Tilewise custom filter: a linear stretch of every band to uint8 (changes the data type).

Parameters: ``low`` and ``high`` (required numbers, low < high): ``low`` maps to 1 and
``high`` to 255, values outside are clipped. Nodata and NaN input pixels become 0, the
output's nodata value. Useful for quicklooks: take ``low``/``high`` from
``tilewise.engine.statistics.statistics`` percentiles (e.g. 2 and 98).

Ordinary Python: it runs with your rights, in worker processes (never in QGIS itself).
"""

import numpy as np

from tilewise.engine import InputError


def check(profiles, params):
    try:
        low, high = float(params["low"]), float(params["high"])
    except KeyError as missing:
        raise InputError(missing.args[0], "is required") from None
    if not low < high:
        raise InputError("high", f"must be greater than low ({low}), got {high}")
    return {"low": low, "high": high}


def output_profiles(profiles, params):
    return [profiles[0].replace(dtype="uint8", nodata=0)]


def filter(buffers, profiles, params):
    source, nodata = buffers[0], profiles[0].nodata
    low, high = params["low"], params["high"]
    values = source.astype(np.float64)
    invalid = np.isnan(values)
    if nodata is not None and not np.isnan(nodata):
        invalid |= source == nodata
    with np.errstate(invalid="ignore"):
        scaled = 1.0 + (values - low) * (254.0 / (high - low))
        scaled = np.rint(np.clip(scaled, 1.0, 255.0))
    scaled[invalid] = 0.0
    return [scaled.astype(np.uint8)]
