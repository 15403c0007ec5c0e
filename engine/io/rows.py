"""Rows of a raster read on demand: the source of work that goes through a raster strip by
strip (zonal statistics, point sampling, geometry masks) without holding it whole."""

import numpy as np

from ..core.errors import InputError

#: bytes that work going through a raster by strips holds at once when no budget is given
DEFAULT_BUDGET = 256 * 2**20


class Rows:
    """Bands of a raster, read a strip of rows at a time.

    ``source``: a (rows, cols) or (bands, rows, cols) array (strips are views of it), or the
    path of a raster (strips are read from the file, ``bands`` 1-based, default all).
    Strips are always (bands, rows, cols); ``squeeze`` says that the source was a 2-D array
    (whose results are then 2-D too).
    """

    def __init__(self, source, bands=None):
        profile = None
        if isinstance(source, Rows):
            source, profile = (source.source, None) if source.in_memory else \
                (source.path, source.profile)
        if isinstance(source, np.ndarray) or hasattr(source, "__array__"):
            array = np.asarray(source)
            if array.ndim not in (2, 3):
                raise InputError("band", f"expected a (rows, cols) or (bands, rows, cols) "
                                 f"array, got shape {array.shape}")
            self.squeeze = array.ndim == 2
            self.source = array[None] if array.ndim == 2 else array
            if bands is not None:
                bands = [int(b) for b in bands]
                for b in bands:
                    if not 1 <= b <= self.source.shape[0]:
                        raise InputError("band", f"the array has {self.source.shape[0]} "
                                         f"band(s), not band {b}")
                if bands == list(range(bands[0], bands[0] + len(bands))):
                    self.source = self.source[bands[0] - 1:bands[0] - 1 + len(bands)]  # a view
                else:
                    self.source = self.source[[b - 1 for b in bands]]
            self.path = None
            self.profile = None
        else:
            from .reading import read_profile
            self.path = source
            self.profile = profile or read_profile(source)
            self.bands = list(bands) if bands is not None else \
                list(range(1, self.profile.count + 1))
            for b in self.bands:
                if not 1 <= b <= self.profile.count:
                    raise InputError("band", f"{source} has {self.profile.count} band(s), "
                                     f"not band {b}")
            self.squeeze = False
            self.source = None
        self.in_memory = self.path is None

    @property
    def shape(self):
        """(bands, rows, cols)."""
        if self.in_memory:
            return self.source.shape
        return (len(self.bands), self.profile.height, self.profile.width)

    @property
    def dtype(self):
        return self.source.dtype if self.in_memory else np.dtype(self.profile.dtype)

    @property
    def row_bytes(self):
        """Bytes of one row of every band."""
        bands, _, width = self.shape
        return bands * width * self.dtype.itemsize

    def read(self, r0, r1):
        """Rows ``[r0, r1)``: (bands, r1 - r0, cols) (a view when in memory)."""
        if self.in_memory:
            return self.source[:, r0:r1]
        from .reading import read_into
        bands, _, width = self.shape
        out = np.empty((bands, r1 - r0, width), self.dtype)
        read_into(self.path, out, threads=1, rows=(r0, r1), bands=self.bands)
        return out

    def split(self):
        """One ``Rows`` per band."""
        if self.in_memory:
            return [Rows(self.source[k]) for k in range(self.shape[0])]
        return [Rows(self.path, bands=[b]) for b in self.bands]


def strip_rows(rows, bytes_per_row, budget, in_flight, minimum=1):
    """Rows per strip so that ``in_flight`` strips of ``bytes_per_row`` each fit ``budget``
    bytes (at least ``minimum``, at most ``rows``)."""
    fit = int(budget // max(1, in_flight * bytes_per_row))
    return max(minimum, min(rows, fit))
