"""Strips: consecutive rows of tiles that a streamed run reads, computes and writes as one.

Tiles are shaped for the margin: a filter that reaches far (FillNodata's search distance)
gets tiles ``ROWS_PER_MARGIN`` margins tall and as wide as the image allows with one per
worker across, which recompute about ``2 / ROWS_PER_MARGIN`` of their pixels in rows (13 %
at 15) plus a little in columns, where square tiles of ten margins recompute 44 %. Small
margins keep the cache-sized tiles of the in-memory runs. Where the budget is short, tiles
get as tall as a strip of the budget allows, and no taller.
"""

import math
from dataclasses import dataclass

from .tiles import ROWS_PER_MARGIN, SMALL_MARGIN, make_tiles, tile_shape_for

STRIPS_IN_FLIGHT = 3     # buffers of each file alive: one read or written beside two computed
#: the budget's share for the strips' buffers; the tiles computed meanwhile (bands and
#: temporaries, ``bytes_per_pixel``) get the rest
STRIP_SHARE = 0.5
MIN_STRIPS = 4           # enough strips for reading and writing to overlap the computing
#: images up to this many pixels stream in one strip where the budget allows (bench/small_images.py)
SMALL_STREAM_PIXELS = 2**21


@dataclass(frozen=True)
class Strip:
    """Rows ``[row0, row1)`` of the image are computed here from buffer rows
    ``[read0, read1)``; ``tiles`` are in image coordinates."""

    index: int
    row0: int
    row1: int
    read0: int
    read1: int
    tiles: tuple

    @property
    def read_rows(self):
        return self.read1 - self.read0

    def local(self, tile):
        """``tile`` with its rows counted from the strip buffer's first row."""
        return tile.counted_from(self.read0)


def plan_tiles(height, width, margin, workers, bytes_per_pixel, memory_budget, tile_size=0,
               strip_pixel_bytes=0, min_strips=MIN_STRIPS, flat_cost=False, out_pixel_bytes=0):
    """Tiles for a streamed run (see the module docstring for their shape).

    ``bytes_per_pixel``: what a tile holds per pixel while computed (bands, temporaries);
    ``strip_pixel_bytes``: what a strip buffer holds per pixel of the rows it reads (input
    bands; and output bands, unless ``out_pixel_bytes`` gives those, held for the strip's
    core rows only). A row of tiles always fits a strip of the budget: their core is at
    most the rows that STRIPS_IN_FLIGHT strips of the image's width hold in the strips'
    share, less the margins. ``min_strips=1`` (a small image, where overlap earns nothing):
    the tiles of an in-memory run. ``flat_cost`` (see ``Filter``): tiles as tall as a
    strip, so that only the strips' edges recompute rows.
    """
    reach = min(margin, height)  # rows a strip reads around its core (windows clip)
    max_core = height
    if strip_pixel_bytes:
        share = int(memory_budget * STRIP_SHARE) // (STRIPS_IN_FLIGHT * width)
        max_core = max(1, (share - strip_pixel_bytes * 2 * reach)
                       // (strip_pixel_bytes + out_pixel_bytes))
    tile_budget = memory_budget * (1 - STRIP_SHARE)
    if tile_size or margin <= SMALL_MARGIN or min_strips == 1:
        rows, cols = tile_shape_for(tile_size, height, width, margin, workers, bytes_per_pixel,
                                    tile_budget)
        return make_tiles(height, width, margin, (min(rows, max_core), cols))
    rows = min(max(1, math.ceil(height / min_strips)), max_core)
    if not flat_cost:  # taller tiles would fall out of the caches
        rows = min(rows, ROWS_PER_MARGIN * reach)
    # one tile per worker across: a strip, even of one row of tiles, keeps them all busy
    cols = math.ceil(width / workers) if workers > 1 else width
    per_worker = tile_budget / max(1, workers)
    while cols > 1 and min(height, rows + 2 * margin) * min(width, cols + 2 * margin) * \
            bytes_per_pixel > per_worker:
        cols = math.ceil(cols / 2)
    return make_tiles(height, width, margin, (rows, cols))


def plan_strips(tiles, height, bytes_per_row, memory_budget, workers, min_strips=MIN_STRIPS,
                out_bytes_per_row=0):
    """Group consecutive rows of ``tiles`` into strips whose buffers, STRIPS_IN_FLIGHT at
    a time, fit the strips' share of ``memory_budget`` (``bytes_per_row`` for each row a
    strip reads, ``out_bytes_per_row`` more for each of its core rows); each strip holds at
    least ``workers`` tiles where the image allows, and there are ``min_strips`` strips or
    more where the tiles allow."""
    rows = []  # (row0, row1, read0, read1, tiles) per row of tiles
    for tile in tiles:
        if rows and rows[-1][0] == tile.row0:
            r0, r1, q0, q1, group = rows[-1]
            rows[-1] = (r0, r1, min(q0, tile.rrow0), max(q1, tile.rrow1), group + [tile])
        else:
            rows.append((tile.row0, tile.row1, tile.rrow0, tile.rrow1, [tile]))
    share = int(memory_budget * STRIP_SHARE) // STRIPS_IN_FLIGHT
    per_strip = max(1, math.ceil(len(tiles) / min_strips))
    strips, current = [], None
    for r0, r1, q0, q1, group in rows:
        if current is not None:
            c0, c1, cq0, cq1, ctiles = current
            fits = (max(cq1, q1) - cq0) * bytes_per_row + (r1 - c0) * out_bytes_per_row \
                <= max(share, 1)
            wanted = len(ctiles) < max(workers, 1) or len(ctiles) + len(group) <= per_strip
            if fits and wanted:
                current = (c0, r1, cq0, max(cq1, q1), ctiles + group)
                continue
            strips.append(current)
        current = (r0, r1, q0, q1, list(group))
    strips.append(current)
    return [Strip(i, r0, r1, q0, q1, tuple(t)) for i, (r0, r1, q0, q1, t) in enumerate(strips)]


def strip_bytes(strips, bytes_per_row, out_bytes_per_row=0):
    """Bytes of the largest strip's buffers (as ``plan_strips`` counts them)."""
    return max(s.read_rows * bytes_per_row + (s.row1 - s.row0) * out_bytes_per_row
               for s in strips)


def minimum_budget(margin, width, bytes_per_row_pixel, out_pixel_bytes=0):
    """The smallest memory budget a streamed run of this margin can work in (bytes): its
    strips' share holds STRIPS_IN_FLIGHT strips of the margin on both sides and one row
    (``bytes_per_row_pixel`` for every row read, ``out_pixel_bytes`` for the core row)."""
    return math.ceil(STRIPS_IN_FLIGHT * ((2 * margin + 1) * bytes_per_row_pixel
                                         + out_pixel_bytes) * width / STRIP_SHARE)
