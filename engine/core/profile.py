"""Raster profiles: everything about a raster except its pixels."""

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import InputError

SUPPORTED_DTYPES = ("uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64")


@dataclass(frozen=True)
class Profile:
    """Shape, type and georeferencing of a raster (bands, rows, cols).

    ``transform`` is the affine ``(a, b, c, d, e, f)`` of rasterio;
    ``crs_wkt`` is the full WKT of the CRS, or None.
    """

    count: int
    height: int
    width: int
    dtype: str
    crs_wkt: str = None
    transform: tuple = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    nodata: float = None
    descriptions: tuple = field(default=())

    def __post_init__(self):
        dtype = np.dtype(self.dtype).name
        if dtype not in SUPPORTED_DTYPES:
            raise InputError("dtype", f"unsupported data type {dtype!r}; "
                             f"supported: {', '.join(SUPPORTED_DTYPES)}")
        object.__setattr__(self, "dtype", dtype)
        for name in ("count", "height", "width"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise InputError(name, f"must be a positive integer, got {value!r}")
            object.__setattr__(self, name, int(value))
        object.__setattr__(self, "transform", tuple(float(v) for v in self.transform[:6]))
        descriptions = tuple(self.descriptions or ())
        if len(descriptions) != self.count:
            descriptions = (descriptions + (None,) * self.count)[:self.count]
        object.__setattr__(self, "descriptions", descriptions)
        if self.nodata is not None:
            object.__setattr__(self, "nodata", float(self.nodata))

    @property
    def shape(self):
        """(bands, rows, cols)."""
        return (self.count, self.height, self.width)

    @property
    def pixel_bytes(self):
        """Bytes of one pixel, every band."""
        return self.count * np.dtype(self.dtype).itemsize

    @property
    def nbytes(self):
        return self.height * self.width * self.pixel_bytes

    def replace(self, **changes):
        """A copy with ``changes`` applied (like ``dataclasses.replace``)."""
        if "count" in changes and "descriptions" not in changes:
            changes["descriptions"] = ()
        return replace(self, **changes)

    def window(self, row0, col0, height, width):
        """The profile of the sub-array starting at (row0, col0), with its transform shifted."""
        if isinstance(height, bool) or int(height) != height or height < 1 \
                or isinstance(width, bool) or int(width) != width or width < 1:
            raise InputError("window", f"must be at least 1 x 1 pixels, got {height!r} x {width!r}")
        a, b, c, d, e, f = self.transform
        # every other field is already checked: skip __post_init__ (this runs once per tile)
        window = object.__new__(Profile)
        window.__dict__.update(self.__dict__, height=int(height), width=int(width),
                               transform=(a, b, c + a * col0 + b * row0,
                                          d, e, f + d * col0 + e * row0))
        return window

    def same_grid(self, other):
        """True when both rasters share rows, cols, transform and CRS."""
        return ((self.height, self.width) == (other.height, other.width)
                and np.allclose(self.transform, other.transform, rtol=0, atol=1e-9 * max(
                    1.0, *(abs(v) for v in self.transform)))
                and _same_crs(self.crs_wkt, other.crs_wkt))


def _same_crs(wkt_a, wkt_b):
    if wkt_a == wkt_b:
        return True
    if not wkt_a or not wkt_b:
        return False
    from rasterio.crs import CRS
    return CRS.from_wkt(wkt_a) == CRS.from_wkt(wkt_b)


def check_same_grid(profiles, labels=None):
    """InputError unless every profile has the first one's size, CRS and geotransform.

    ``labels``: the inputs' names in the message (default ``input 0``, ``input 1``, ...).
    """
    if not profiles:
        return
    name = (lambda i: repr(labels[i])) if labels else (lambda i: f"input {i}")
    first = profiles[0]
    for i, p in enumerate(profiles[1:], start=1):
        if (p.height, p.width) != (first.height, first.width):
            raise InputError("inputs", f"{name(i)} is {p.height}x{p.width} pixels, "
                             f"{name(0)} is {first.height}x{first.width}: not on one grid")
        if not first.same_grid(p):
            raise InputError("inputs", f"{name(i)} has another CRS or geotransform "
                             f"than {name(0)}: not on one grid")
