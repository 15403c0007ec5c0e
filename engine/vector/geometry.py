"""Polygons as plain arrays: WKB decoding and world -> pixel coordinates."""

import struct
from dataclasses import dataclass

import numpy as np

from ..core.errors import InputError

# WKB geometry types (ISO: +1000 Z, +2000 M, +3000 ZM; EWKB: flag bits)
POINT, POLYGON, MULTIPOINT, MULTIPOLYGON, COLLECTION = 1, 3, 4, 6, 7
_EWKB_Z, _EWKB_M, _EWKB_SRID = 0x80000000, 0x40000000, 0x20000000


@dataclass(frozen=True)
class Rings:
    """The rings of ``count`` polygon features.

    ``xy``: float64 (n, 2) vertices of every ring, ring after ring; ``offsets``: int64 (rings + 1)
    where each ring starts in ``xy``; ``feature``: int64 (rings) feature index of each ring.
    A ring is closed implicitly (its last vertex joins its first). Exterior rings and holes
    are not told apart: pixels are inside by the even-odd rule, as in GDAL's rasterize.
    """

    xy: np.ndarray
    offsets: np.ndarray
    feature: np.ndarray
    count: int

    @classmethod
    def from_lists(cls, polygons):
        """``polygons``: one list of rings per feature, each ring a sequence of (x, y)."""
        xy, offsets, feature = [], [0], []
        for index, rings in enumerate(polygons):
            for ring in rings:
                ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
                xy.append(ring)
                offsets.append(offsets[-1] + len(ring))
                feature.append(index)
        return cls(np.concatenate(xy) if xy else np.empty((0, 2)),
                   np.asarray(offsets, dtype=np.int64), np.asarray(feature, dtype=np.int64),
                   len(polygons))

    def subset(self, start, stop):
        """Features ``start:stop``, renumbered from 0."""
        r0, r1 = np.searchsorted(self.feature, [start, stop])
        offsets = self.offsets[r0:r1 + 1]
        return Rings(self.xy[offsets[0]:offsets[-1]], offsets - offsets[0],
                     self.feature[r0:r1] - start, stop - start)

    def bounds(self):
        """(count, 4) float64 ``xmin, ymin, xmax, ymax`` of each feature; NaN without rings."""
        out = np.full((self.count, 4), np.nan)
        if len(self.xy):
            owner = np.repeat(self.feature, np.diff(self.offsets))
            starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
            f = owner[starts]
            for k, (ufunc, axis) in enumerate(((np.minimum, 0), (np.minimum, 1),
                                               (np.maximum, 0), (np.maximum, 1))):
                out[f, k] = ufunc.reduceat(self.xy[:, axis], starts)
        return out

    def transformed(self, transform):
        """The rings in pixel coordinates (column, row) of a raster with ``transform``."""
        return Rings(world_to_pixel(self.xy, transform), self.offsets, self.feature, self.count)


def inverse_transform(transform):
    """The inverse of a rasterio-order affine ``(a, b, c, d, e, f)``, as GDALInvGeoTransform."""
    a, b, c, d, e, f = map(float, transform[:6])
    if b == 0 and d == 0:
        if a == 0 or e == 0:
            raise InputError("transform", "the geotransform is degenerate (zero pixel size)")
        return (1 / a, 0.0, -c / a, 0.0, 1 / e, -f / e)
    det = a * e - b * d
    if det == 0:
        raise InputError("transform", "the geotransform is not invertible")
    inv = 1 / det
    return (e * inv, -b * inv, (b * f - c * e) * inv, -d * inv, a * inv, (c * d - a * f) * inv)


def world_to_pixel(xy, transform):
    """(n, 2) world coordinates -> (n, 2) float64 (column, row) pixel coordinates."""
    ia, ib, ic, id_, ie, if_ = inverse_transform(transform)
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[:, 0], xy[:, 1]
    return np.column_stack((ic + x * ia + y * ib, if_ + x * id_ + y * ie))


