import numpy as np
from hypothesis import given, settings, strategies as st

from tilewise.engine.tiling.tiles import auto_tile_shape, make_tiles, split, tile_shape_for
from tilewise.engine import InputError, tiles_for
import pytest


@given(st.integers(1, 5000), st.integers(1, 5000))
def test_split_covers_range_with_balanced_nonempty_parts(length, size):
    ranges = split(length, size)
    assert ranges[0][0] == 0 and ranges[-1][1] == length
    for (a, b), (c, _) in zip(ranges, ranges[1:]):
        assert b == c
    lengths = [b - a for a, b in ranges]
    assert min(lengths) >= 1 and max(lengths) <= size
    assert max(lengths) - min(lengths) <= 1


def _check_tiles(height, width, margin, tiles):
    cover = np.zeros((height, width), dtype=np.int32)
    for t in tiles:
        assert 0 <= t.row0 < t.row1 <= height and 0 <= t.col0 < t.col1 <= width
        assert t.rrow0 == max(0, t.row0 - margin) and t.rrow1 == min(height, t.row1 + margin)
        assert t.rcol0 == max(0, t.col0 - margin) and t.rcol1 == min(width, t.col1 + margin)
        cover[t.row0:t.row1, t.col0:t.col1] += 1
    assert (cover == 1).all(), "cores must partition the image"
    assert [t.index for t in tiles] == list(range(len(tiles)))


@given(st.integers(1, 300), st.integers(1, 500), st.integers(0, 400),
       st.integers(1, 600), st.integers(1, 600))
def test_tiles_partition_the_image_with_truncated_margins(height, width, margin, rows, cols):
    _check_tiles(height, width, margin, make_tiles(height, width, margin, (rows, cols)))


@given(st.integers(1, 3000), st.integers(1, 3000), st.integers(0, 300), st.integers(1, 64),
       st.integers(2**20, 10**10))
@settings(max_examples=300)
def test_auto_tiles_are_valid_for_any_shape_and_worker_count(height, width, margin, workers,
                                                             budget):
    shape = auto_tile_shape(height, width, margin, workers, 40, budget)
    assert 1 <= shape[0] <= height and 1 <= shape[1] <= width
    if height * width <= 300 * 300:
        _check_tiles(height, width, margin, make_tiles(height, width, margin, shape))


def test_auto_mode_gives_several_cache_sized_tiles_per_worker():
    for shape in [(6000, 6000), (10980, 10980), (700, 900), (20000, 300)]:
        tiles = tiles_for(*shape, 1, workers=2)
        assert len(tiles) >= 8
        assert max((t.row1 - t.row0) * (t.col1 - t.col0) for t in tiles) <= 2**19


def test_small_margins_give_full_width_strips():
    tiles = tiles_for(6000, 6000, 1, workers=2)
    assert all((t.col0, t.col1) == (0, 6000) for t in tiles)


def test_auto_mode_respects_the_memory_budget():
    budget = 64 * 2**20
    shape = auto_tile_shape(20000, 20000, 5, 2, 48, budget)
    assert 2 * (shape[0] + 10) * (shape[1] + 10) * 48 <= budget


def test_auto_tiles_grow_with_the_margin_to_bound_overlap():
    small = auto_tile_shape(6000, 6000, 1, 2, 40, 2**33)
    large = auto_tile_shape(6000, 6000, 100, 2, 40, 2**33)
    assert large[0] > small[0]
    assert ((large[0] + 200) / large[0]) * ((large[1] + 200) / large[1]) <= 1.45


def test_image_smaller_than_worker_count():
    tiles = tiles_for(1, 1, 3, workers=8)
    assert len(tiles) == 1 and (tiles[0].row1, tiles[0].col1) == (1, 1)


@pytest.mark.parametrize("bad", [-1, 2.5, True, "64"])
def test_bad_tile_size_is_named(bad):
    with pytest.raises(InputError) as err:
        tile_shape_for(bad, 10, 10, 1, 2, 40, 2**30)
    assert err.value.param == "tile_size"


def _recomputed(tiles, height, width):
    read = sum((t.rrow1 - t.rrow0) * (t.rcol1 - t.rcol0) for t in tiles)
    return read / (height * width) - 1


@pytest.mark.parametrize("height, width, margin, workers", [
    (10980, 10980, 100, 2), (6000, 6000, 100, 2), (2000, 2000, 100, 2), (10980, 10980, 100, 4),
    (12000, 3000, 50, 3)])
def test_flat_cost_filters_get_full_width_bands_that_recompute_less(height, width, margin,
                                                                    workers):
    """A filter whose cost does not depend on the tile's shape (FillNodata) gets full-width
    bands, two per worker where they are 15 margins tall: fewer pixels computed twice than
    the tall tiles other far-reaching filters get, and at least one band per worker."""
    budget = 2**34
    flat = make_tiles(height, width, margin,
                      auto_tile_shape(height, width, margin, workers, 56, budget, True))
    tall = make_tiles(height, width, margin,
                      auto_tile_shape(height, width, margin, workers, 56, budget, False))
    _check_tiles(height, width, margin, flat)
    assert all(t.col0 == 0 and t.col1 == width for t in flat)
    assert len(flat) >= workers
    assert _recomputed(flat, height, width) < _recomputed(tall, height, width)
    if height == 10980 and workers == 2:
        assert len(flat) == 4 and _recomputed(flat, height, width) < 0.06


def test_flat_cost_bands_shrink_to_fit_the_memory():
    rows, cols = auto_tile_shape(10980, 10980, 100, 2, 56, 2**30, True)
    assert cols == 10980 and (rows + 200) * cols * 56 <= 2**30 / 2
