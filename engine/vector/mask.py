"""Burning polygons into a grid, and GRIDR's validity mask."""

import numpy as np

from ..core.errors import InputError
from .geometry import Rings, from_wkb
from .parallel import map_batches, thread_pool
from ..io.rows import DEFAULT_BUDGET, strip_rows
from .scanline import spans

BATCH_FEATURES = 512
STRIP_ROWS = 256   # rows burnt by one thread at a time
RUN_PIXELS = 256   # runs set one by one when a strip has fewer than one per this many pixels
MAX_STRIP_ROWS = 1024   # rows of a strip of mask_strips at most: several strips to overlap


def _spans_of(rings, transform, height, width, all_touched, workers):
    if not isinstance(rings, Rings):
        rings = from_wkb(rings)
    pixel = rings.transformed(transform)

    def batch(start):
        _, row, c0, c1 = spans(pixel.subset(start, min(start + BATCH_FEATURES, rings.count)),
                               height, width, all_touched)
        return row, c0, c1
    parts = map_batches(batch, range(0, rings.count, BATCH_FEATURES), workers)
    if not parts:
        return (np.empty(0, np.int64),) * 3
    return tuple(np.concatenate([p[i] for p in parts]) for i in range(3))


def _merge(row, c0, c1, width):
    """Disjoint, non-adjacent runs covering the union of the spans, sorted by row then col."""
    key = row * np.int64(width + 1)
    start = key + c0
    order = np.argsort(start, kind="stable")  # runs of sorted spans: timsort is fast
    start, stop = start[order], (key + c1)[order]
    reach = np.maximum.accumulate(stop)  # rows never overlap: stop <= next row's key
    new = np.r_[True, start[1:] > reach[:-1]]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(start)] - 1
    return start[first], reach[last]


def _runs(rings, transform, height, width, all_touched, workers):
    """The pixels of the union of the polygons as disjoint runs ``(row, col0, col1)`` int64,
    sorted by row then column."""
    row, c0, c1 = _spans_of(rings, transform, height, width, all_touched, workers)
    if not len(row):
        return row, c0, c1
    start, stop = _merge(row, c0, c1, width)
    start_row, start_col = np.divmod(start, width + 1)
    return start_row, start_col, stop - start_row * (width + 1)


def _fill(runs, r0, out):
    """``out`` (rows, cols) bool: the pixels of ``runs`` in rows ``r0:r0 + rows``."""
    row, c0, c1 = runs
    h, width = out.shape
    depth = out.view(np.int8)
    s0, s1 = np.searchsorted(row, [r0, r0 + h])
    if s1 == s0:
        depth[...] = 0
        return out
    base = (row[s0:s1] - r0) * width
    if (s1 - s0) * RUN_PIXELS < h * width and depth.flags.c_contiguous:
        # few long runs (the union of large polygons): each one set as a slice, a memset,
        # rather than a pass over every pixel
        depth[...] = 0
        flat = depth.reshape(-1)
        for a, b in zip((base + c0[s0:s1]).tolist(), (base + c1[s0:s1]).tolist()):
            flat[a:b] = 1
        return out
    # the runs as +1/-1 steps, summed along each row straight into the output
    steps = np.zeros((h, width), dtype=np.int8)
    flat = steps.reshape(-1)
    flat[base + c0[s0:s1]] = 1
    inner = c1[s0:s1] < width  # a run to the row's end needs no step down
    flat[base[inner] + c1[s0:s1][inner]] -= 1
    np.cumsum(steps, axis=1, dtype=np.int8, out=depth)
    return out


def burn(rings, shape, transform, all_touched=False, workers=0, out=None):
    """bool (rows, cols): True on pixels covered by any polygon of ``rings`` (a ``Rings`` or
    a list of WKB, in the grid's CRS). Equal to ``rasterio.features.rasterize`` of the
    polygons (cell-centre rule, or ``all_touched``) with a nonzero fill."""
    height, width = shape
    runs = _runs(rings, transform, height, width, all_touched, workers)
    covered = np.empty(shape, dtype=bool) if out is None else out
    map_batches(lambda r0: _fill(runs, r0, covered[r0:r0 + STRIP_ROWS]),
                range(0, height, STRIP_ROWS), workers)
    return covered