class _Reader:
    def __init__(self, data):
        self.data, self.pos = memoryview(data), 0

    def header(self):
        order = "<" if self.data[self.pos] == 1 else ">"
        (code,) = struct.unpack_from(order + "I", self.data, self.pos + 1)
        self.pos += 5
        dims = 2
        if code & (_EWKB_Z | _EWKB_M | _EWKB_SRID):
            dims += bool(code & _EWKB_Z) + bool(code & _EWKB_M)
            if code & _EWKB_SRID:
                self.pos += 4
            code &= 0x0FFFFFFF
        else:
            dims += {0: 0, 1: 1, 2: 1, 3: 2}.get(code // 1000, 0)
            code %= 1000
        return order, code, dims

    def count(self, order):
        (n,) = struct.unpack_from(order + "I", self.data, self.pos)
        self.pos += 4
        return n

    def coords(self, order, n, dims):
        values = np.frombuffer(self.data, dtype=order + "f8", count=n * dims, offset=self.pos)
        self.pos += 8 * n * dims
        return values.reshape(n, dims)[:, :2]


def _polygon_rings(reader, order, dims, out):
    for _ in range(reader.count(order)):
        n = reader.count(order)
        out.append(reader.coords(order, n, dims))


def _collect(reader, out, index):
    order, code, dims = reader.header()
    if code == POLYGON:
        _polygon_rings(reader, order, dims, out)
    elif code in (MULTIPOLYGON, COLLECTION):
        for _ in range(reader.count(order)):
            _collect(reader, out, index)
    else:
        raise InputError("geometry", f"feature {index}: WKB type {code} is not a polygon "
                         "(curved geometries must be segmentized first)")


def _u32(buf, pos):
    """Little-endian uint32 at each of the byte positions ``pos`` of ``buf`` (uint8)."""
    return (buf[pos].astype(np.int64) | buf[pos + 1].astype(np.int64) << 8 |
            buf[pos + 2].astype(np.int64) << 16 | buf[pos + 3].astype(np.int64) << 24)


def _single_rings(wkbs):
    """``Rings`` when every WKB is a little-endian 2D polygon of one ring, or a multipolygon
    of one such polygon (what most layers hold), parsed with numpy at once; else None."""
    if not wkbs or any(not w for w in wkbs):
        return None
    lengths = np.fromiter((len(w) for w in wkbs), np.int64, count=len(wkbs))
    if lengths.min() < 13:
        return None
    buf = np.frombuffer(b"".join(bytes(w) for w in wkbs), np.uint8)
    start = np.r_[0, np.cumsum(lengths)[:-1]]
    kind = _u32(buf, start + 1)
    multi = kind == MULTIPOLYGON
    if not np.all(buf[start] == 1) or not np.all((kind == POLYGON) | multi):
        return None
    head = np.where(multi, 9, 0) + start  # the polygon's own header
    if multi.any():
        m = start[multi]
        if lengths[multi].min() < 22 or not np.all(_u32(buf, m + 5) == 1) or \
                not np.all(buf[m + 9] == 1) or not np.all(_u32(buf, m + 10) == POLYGON):
            return None
    if not np.all(_u32(buf, head + 5) == 1):
        return None
    points = _u32(buf, head + 9)
    if not np.array_equal(head + 13 + 16 * points, start + lengths):
        return None
    offsets = np.zeros(len(wkbs) + 1, dtype=np.int64)
    np.cumsum(points, out=offsets[1:])
    total = int(offsets[-1])
    # every byte but the headers is a coordinate, in order: drop the headers' bytes
    from .scanline import expand_ranges
    coordinate = np.ones(len(buf), dtype=bool)
    coordinate[expand_ranges(start, head + 13)[1]] = False
    xy = buf[coordinate].view("<f8").reshape(total, 2).astype(np.float64)
    keep = points > 0
    return Rings(xy, np.r_[0, offsets[1:][keep]], np.flatnonzero(keep).astype(np.int64),
                 len(wkbs))


def from_wkb(wkbs):
    """Rings of polygon and multipolygon features given as WKB (ISO or EWKB, 2D/Z/M).

    ``None`` or empty bytes give a feature without rings (it covers no pixel).
    """
    fast = _single_rings(wkbs) if isinstance(wkbs, (list, tuple)) else None
    if fast is not None:
        return fast
    xy, lengths, feature = [], [], []
    for index, wkb in enumerate(wkbs):
        if not wkb:
            continue
        rings = []
        try:
            _collect(_Reader(wkb), rings, index)
        except (struct.error, ValueError, IndexError) as error:
            raise InputError("geometry", f"feature {index}: invalid WKB ({error})") from None
        for ring in rings:
            if len(ring):
                xy.append(ring)
                lengths.append(len(ring))
                feature.append(index)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Rings(np.concatenate(xy) if xy else np.empty((0, 2)), offsets,
                 np.asarray(feature, dtype=np.int64), len(wkbs))


def points_from_wkb(wkbs):
    """Point and multipoint WKB -> ``(xy (n, 2), feature (n))``, every part of a multipoint."""
    xy, feature = [], []
    for index, wkb in enumerate(wkbs):
        if not wkb:
            continue
        reader = _Reader(wkb)
        order, code, dims = reader.header()
        if code == POINT:
            parts = [reader.coords(order, 1, dims)]
        elif code == MULTIPOINT:
            parts = []
            for _ in range(reader.count(order)):
                o, c, d = reader.header()
                parts.append(reader.coords(o, 1, d))
        else:
            raise InputError("geometry", f"feature {index}: WKB type {code} is not a point")
        for part in parts:
            if np.all(np.isfinite(part)):  # an empty point is NaN, NaN
                xy.append(part)
                feature.append(index)
    return (np.concatenate(xy) if xy else np.empty((0, 2)),
            np.asarray(feature, dtype=np.int64))
