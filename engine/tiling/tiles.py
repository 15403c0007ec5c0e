"""Cutting an image into tiles with stability margins.

A tile has a core (the pixels it produces) and a read window: the core grown by the
margin on every side, truncated at the image border so that a filter's own border
handling there is the same as on the whole image. Cores partition the image: no empty,
overlapping or out-of-range tile, for every shape from 1x1 up.
"""

import math
from dataclasses import dataclass

from ..core.environment import default_memory_budget
from ..core.errors import InputError
from .windows import grow, shift_rows

TARGET_TILE_PIXELS = 2**18  # 1 MiB of float32, 2 MiB per float64 temporary: about L2 size;
# on 36 Mpx with 2 workers, mean, NDVI, gaussian and statistics ran 2-11 % faster than with
# 2**17 and 1-16 % faster than with 2**19
MARGIN_FACTOR = 10          # a tile is at least this many margins across (overlap <= ~45 %)
TILES_PER_WORKER = 4        # enough tiles for the workers to finish together
TEMP_FACTOR = 3             # float64 temporaries a filter may hold per tile pixel and band


@dataclass(frozen=True)
class Tile:
    """Core rows/cols ``[row0, row1) x [col0, col1)`` and read window ``[rrow0, rrow1) x [rcol0, rcol1)``."""

    index: int
    row0: int
    row1: int
    col0: int
    col1: int
    rrow0: int
    rrow1: int
    rcol0: int
    rcol1: int
    row_offset: int = 0  # rows are counted from this image row (a strip's buffer)

    @property
    def core(self):
        """The core as a window (row0, row1, col0, col1)."""
        return (self.row0, self.row1, self.col0, self.col1)

    @property
    def read(self):
        """The read window (row0, row1, col0, col1)."""
        return (self.rrow0, self.rrow1, self.rcol0, self.rcol1)

    def counted_from(self, row):
        """This tile with its rows counted from image row ``row`` (a strip buffer's first
        row; 0: the image's)."""
        shift = self.row_offset - row
        return Tile(self.index, *shift_rows(self.core, shift), *shift_rows(self.read, shift),
                    row)

    def absolute(self):
        """This tile with its rows counted from the image's first row."""
        return self.counted_from(0) if self.row_offset else self

    @property
    def read_shape(self):
        return (self.rrow1 - self.rrow0, self.rcol1 - self.rcol0)

    @property
    def core_in_read(self):
        """Slices of the core inside the read window."""
        return (slice(self.row0 - self.rrow0, self.row1 - self.rrow0),
                slice(self.col0 - self.rcol0, self.col1 - self.rcol0))

    @property
    def read_slices(self):
        return (slice(self.rrow0, self.rrow1), slice(self.rcol0, self.rcol1))

    @property
    def core_slices(self):
        return (slice(self.row0, self.row1), slice(self.col0, self.col1))

    def __str__(self):
        return f"tile {self.index} (rows {self.row0}:{self.row1}, cols {self.col0}:{self.col1})"


def split(length, size):
    """Balanced ``[start, stop)`` ranges covering ``range(length)``, each at most ``size`` long."""
    count = max(1, math.ceil(length / size))
    base, extra = divmod(length, count)
    ranges, start = [], 0
    for i in range(count):
        stop = start + base + (1 if i < extra else 0)
        ranges.append((start, stop))
        start = stop
    return ranges


def make_tiles(height, width, margin, tile_shape):
    """Tiles of at most ``tile_shape`` (rows, cols) core pixels, with ``margin`` pixels around."""
    rows, cols = tile_shape
    tiles = []
    for r0, r1 in split(height, rows):
        for c0, c1 in split(width, cols):
            core = (r0, r1, c0, c1)
            tiles.append(Tile(len(tiles), *core, *grow(core, margin, height, width)))
    return tiles