def check_value(name, value):
    """``value`` (an output value of the mask) as an int in 0..255, else InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
            not 0 <= value <= 255:
        raise InputError(name, f"must be an integer in 0..255, got {value!r}")
    return int(value)


def _raster_mask_rows(raster_mask, height, width):
    from ..io.rows import Rows
    if raster_mask is None:
        return None
    rows = raster_mask if isinstance(raster_mask, Rows) else Rows(np.asarray(raster_mask))
    if rows.shape[0] != 1 or rows.shape[1:] != (height, width):
        shape = rows.shape[1:] if rows.shape[0] == 1 else rows.shape
        raise InputError("raster_mask", f"is {shape}, the grid is {(height, width)}")
    return rows


def mask_strips(shape, transform, valid=None, invalid=None, raster_mask=None,
                mask_valid_value=1, valid_value=1, invalid_value=0, all_touched=False,
                workers=0, memory_budget=None):
    """``geometry_mask`` strip by strip: yields ``(row0, uint8 (rows, cols))`` from the top.

    The polygons' spans are found once; each strip is burnt on ``workers`` threads and the
    ``raster_mask`` (an array or an ``engine.Rows``) read strip by strip, so that about
    ``memory_budget`` bytes (default 256 MiB) hold two strips and their temporaries.
    """
    height, width = map(int, shape)
    check_value("valid_value", valid_value)
    check_value("invalid_value", invalid_value)
    rows = _raster_mask_rows(raster_mask, height, width)
    runs = [None if polygons is None else
            _runs(polygons, transform, height, width, all_touched, workers)
            for polygons in (valid, invalid)]
    # per row: the strip, a bool layer per polygon set, the raster mask strip, the steps
    per_row = width * (3 + (rows.dtype.itemsize if rows is not None else 0))
    step = strip_rows(height, per_row, memory_budget or DEFAULT_BUDGET, 2)
    step = min(step, MAX_STRIP_ROWS)
    if step >= STRIP_ROWS:
        step = step // STRIP_ROWS * STRIP_ROWS
    scale = np.uint8((valid_value - invalid_value) % 256)
    with thread_pool(workers) as pool:
        yield from _strips(height, width, step, min(step, STRIP_ROWS), runs, rows, pool,
                           workers, mask_valid_value, valid_value, invalid_value, scale)


def _strips(height, width, step, sub, runs, rows, pool, workers, mask_valid_value,
            valid_value, invalid_value, scale):
    for r0 in range(0, height, step):
        h = min(step, height - r0)
        if runs == [None, None] and rows is None:
            yield r0, np.full((h, width), valid_value, dtype=np.uint8)
            continue
        ok = np.empty((h, width), dtype=bool)
        held = rows.read(r0, r0 + h)[0] if rows is not None else None

        def part(a, ok=ok, held=held, r0=r0, h=h):
            b = min(a + sub, h)
            piece = ok[a:b]
            if runs[0] is not None:
                _fill(runs[0], r0 + a, piece)
            else:
                piece[...] = True
            if runs[1] is not None:
                piece &= ~_fill(runs[1], r0 + a, np.empty_like(piece))
            if held is not None:
                piece &= held[a:b] == mask_valid_value
            out = piece.view(np.uint8)  # 0/1; then 0 -> invalid_value, 1 -> valid_value
            if (valid_value, invalid_value) != (1, 0):
                out *= scale
                out += np.uint8(invalid_value)
        map_batches(part, range(0, h, sub), workers, pool=pool)
        yield r0, ok.view(np.uint8)


def geometry_mask(shape, transform, valid=None, invalid=None, raster_mask=None,
                  mask_valid_value=1, valid_value=1, invalid_value=0, all_touched=False,
                  workers=0, memory_budget=None):
    """GRIDR's validity mask, uint8 (rows, cols) on the grid ``shape`` + ``transform``.

    A pixel is valid (``valid_value``) unless ``raster_mask`` (rows, cols), an array or an
    ``engine.Rows``, is given and differs there from ``mask_valid_value``, or ``valid``
    polygons are given and none holds it, or one of the ``invalid`` polygons holds it:
    then it is ``invalid_value``. Polygons: ``Rings`` or lists of WKB in the grid's CRS; a
    pixel is held by the cell-centre rule, or when touched (``all_touched``).
    ``memory_budget``: bytes for the temporaries (see ``mask_strips``), beside the result.
    """
    height, width = map(int, shape)
    out = np.empty((height, width), dtype=np.uint8)
    for r0, strip in mask_strips(shape, transform, valid, invalid, raster_mask,
                                 mask_valid_value, valid_value, invalid_value, all_touched,
                                 workers, memory_budget):
        out[r0:r0 + len(strip)] = strip
    return out


def write_geometry_mask(path, profile, valid=None, invalid=None, raster_mask=None,
                        mask_valid_value=1, valid_value=1, invalid_value=0,
                        all_touched=False, workers=0, memory_budget=None, options=(),
                        driver="GTiff", progress=None, cancel=None):
    """Write ``geometry_mask`` on the grid of ``profile`` (an engine ``Profile``: its height,
    width, transform, CRS) to ``path`` (one uint8 band), strip by strip (``mask_strips``,
    within ``memory_budget`` bytes): each strip is written while the next one is burnt,
    through a temporary file renamed into place (``RasterWriter``: a failure or a cancel
    leaves nothing at ``path``). ``progress(fraction)`` after each strip; ``cancel() ->
    bool`` polled between strips (raises Cancelled). Returns the absolute path written."""
    from concurrent.futures import ThreadPoolExecutor

    from ..core.errors import Cancelled
    from ..io.writing import RasterWriter
    height = profile.height
    strips = mask_strips((height, profile.width), profile.transform, valid, invalid,
                         raster_mask, mask_valid_value, valid_value, invalid_value,
                         all_touched, workers, memory_budget)
    with RasterWriter(path, profile, options, driver) as writer, \
            ThreadPoolExecutor(1, thread_name_prefix="tilewise-mask-write") as pool:
        pending = None
        for r0, strip in strips:
            if pending is not None:
                pending.result()
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the caller")
            pending = pool.submit(writer.write, strip[None], r0)
            if progress is not None:
                progress((r0 + len(strip)) / height)
        if pending is not None:
            pending.result()
    return writer.path
