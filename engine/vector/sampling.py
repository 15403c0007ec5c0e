"""Raster values at points: the pixel that contains each point, every band."""

import math

import numpy as np

from ..core.errors import InputError


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


def disc_spans(xy, transform, radius, height, width):
    """Spans ``(feature, row, col0, col1)`` of the pixels whose centre lies within ``radius``
    (CRS units, boundary included) of each point ``xy`` (n, 2), on a north-up grid."""
    from .scanline import _expand
    a, b, c, d, e, f = map(float, transform[:6])
    if b != 0 or d != 0:
        raise InputError("transform", "buffers need a north-up grid (no rotation)")
    if not radius > 0:
        raise InputError("radius", f"must be > 0, got {radius!r}")
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    cx, cy = (xy[:, 0] - c) / a, (xy[:, 1] - f) / e      # pixel coordinates
    rx, ry = radius / abs(a), radius / abs(e)           # radius in pixels along each axis
    ok = np.isfinite(cx) & np.isfinite(cy)
    first = np.where(ok, np.ceil(cy - ry - 0.5), 0)
    stop = np.where(ok, np.floor(cy + ry - 0.5) + 1, 0)
    first = np.clip(first, 0, height).astype(np.int64)
    stop = np.clip(stop, 0, height).astype(np.int64)
    point, row = _expand(first, stop)
    dy = (row + 0.5 - cy[point]) / ry
    half = rx * np.sqrt(np.maximum(1 - dy * dy, 0))
    # centres x = col + 0.5 with (x - cx)^2/rx^2 + (y - cy)^2/ry^2 <= 1; the exact test
    # below fixes the rounding of the square root at the two ends
    c0 = np.ceil(cx[point] - half - 0.5).astype(np.int64)
    c1 = np.floor(cx[point] + half - 0.5).astype(np.int64) + 1

    def inside(col):
        ddx = (col + 0.5 - cx[point]) / rx
        return ddx * ddx + dy * dy <= 1
    c0 = np.where(inside(c0 - 1), c0 - 1, np.where(inside(c0), c0, c0 + 1))
    c1 = np.where(inside(c1), c1 + 1, np.where(inside(c1 - 1), c1, c1 - 1))
    c0, c1 = np.clip(c0, 0, width), np.clip(c1, 0, width)
    keep = c0 < c1
    return point[keep], row[keep], c0[keep], c1[keep]


def buffer_statistics(array, xy, transform, radius, nodata=None, stats=("mean",),
                      percentiles=(), workers=0):
    """Statistics of every band of ``array`` ((bands,) rows, cols) over the pixels whose
    centre lies within ``radius`` (CRS units) of each point ``xy`` (n, 2): the zonal
    statistics of exact discs. Returns ``{name: (n, bands) float64}`` (see
    ``zonal.zonal_statistics``)."""
    from .zonal import _reduce, check_statistics
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    stats, qs = check_statistics(stats, percentiles)
    bands, height, width = array.shape
    feature, row, c0, c1 = disc_spans(xy, transform, radius, height, width)
    count = len(np.asarray(xy).reshape(-1, 2))
    per_band = list(nodata) if isinstance(nodata, (list, tuple)) else [nodata] * bands
    results = [_reduce(array[k], per_band[k], feature, row, c0, c1, count, stats, qs,
                       workers, lambda f: None, None) for k in range(bands)]
    return {key: np.column_stack([r[key] for r in results]) for key in results[0]}
