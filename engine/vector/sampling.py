"""Raster values at points: the pixel that contains each point, every band."""

import numpy as np

from ..core.errors import InputError
from .zonal_tables import _valid


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


#: bytes of one strip at most: larger reads go no faster through GDAL's block cache
STRIP_BYTES = 16 * 2**20


def _block_rows(rows):
    """Rows of one block of the file of ``rows`` (1 when it cannot be told)."""
    from ..io.reading import _rasterio
    rasterio, errors = _rasterio()
    try:
        with rasterio.open(rows.path) as ds:
            return max(1, ds.block_shapes[0][0]) if ds.block_shapes else 1
    except errors:
        return 1


def _gather(rows, r, c, memory_budget, workers):
    """(bands, n) values of the Rows ``rows`` (a file) at pixels ``(r, c)``: only the rows
    holding a pixel are read, by strips of whole blocks, ``memory_budget`` bytes in all."""
    from .parallel import map_batches, thread_count
    from ..io.rows import DEFAULT_BUDGET, strip_rows
    bands, height, _ = rows.shape
    out = np.empty((bands, len(r)), dtype=rows.dtype)
    if not len(r):
        return out
    from ..io.direct import direct_pixels
    direct = direct_pixels(rows.path, rows.bands, r, c)  # an uncompressed GeoTIFF's bytes
    if direct is not None:
        return direct
    order = np.argsort(r, kind="stable")
    sorted_rows = r[order]
    threads = thread_count(workers)
    budget = min(memory_budget or DEFAULT_BUDGET, STRIP_BYTES * threads)
    step = strip_rows(height, rows.row_bytes, budget, threads)
    block = _block_rows(rows)
    if step >= block:  # whole blocks: none is decoded twice
        step = step // block * block
    cuts = np.searchsorted(sorted_rows, np.arange(0, height + step, step))
    jobs = [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a]

    def strip(job):
        a, b = job
        picked = order[a:b]
        r0, r1 = int(sorted_rows[a]), int(sorted_rows[b - 1]) + 1  # the rows holding points
        out[:, picked] = rows.read(r0, r1)[:, r[picked] - r0, c[picked]]
    map_batches(strip, jobs, workers)
    return out


def sample_points(raster, xy, transform, nodata=None, memory_budget=None, workers=0):
    """Values of ``raster`` at the points ``xy`` (n, 2), in the raster's CRS.

    ``raster``: a ((bands,) rows, cols) array, or an ``engine.Rows`` (a raster file), of
    which only the rows holding a point are read, by strips of at most ``memory_budget``
    bytes (default 256 MiB) in all, on ``workers`` threads (0 = all cores).
    ``nodata``: one value for every band, or a sequence with one per band.
    Returns ``(values (n, bands) in the raster's dtype, valid (n, bands) bool)``: a point
    outside the raster, or on a nodata/NaN pixel, is not valid (its value is 0).
    """
    from ..io.rows import Rows
    rows = raster if isinstance(raster, Rows) else None
    if rows is not None and rows.in_memory:
        raster, rows = rows.source, None
    if rows is None:
        array = np.asarray(raster)
        if array.ndim == 2:
            array = array[None]
        if array.ndim != 3:
            raise InputError("array", f"expected a (bands, rows, cols) array, got {array.shape}")
        shape, dtype = array.shape, array.dtype
    else:
        shape, dtype = rows.shape, rows.dtype
    bands, height, width = shape
    per_band = list(nodata) if isinstance(nodata, (list, tuple)) else [nodata] * bands
    if len(per_band) != bands:
        raise InputError("nodata", f"{len(per_band)} nodata values for {bands} bands")
    row, col = pixel_of(xy, transform)
    inside = (row >= 0) & (row < height) & (col >= 0) & (col < width)
    r, c = row[inside], col[inside]
    values = np.zeros((len(row), bands), dtype=dtype)
    valid = np.zeros((len(row), bands), dtype=bool)
    if rows is None:
        samples = [array[k][r, c] for k in range(bands)]
    else:
        samples = _gather(rows, r, c, memory_budget, workers)
    for k in range(bands):
        values[inside, k] = samples[k]
        valid[inside, k] = _valid(samples[k], per_band[k])  # neither NaN nor nodata
    return values, valid


def disc_spans(xy, transform, radius, height, width):
    """Spans ``(feature, row, col0, col1)`` of the pixels whose centre lies within ``radius``
    (CRS units, boundary included) of each point ``xy`` (n, 2), on a north-up grid."""
    from .scanline import expand_ranges
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
    point, row = expand_ranges(first, stop)
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


def buffer_statistics(raster, xy, transform, radius, nodata=None, stats=("mean",),
                      percentiles=(), workers=0):
    """Statistics of every band of ``raster`` ((bands,) rows, cols array, or an
    ``engine.Rows``, of which only the rows the discs cross are read) over the pixels whose
    centre lies within ``radius`` (CRS units) of each point ``xy`` (n, 2): the zonal
    statistics of exact discs. Returns ``{name: (n, bands) float64}`` (see
    ``zonal.zonal_statistics``)."""
    from ..io.rows import Rows
    from .zonal import _reduce, check_statistics
    rows = raster if isinstance(raster, Rows) else Rows(np.asarray(raster))
    stats, qs = check_statistics(stats, percentiles)
    bands, height, width = rows.shape
    feature, row, c0, c1 = disc_spans(xy, transform, radius, height, width)
    r0 = int(row.min()) if len(row) else 0
    array = rows.read(r0, int(row.max()) + 1) if len(row) else \
        np.zeros((bands, 0, width), rows.dtype)  # the rows the discs cross
    count = len(np.asarray(xy).reshape(-1, 2))
    per_band = list(nodata) if isinstance(nodata, (list, tuple)) else [nodata] * bands
    results = [_reduce(array[k], per_band[k], feature, row - r0, c0, c1, count, stats, qs,
                       workers, lambda f: None, None) for k in range(bands)]
    return {key: np.column_stack([r[key] for r in results]) for key in results[0]}
