"""Burning polygons into a grid, and GRIDR's validity mask."""

import numpy as np

from ..errors import InputError
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


def burn(rings, shape, transform, all_touched=False, workers=0, out=None):
    """bool (rows, cols): True on pixels covered by any polygon of ``rings`` (a ``Rings`` or
    a list of WKB, in the grid's CRS). Equal to ``rasterio.features.rasterize`` of the
    polygons (cell-centre rule, or ``all_touched``) with a nonzero fill."""
    height, width = shape
    row, c0, c1 = _spans_of(rings, transform, height, width, all_touched, workers)
    covered = np.zeros(shape, dtype=bool) if out is None else out
    order = np.argsort(row, kind="stable")
    row, c0, c1 = row[order], c0[order], c1[order]
    cuts = np.searchsorted(row, np.arange(0, height + STRIP_ROWS, STRIP_ROWS))

    def strip(i):
        s0, s1 = cuts[i], cuts[i + 1]
        if s1 == s0:
            return
        r0 = i * STRIP_ROWS
        h = min(STRIP_ROWS, height - r0)
        base = (row[s0:s1] - r0) * (width + 1)
        size = h * (width + 1)
        depth = np.bincount(base + c0[s0:s1], minlength=size) - \
            np.bincount(base + c1[s0:s1], minlength=size)
        depth = np.cumsum(depth.reshape(h, width + 1)[:, :width], axis=1)
        covered[r0:r0 + h] |= depth > 0
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
    ok = np.ones((height, width), dtype=bool)
    if raster_mask is not None:
        raster_mask = np.asarray(raster_mask)
        if raster_mask.ndim == 3 and raster_mask.shape[0] == 1:
            raster_mask = raster_mask[0]
        if raster_mask.shape != (height, width):
            raise InputError("raster_mask", f"is {raster_mask.shape}, the grid is "
                             f"{(height, width)}")
        np.equal(raster_mask, mask_valid_value, out=ok)
    if valid is not None:
        ok &= burn(valid, (height, width), transform, all_touched, workers)
    if invalid is not None:
        ok &= ~burn(invalid, (height, width), transform, all_touched, workers)
    out = np.full((height, width), invalid_value, dtype=np.uint8)
    out[ok] = valid_value
    return out
