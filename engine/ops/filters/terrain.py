"""Terrain analysis on a DEM, like ``gdaldem`` (Horn's 3x3 derivatives).

Pixel size comes from the tile profile's transform (``a`` east-west, ``e`` north-south, in CRS
units; b and d are assumed 0); elevations are multiplied by ``z_factor`` where it applies (for a
geographic CRS in degrees with elevations in metres, pass z_factor = 1/111120, like gdaldem's
``-s 111120``). Edges as gdaldem without ``-compute_edges``: the 1-pixel image border and every
pixel whose 3x3 window holds nodata (or NaN) are nodata. Margin 1. Outputs float32 with nodata
-9999 (gdaldem's), except hillshade: uint8 1..255 with nodata 0 (gdaldem's).
"""

import math

import numpy as np

from ...core.errors import InputError
from ...core.filter import Filter
from ..params import (check_band, check_between, check_bool, check_choice, check_known,
                      check_positive)
from .windows import selected_bands
from .nodata import invalid_pixels

NODATA = -9999.0
HILLSHADE_NODATA = 0


def _windows(band, nodata):
    """The 9 views (row-major, w[4] = centre) of the band padded with NaN, and the bad mask."""
    values = band.astype(np.float64)
    values[invalid_pixels(band, nodata)] = np.nan
    padded = np.pad(values, 1, mode="constant", constant_values=np.nan)
    rows, cols = band.shape
    w = [padded[dy:dy + rows, dx:dx + cols] for dy in range(3) for dx in range(3)]
    bad = np.zeros(band.shape, dtype=bool)
    for view in w:
        bad |= np.isnan(view)
    return w, bad


def horn(w, transform):
    """(dz/dx east, dz/dy north) by Horn's formula; pixel size from ``transform`` (a, e)."""
    a, e = transform[0], transform[4]
    dx = ((w[2] + 2 * w[5] + w[8]) - (w[0] + 2 * w[3] + w[6])) / (8 * a)
    # one row down moves e along y (e < 0 for north-up rasters)
    dy = ((w[6] + 2 * w[7] + w[8]) - (w[0] + 2 * w[1] + w[2])) / (8 * e)
    return dx, dy


def _run(buffers, profiles, params, compute, dtype=np.float32, nodata=NODATA):
    source = buffers[0]
    bands = selected_bands(params, source.shape[0])
    out = np.empty((len(bands),) + source.shape[1:], dtype=dtype)
    for i, b in enumerate(bands):
        w, bad = _windows(source[b - 1], profiles[0].nodata)
        with np.errstate(invalid="ignore", divide="ignore"):
            result = compute(w, profiles[0].transform)
        result[bad] = nodata
        out[i] = result
    return [out]


def _outputs(profiles, params, dtype="float32", nodata=NODATA):
    p = profiles[0]
    bands = selected_bands(params, p.count)
    return [p.replace(count=len(bands), dtype=dtype, nodata=nodata,
                      descriptions=tuple(p.descriptions[b - 1] for b in bands))]


def _hillshade_outputs(profiles, params):
    return _outputs(profiles, params, "uint8", HILLSHADE_NODATA)


def _base_check(profiles, params, known):
    check_known(params, known + ("band",))
    p = profiles[0]
    a, e = p.transform[0], p.transform[4]
    if a == 0 or e == 0:
        raise InputError("transform", f"pixel size must be nonzero, got a={a}, e={e}")
    return {"band": check_band(p, params.get("band", 1), allow_none=True)}


# -- slope ---------------------------------------------------------------------------------
def _check_slope(profiles, params):
    checked = _base_check(profiles, params, ("units", "z_factor"))
    checked["units"] = check_choice("units", params.get("units", "degrees"),
                                    ("degrees", "percent"))
    checked["z_factor"] = check_positive("z_factor", params.get("z_factor", 1.0))
    return checked


def _slope(buffers, profiles, params):
    z, percent = params["z_factor"], params["units"] == "percent"

    def compute(w, transform):
        dx, dy = horn(w, transform)
        rise = z * np.sqrt(dx * dx + dy * dy)
        return 100.0 * rise if percent else np.degrees(np.arctan(rise))
    return _run(buffers, profiles, params, compute)


slope = Filter("slope", _slope, margin=1, outputs=_outputs, check=_check_slope,
               releases_gil=True, runs_in_caller=True)
"""Slope (Horn), ``units`` 'degrees' (default) or 'percent', elevations times ``z_factor``.
Matches ``gdaldem slope`` (``-p`` for percent, ``-s 1/z_factor``). float32, nodata -9999."""


