"""Raster values at points: the pixel that contains each point, every band."""

import math

import numpy as np

from ..errors import InputError


def pixel_of(xy, transform):
    """(n, 2) world coordinates -> ``(row, col)`` int64 of the pixel containing each point.

    Without rotation this is ``floor((x - c) / a)``, ``floor((y - f) / e)``, as QGIS's GDAL
    provider samples; rotated grids use the inverse transform.
    """
    a, b, c, d, e, f = map(float, transform[:6])
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    if b == 0 and d == 0:
        col, row = (xy[:, 0] - c) / a, (xy[:, 1] - f) / e
    else:
        from .geometry import world_to_pixel
        px = world_to_pixel(xy, transform)
        col, row = px[:, 0], px[:, 1]
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(col) & np.isfinite(row)
        col = np.where(ok, np.floor(col), -1).astype(np.int64)
        row = np.where(ok, np.floor(row), -1).astype(np.int64)
    return row, col


def sample_points(array, xy, transform, nodata=None):
    """Values of ``array`` ((bands,) rows, cols) at the points ``xy`` (n, 2), in the raster's
    CRS. Returns ``(values (n, bands) in the array's dtype, valid (n, bands) bool)``: a point
    outside the raster, or on a nodata/NaN pixel, is not valid (its value is 0).
    ``nodata``: one value for every band, or a sequence with one per band."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3:
        raise InputError("array", f"expected a (bands, rows, cols) array, got {array.shape}")
    bands, height, width = array.shape
    row, col = pixel_of(xy, transform)
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    r, c = row[inside], col[inside]
    values = np.zeros((len(row), bands), dtype=array.dtype)
    valid = np.zeros((len(row), bands), dtype=bool)
    per_band = list(nodata) if isinstance(nodata, (list, tuple)) else [nodata] * bands
    if len(per_band) != bands:
        raise InputError("nodata", f"{len(per_band)} nodata values for {bands} bands")
    for k in range(bands):
        v = array[k][r, c]
        ok = ~np.isnan(v) if v.dtype.kind == "f" else np.ones(len(v), bool)
        nd = per_band[k]
        if nd is not None and not (isinstance(nd, float) and math.isnan(nd)):
            ok &= v != nd
        values[inside, k] = v
        valid[inside, k] = ok
    return values, valid