def auto_tile_shape(height, width, margin, workers, bytes_per_pixel, memory_budget,
                    flat_cost=False):
    """A tile shape balancing cache size, margin overhead, load balance and memory.

    Small margins give full-width strips of about TARGET_TILE_PIXELS (contiguous memory:
    cheap to map, copy and write); large margins give squares MARGIN_FACTOR margins wide.
    ``bytes_per_pixel`` counts all input and output bands a tile touches plus temporaries;
    ``memory_budget`` bounds the bytes all workers hold at once. Read windows are clipped
    to the image, so a margin as wide as the image gives one tile, and tiles shrink for
    memory only while that makes their read windows smaller.
    """
    margin = min(margin, max(height, width))  # past the border a margin reads nothing more
    if margin >= max(height, width) - 1:
        return (height, width)  # every tile would read (and compute) the whole image
    if flat_cost and margin > SMALL_MARGIN:
        return _band_tile_shape(height, width, margin, workers, bytes_per_pixel,
                                memory_budget)
    if margin > SMALL_MARGIN and ROWS_PER_MARGIN * margin < height:
        return _tall_tile_shape(height, width, margin, workers, bytes_per_pixel,
                                memory_budget)
    least = max(1, MARGIN_FACTOR * margin)
    target = max(TARGET_TILE_PIXELS, least * least)
    if target // width >= least:
        rows, cols = target // width, width
    else:
        rows = cols = math.isqrt(target)
    rows, cols = min(rows, height), min(cols, width)
    if workers > 1:  # several tiles per worker, as far as the image allows
        wanted = TILES_PER_WORKER * workers
        across = math.ceil(width / cols)
        if math.ceil(height / rows) * across < wanted:
            rows = max(1, min(rows, math.ceil(height / math.ceil(wanted / across))))
    per_worker = memory_budget / max(1, workers)

    def window_bytes(r, c):
        return min(height, r + 2 * margin) * min(width, c + 2 * margin) * bytes_per_pixel
    while rows > 1 or cols > 1:
        if window_bytes(rows, cols) <= per_worker:
            break
        smaller = (max(1, rows // 2), max(1, cols // 2))
        if window_bytes(*smaller) > SHRINK_GAIN * window_bytes(rows, cols):
            break  # the margin is most of the window: smaller cores would only add tiles
        rows, cols = smaller
    return (rows, cols)


SHRINK_GAIN = 0.9  # a tile is halved for memory only if its read window shrinks by 10 %+
SMALL_MARGIN = 8     # up to this margin, cache-sized tiles; beyond, tall ones
ROWS_PER_MARGIN = 15  # tall tiles: this many margins tall (2/15 = 13 % recomputed in rows)


def _tall_tile_shape(height, width, margin, workers, bytes_per_pixel, memory_budget):
    """Tiles ROWS_PER_MARGIN margins tall and one per worker across (as wide as the memory
    allows): a far-reaching filter then recomputes about 2 / ROWS_PER_MARGIN of its pixels
    in rows and little in columns, where squares ten margins wide recompute 44 %."""
    rows = ROWS_PER_MARGIN * margin
    cols = math.ceil(width / workers) if workers > 1 else width
    per_worker = memory_budget / max(1, workers)
    while cols > 1 and min(height, rows + 2 * margin) * min(width, cols + 2 * margin) * \
            bytes_per_pixel > per_worker:
        cols = math.ceil(cols / 2)
    return (rows, cols)


BANDS_PER_WORKER = 2  # flat-cost filters: full-width bands, this many per worker


def _band_tile_shape(height, width, margin, workers, bytes_per_pixel, memory_budget):
    """Full-width bands, BANDS_PER_WORKER per worker where they are ROWS_PER_MARGIN margins
    tall or more (else one per worker; one band for one worker), made shorter only to fit
    the memory: for a filter whose cost does not depend on the tile's
    shape, the fewest rows of margin recomputed (at 10980 rows, two workers and a 100-px
    margin, 5.5 % against 15 % for tall tiles split across the workers)."""
    bands = BANDS_PER_WORKER * workers if workers > 1 else 1
    if workers > 1 and height < bands * ROWS_PER_MARGIN * margin:
        bands = workers  # short bands would be mostly margin: one per worker
    rows = max(1, math.ceil(height / bands))
    per_worker = memory_budget / max(1, workers)
    while rows > 1 and min(height, rows + 2 * margin) * width * bytes_per_pixel > per_worker:
        rows = math.ceil(rows / 2)
    return (rows, width)


def tile_shape_for(tile_size, height, width, margin, workers, bytes_per_pixel, memory_budget,
                   flat_cost=False):
    """The tile shape for a user's ``tile_size`` (0 or None = auto)."""
    if tile_size is None or tile_size == 0:
        return auto_tile_shape(height, width, margin, workers, bytes_per_pixel, memory_budget,
                               flat_cost)
    if isinstance(tile_size, bool) or int(tile_size) != tile_size or tile_size < 0:
        raise InputError("tile_size", f"must be 0 (auto) or a positive number of pixels, "
                         f"got {tile_size!r}")
    return (min(int(tile_size), height), min(int(tile_size), width))


def bytes_per_pixel(profiles, op=None, inputs=0):
    """Bytes a tile holds per pixel for these input and output profiles: their bands plus
    TEMP_FACTOR float64 temporaries each, or plus what Filter ``op`` says it holds
    (``Filter.temporaries`` of the first ``inputs`` profiles, its inputs)."""
    temporaries = getattr(op, "temporaries", None)
    if temporaries is not None:
        return sum(p.pixel_bytes for p in profiles) + temporaries(profiles[:inputs])
    return sum(p.pixel_bytes + TEMP_FACTOR * 8 for p in profiles)


def tiles_for(height, width, margin, workers, tile_size=0, bytes_per_pixel=32,
              memory_budget=None):
    """The tiles an Engine would cut an image into (for inspection and tests).

    Parameters
    ----------
    height, width : int
        The image's size in pixels.
    margin : int
        The operation's margin in pixels.
    workers : int
        Tiles at once.
    tile_size : int, optional
        Tile side in pixels; 0 (default) shapes tiles for the margin and the cache.
    bytes_per_pixel : int, optional
        What a tile holds per pixel (bands and temporaries, see ``bytes_per_pixel``).
    memory_budget : int, optional
        Bytes all workers' tiles may hold at once; default a quarter of RAM.

    Returns
    -------
    list of Tile
        Cores partitioning the image, each with its read window.
    """
    memory_budget = memory_budget or default_memory_budget()
    shape = tile_shape_for(tile_size, height, width, margin, workers, bytes_per_pixel,
                           memory_budget)
    return make_tiles(height, width, margin, shape)
