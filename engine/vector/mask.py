"""Burning polygons into a grid, and GRIDR's validity mask."""

import numpy as np

from ..core.errors import InputError
from .geometry import Rings, from_wkb
from .parallel import map_batches
from .scanline import spans

BATCH_FEATURES = 512
STRIP_ROWS = 256


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
    order = np.argsort(start)
    start, stop = start[order], (key + c1)[order]
    reach = np.maximum.accumulate(stop)  # rows never overlap: stop <= next row's key
    new = np.r_[True, start[1:] > reach[:-1]]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(start)] - 1
    return start[first], reach[last]


def burn(rings, shape, transform, all_touched=False, workers=0, out=None):
    """bool (rows, cols): True on pixels covered by any polygon of ``rings`` (a ``Rings`` or
    a list of WKB, in the grid's CRS). Equal to ``rasterio.features.rasterize`` of the
    polygons (cell-centre rule, or ``all_touched``) with a nonzero fill."""
    height, width = shape
    row, c0, c1 = _spans_of(rings, transform, height, width, all_touched, workers)
    covered = np.empty(shape, dtype=bool) if out is None else out
    if not len(row):
        covered[...] = False
        return covered
    # the union of the spans as +1/-1 steps, summed along each row straight into the output
    start, stop = _merge(row, c0, c1, width)
    start_row, start_col = np.divmod(start, width + 1)
    stop_row, stop_col = np.divmod(stop, width + 1)
    cuts = np.searchsorted(start_row, np.arange(0, height + STRIP_ROWS, STRIP_ROWS))
    depth = covered.view(np.int8)

    def strip(i):
        s0, s1 = cuts[i], cuts[i + 1]
        r0 = i * STRIP_ROWS
        h = min(STRIP_ROWS, height - r0)
        if s1 == s0:
            depth[r0:r0 + h] = 0
            return
        steps = np.zeros((h, width), dtype=np.int8)
        flat = steps.reshape(-1)
        flat[(start_row[s0:s1] - r0) * width + start_col[s0:s1]] = 1
        inner = stop_col[s0:s1] < width  # a run to the row's end needs no step down
        flat[(stop_row[s0:s1][inner] - r0) * width + stop_col[s0:s1][inner]] -= 1
        np.cumsum(steps, axis=1, dtype=np.int8, out=depth[r0:r0 + h])
    map_batches(strip, range(len(cuts) - 1), workers)
    return covered


def geometry_mask(shape, transform, valid=None, invalid=None, raster_mask=None,
                  mask_valid_value=1, valid_value=1, invalid_value=0, all_touched=False,
                  workers=0):
    """GRIDR's validity mask, uint8 (rows, cols) on the grid ``shape`` + ``transform``.

    A pixel is valid (``valid_value``) unless ``raster_mask`` (rows, cols) is given and
    differs there from ``mask_valid_value``, or ``valid`` polygons are given and none holds
    it, or one of the ``invalid`` polygons holds it: then it is ``invalid_value``. Polygons:
    ``Rings`` or lists of WKB in the grid's CRS; a pixel is held by the cell-centre rule,
    or when touched (``all_touched``).
    """
    height, width = map(int, shape)
    for name, value in (("valid_value", valid_value), ("invalid_value", invalid_value)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or \
                not 0 <= value <= 255:
            raise InputError(name, f"must be an integer in 0..255, got {value!r}")
    ok = None
    if raster_mask is not None:
        raster_mask = np.asarray(raster_mask)
        if raster_mask.ndim == 3 and raster_mask.shape[0] == 1:
            raster_mask = raster_mask[0]
        if raster_mask.shape != (height, width):
            raise InputError("raster_mask", f"is {raster_mask.shape}, the grid is "
                             f"{(height, width)}")
        ok = raster_mask == mask_valid_value
    if valid is not None:
        inside = burn(valid, (height, width), transform, all_touched, workers)
        ok = inside if ok is None else np.logical_and(ok, inside, out=ok)
    if invalid is not None:
        outside = ~burn(invalid, (height, width), transform, all_touched, workers)
        ok = outside if ok is None else np.logical_and(ok, outside, out=ok)
    if ok is None:
        return np.full((height, width), valid_value, dtype=np.uint8)
    out = ok.view(np.uint8)  # 0/1; then 0 -> invalid_value, 1 -> valid_value (mod 256)
    if (valid_value, invalid_value) != (1, 0):
        out *= np.uint8((valid_value - invalid_value) % 256)
        out += np.uint8(invalid_value)
    return out
