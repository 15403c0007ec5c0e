"""Cutting an image into tiles with stability margins.

A tile has a core (the pixels it produces) and a read window: the core grown by the
margin on every side, truncated at the image border so that a filter's own border
handling there is the same as on the whole image. Cores partition the image: no empty,
overlapping or out-of-range tile, for every shape from 1x1 up.
"""

import math
from dataclasses import dataclass

from .errors import InputError

MIN_AUTO_SIDE = 256       # below this, per-tile overhead dominates
TILES_PER_WORKER = 4      # enough tiles for the workers to finish together
MARGIN_FACTOR = 16        # auto tiles are at least this many margins wide (overlap <= ~13 %)


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
            tiles.append(Tile(len(tiles), r0, r1, c0, c1,
                              max(0, r0 - margin), min(height, r1 + margin),
                              max(0, c0 - margin), min(width, c1 + margin)))
    return tiles


def auto_tile_shape(height, width, margin, workers, bytes_per_pixel, memory_budget):
    """A tile shape balancing cache size, margin overhead, load balance and memory.

    ``bytes_per_pixel`` counts all input and output bands a tile touches, plus
    temporaries; ``memory_budget`` bounds the bytes all workers hold at once.
    """
    side = max(MIN_AUTO_SIDE, MARGIN_FACTOR * margin)
    if workers > 1:
        balance = math.isqrt(max(1, height * width // (TILES_PER_WORKER * workers)))
        side = min(side, max(balance, 2 * margin, 64))
    per_worker = memory_budget / max(1, workers)
    fits = math.isqrt(max(1, int(per_worker / max(1, bytes_per_pixel)))) - 2 * margin
    side = max(1, min(side, fits))
    return (min(side, height), min(side, width))


def tile_shape_for(tile_size, height, width, margin, workers, bytes_per_pixel, memory_budget):
    """The tile shape for a user's ``tile_size`` (0 or None = auto)."""
    if tile_size is None or tile_size == 0:
        return auto_tile_shape(height, width, margin, workers, bytes_per_pixel, memory_budget)
    if isinstance(tile_size, bool) or int(tile_size) != tile_size or tile_size < 0:
        raise InputError("tile_size", f"must be 0 (auto) or a positive number of pixels, "
                         f"got {tile_size!r}")
    return (min(int(tile_size), height), min(int(tile_size), width))