# -- aspect --------------------------------------------------------------------------------
def _check_aspect(profiles, params):
    checked = _base_check(profiles, params, ("zero_for_flat",))
    checked["zero_for_flat"] = check_bool("zero_for_flat", params.get("zero_for_flat", False))
    return checked


def _aspect(buffers, profiles, params):
    flat_value = 0.0 if params["zero_for_flat"] else NODATA

    def compute(w, transform):
        dx, dy = horn(w, transform)
        angle = np.degrees(np.arctan2(-dy, -dx))  # downslope direction, east = 0, counter-clockwise
        azimuth = np.where(angle > 90.0, 450.0 - angle, 90.0 - angle)
        azimuth = np.where(azimuth >= 360.0, azimuth - 360.0, azimuth)
        return np.where((dx == 0) & (dy == 0), flat_value, azimuth)
    return _run(buffers, profiles, params, compute)


aspect = Filter("aspect", _aspect, margin=1, outputs=_outputs, check=_check_aspect,
                releases_gil=True, runs_in_caller=True)
"""Aspect (Horn): azimuth of the downslope direction in degrees, 0 = north, clockwise, in
[0, 360). Flat pixels are nodata (-9999), or 0 with ``zero_for_flat``. Matches ``gdaldem
aspect`` (``-zero_for_flat``). float32."""


# -- hillshade -----------------------------------------------------------------------------
def _check_hillshade(profiles, params):
    checked = _base_check(profiles, params, ("azimuth", "altitude", "z_factor"))
    checked["azimuth"] = check_between("azimuth", params.get("azimuth", 315.0), 0, 360)
    checked["altitude"] = check_between("altitude", params.get("altitude", 45.0), 0, 90)
    checked["z_factor"] = check_positive("z_factor", params.get("z_factor", 1.0))
    return checked


def _hillshade(buffers, profiles, params):
    az, alt = math.radians(params["azimuth"]), math.radians(params["altitude"])
    z = params["z_factor"]

    def compute(w, transform):
        dx, dy = horn(w, transform)
        dx, dy = z * dx, z * dy
        cang = ((math.sin(alt) - math.cos(alt) * (math.sin(az) * dx + math.cos(az) * dy))
                / np.sqrt(1.0 + dx * dx + dy * dy))
        shade = np.where(cang <= 0.0, 1.0, 1.0 + 254.0 * cang)
        return np.floor(np.nan_to_num(shade) + 0.5)
    return _run(buffers, profiles, params, compute, np.uint8, HILLSHADE_NODATA)


hillshade = Filter("hillshade", _hillshade, margin=1, outputs=_hillshade_outputs,
                   check=_check_hillshade, releases_gil=True, runs_in_caller=True)
"""Hillshade (Horn): light from ``azimuth`` degrees (default 315, clockwise from north) at
``altitude`` degrees (default 45) above the horizon, elevations times ``z_factor``. uint8:
1 + 254 * cos(incidence), 1 in shadow, 0 = nodata. Matches ``gdaldem hillshade -z``."""


# -- roughness and TRI ---------------------------------------------------------------------
def _check_roughness(profiles, params):
    return _base_check(profiles, params, ())


def _roughness_of(w, transform):
    high, low = w[0].copy(), w[0].copy()
    for view in w[1:]:
        np.maximum(high, view, out=high)
        np.minimum(low, view, out=low)
    return high - low


def _roughness(buffers, profiles, params):
    return _run(buffers, profiles, params, _roughness_of)


roughness = Filter("roughness", _roughness, margin=1, outputs=_outputs, check=_check_roughness,
                   releases_gil=True, runs_in_caller=True)
"""Roughness: max - min of the 3x3 window, like ``gdaldem roughness``. float32, nodata -9999."""


def _check_tri(profiles, params):
    checked = _base_check(profiles, params, ("algorithm",))
    checked["algorithm"] = check_choice("algorithm", params.get("algorithm", "riley"),
                                        ("riley", "wilson"))
    return checked


def _tri(buffers, profiles, params):
    wilson = params["algorithm"] == "wilson"

    def compute(w, transform):
        acc = np.zeros(w[4].shape)
        for k in (0, 1, 2, 3, 5, 6, 7, 8):
            d = w[k] - w[4]
            acc += np.abs(d) if wilson else d * d
        return acc / 8.0 if wilson else np.sqrt(acc)
    return _run(buffers, profiles, params, compute)


tri = Filter("tri", _tri, margin=1, outputs=_outputs, check=_check_tri, releases_gil=True,
             runs_in_caller=True)
"""Terrain Ruggedness Index over the 8 neighbours: ``algorithm`` 'riley' (default, sqrt of
the sum of squared differences to the centre) or 'wilson' (mean absolute difference), like
``gdaldem TRI -alg Riley|Wilson``. float32, nodata -9999."""

