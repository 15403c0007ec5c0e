"""Streaming runs, file to file by strips (engine.execution.stream): bit-identical to a whole-image run
for every filter and for fused pipelines, whatever the memory budget (down to the minimum
the margin allows), the workers and the tile size; nothing left on a failure or a cancel;
bounded memory (under a hard limit and with a small /dev/shm through qgis_process:
tests/qgis/test_streaming_qgis_process.py).
"""

import os
import shutil

import numpy as np
import pytest
import rasterio
from hypothesis import given, settings, strategies as st

import qgis_helpers as qh
from strategies import images, whole_image
from tilewise.engine import (Cancelled, Engine, Filter, InputError, Pipeline, WorkerError,
                             filters)
from tilewise.engine.store import segments as shm
from tilewise.engine.tiling.strips import minimum_budget, plan_strips, plan_tiles

CASES = [
    (filters.mean, {"size": 3}), (filters.mean, {"size": 7}),
    (filters.gaussian, {"sigma": 1.5}), (filters.median, {"size": 5}),
    (filters.focal_statistics, {"statistic": "std", "size": 5}),
    (filters.focal_statistics, {"statistic": "percentile", "q": 37.5, "shape": "circle",
                                "radius": 2.5}),
    (filters.focal_statistics, {"statistic": "majority", "size": 3}),
    (filters.morphology, {"operation": "opening", "shape": "disk", "radius": 2}),
    (filters.morphology, {"operation": "black_tophat", "shape": "cross", "radius": 1,
                          "binary": True}),
    (filters.sobel, {"output": "magnitude"}), (filters.laplace, {}),
    (filters.gaussian_gradient_magnitude, {"sigma": 1.6}),
    (filters.slope, {}), (filters.aspect, {}), (filters.hillshade, {}), (filters.tri, {}),
    (filters.roughness, {}), (filters.nodata_mask, {}),
    (filters.fill_nodata, {"max_distance": 12}),
    (filters.fill_nodata, {"max_distance": 5, "smoothing_iterations": 2}),
]


def _write(path, stack, profile):
    kwargs = dict(driver="GTiff", count=profile.count, height=profile.height,
                  width=profile.width, dtype=profile.dtype, nodata=profile.nodata,
                  transform=rasterio.Affine(*profile.transform))
    with rasterio.open(path, "w", **kwargs) as dst:
        dst.write(stack)
    return str(path)


def _read(path):
    with rasterio.open(path) as src:
        return src.read()


@given(images(max_rows=160, max_cols=120), st.sampled_from(CASES), st.sampled_from([1, 2]),
       st.sampled_from([1, 2, 5, 1000]))
@settings(max_examples=80)
def test_a_streamed_filter_equals_the_whole_image(tmp_path, image, case, workers, times):
    stack, profile, tile = image
    filt, params = case
    params = dict(params)
    if filt is filters.fill_nodata or filt is filters.nodata_mask:
        params["band"] = 1
    source = _write(tmp_path / "in.tif", stack, profile)
    target = str(tmp_path / "out.tif")
    checked = filt.check([profile], dict(params))
    out_profile = filt.outputs([profile], checked)[0]
    bytes_per_row_pixel = (profile.count * stack.itemsize
                           + out_profile.count * np.dtype(out_profile.dtype).itemsize)
    budget = times * minimum_budget(min(filt.margin_for(checked), profile.height),
                                    profile.width, bytes_per_row_pixel)
    lines = []
    with Engine(workers=workers, memory_budget=budget, log=lines.append) as eng:
        eng.stream(filt, [source], [target], **params)
    whole, _ = whole_image(filt, stack, profile, params)
    got = _read(target)
    whole = whole.astype(out_profile.dtype)
    assert got.dtype == whole.dtype and got.tobytes() == whole.tobytes(), lines
    assert any("streamed in" in line for line in lines)


SEED = (Pipeline(["dsm"])
        .add("mask", filters.nodata_mask, "dsm")
        .add("filled", filters.fill_nodata, ["dsm", "mask"], max_distance=25)
        .add("smooth", filters.mean, "filled", size=3))


@pytest.fixture(scope="module")
def dsm(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream")
    dem = qh.punch_holes(qh.synthetic_dem(500, 420, seed=7), -9999.0, fraction=0.08)
    return qh.write_geotiff(folder / "dsm.tif", dem, nodata=-9999.0, tiled=True,
                            compress="deflate"), dem


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("budget_mib", [2, 8, 1024])
def test_a_streamed_pipeline_equals_the_pipeline_in_memory(dsm, tmp_path, workers, budget_mib):
    names = ["mask", "filled", "smooth"]
    targets = {n: str(tmp_path / f"{n}.tif") for n in names}
    lines = []
    with Engine(workers=workers, memory_budget=budget_mib * 2**20, log=lines.append) as eng:
        written = eng.stream_run(SEED, {"dsm": dsm[0]}, targets)
        reference = eng.run(SEED, {"dsm": eng.open(dsm[0])}, keep=names)
        for name in names:
            assert written[name] == targets[name]
            assert _read(targets[name]).tobytes() == reference[name].array.tobytes(), name
    summary = [line for line in lines if "streamed in" in line]
    assert len(summary) == 1
    if budget_mib == 2:
        assert "in 1 strip " not in summary[0]  # the budget made it cut the image


def test_strips_bound_memory_and_cover_the_image():
    """The strips' buffers (STRIPS_IN_FLIGHT of them) fit their share of the budget, and
    with one tile per worker computed beside them (60 bytes a pixel) the whole budget."""
    from tilewise.engine.tiling.strips import STRIP_SHARE
    for height, width, margin in ((1000, 800, 0), (1000, 800, 3), (10980, 10980, 101),
                                  (7, 5, 50), (1, 9000, 2), (20000, 20000, 100)):
        for budget in (2**22, 2**26, 2**32):
            for flat_cost in (False, True):
                pixel = 12
                try_budget = max(budget, minimum_budget(min(margin, height), width, pixel))
                tiles = plan_tiles(height, width, margin, 2, 60, try_budget,
                                   strip_pixel_bytes=pixel, flat_cost=flat_cost)
                strips = plan_strips(tiles, height, pixel * width, try_budget, 2)
                rows = [r for s in strips for r in range(s.row0, s.row1)]
                assert rows == list(range(height))  # cores cover the image once, in order
                assert sum(len(s.tiles) for s in strips) == len(tiles)
                held = max(3 * s.read_rows * pixel * width for s in strips)
                tile = max((t.rrow1 - t.rrow0) * (t.rcol1 - t.rcol0) for t in tiles) * 60
                assert held <= STRIP_SHARE * try_budget, (height, width, margin, budget)
                assert held + 2 * tile <= try_budget, (height, width, margin, budget)
                for s in strips:
                    assert all(s.read0 <= t.rrow0 and t.rrow1 <= s.read1 for t in s.tiles)


def test_tall_tiles_recompute_little_of_a_wide_margin():
    tiles = plan_tiles(6000, 6000, 100, 2, 60, 2**32, strip_pixel_bytes=12)
    computed = sum((t.rrow1 - t.rrow0) * (t.rcol1 - t.rcol0) for t in tiles)
    assert {t.col1 - t.col0 for t in tiles} == {3000}  # one per worker across
    assert computed / 6000**2 - 1 <= 0.18  # square 1000-pixel tiles: 0.44
    strips = plan_strips(tiles, 6000, 12 * 6000, 2**32, 2)
    assert len(strips) >= 4  # reading and writing overlap the computing


def test_the_budget_bounds_the_strips_of_a_wide_margin_on_a_large_image():
    """20000 x 20000, margin 100, 256 MiB: three strips in flight within the budget (a row
    of 1000-pixel square tiles made strips of 183 MiB each, 549 MiB in flight)."""
    budget, pixel = 256 * 2**20, 8
    tiles = plan_tiles(20000, 20000, 100, 2, 32, budget, strip_pixel_bytes=pixel)
    strips = plan_strips(tiles, 20000, pixel * 20000, budget, 2)
    assert max(3 * s.read_rows * pixel * 20000 for s in strips) <= budget


def test_a_budget_below_the_margin_is_refused_with_the_minimum(dsm, tmp_path):
    with Engine(workers=1, memory_budget=2**16) as eng:
        with pytest.raises(InputError, match=r"too small for this run.*at least \d+ MiB"):
            eng.stream(filters.fill_nodata, [dsm[0]], [str(tmp_path / "o.tif")],
                       max_distance=100)
    assert not os.listdir(tmp_path)


def _explode_at(buffers, profiles, params):
    if profiles[0].transform[5] < params["below"]:  # a tile low in the image
        raise RuntimeError("boom on a late tile")
    return buffers[0]


EXPLODE = Filter("explode", _explode_at, margin=1, releases_gil=True, runs_in_caller=True)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failure_mid_stream_leaves_nothing(dsm, tmp_path, workers):
    target = tmp_path / "o.tif"
    target.write_bytes(b"older file")  # kept untouched
    before = set(shm.list_segments(os.getpid()))
    with rasterio.open(dsm[0]) as src:
        low = src.transform.f + src.transform.e * src.height * 0.8
    with Engine(workers=workers, memory_budget=2 * 2**20, tile_size=64) as eng:
        with pytest.raises(WorkerError, match="boom on a late tile"):
            eng.stream(EXPLODE, [dsm[0]], [str(target)], below=low)
    assert target.read_bytes() == b"older file"
    assert sorted(os.listdir(tmp_path)) == ["o.tif"]  # no temporary file
    assert set(shm.list_segments(os.getpid())) == before


def test_a_cancel_mid_stream_leaves_nothing(dsm, tmp_path):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with Engine(workers=2, memory_budget=2 * 2**20, cancel=cancel) as eng:
        with pytest.raises(Cancelled):
            eng.stream(filters.mean, [dsm[0]], [str(tmp_path / "o.tif")], size=3)
    assert not os.listdir(tmp_path)


def test_progress_covers_the_whole_run_once(dsm, tmp_path):
    seen = []
    with Engine(workers=2, memory_budget=2 * 2**20, progress=seen.append) as eng:
        eng.stream(filters.mean, [dsm[0]], [str(tmp_path / "o.tif")], size=3)
    assert seen[0] == 0.0 and seen[-1] == pytest.approx(1.0)
    assert all(b >= a - 1e-12 for a, b in zip(seen, seen[1:]))  # never goes back


@pytest.mark.parametrize("options, driver", [("COMPRESS=DEFLATE|PREDICTOR=3", "GTiff"),
                                             ("COMPRESS=DEFLATE", "COG")])
def test_streamed_outputs_take_creation_options_and_cog(dsm, tmp_path, options, driver):
    target = str(tmp_path / "o.tif")
    with Engine(workers=2, memory_budget=2 * 2**20) as eng:
        eng.stream(filters.mean, [dsm[0]], [target], options=options, driver=driver, size=3)
        reference = np.array(eng.apply(filters.mean, eng.open(dsm[0]), size=3).array)
    with rasterio.open(target) as src:
        assert src.compression.name.lower() == "deflate"
        assert np.array_equal(src.read(), reference)
        if driver == "COG":
            assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
    assert sorted(os.listdir(tmp_path)) == ["o.tif"]


def test_writing_over_an_input_is_refused(dsm, tmp_path):
    copy = shutil.copy(dsm[0], tmp_path / "in.tif")
    with Engine(workers=1) as eng, pytest.raises(InputError, match="is an input of this run"):
        eng.stream(filters.mean, [copy], [copy], size=3)


# -- memory bound and small /dev/shm, through qgis_process ----------------------------------

def test_a_compression_level_holds_for_the_whole_streamed_file(tmp_path):
    """A streamed output flushed by rows of blocks is reopened; GeoTIFF keeps no ZLEVEL, so a
    level given must hold the file open to the end: the file equals a whole-array write."""
    rng = np.random.default_rng(2)
    data = np.round(rng.normal(100, 5, (1, 2200, 2000))).astype("float32")
    source = qh.write_geotiff(tmp_path / "in.tif", data)
    with Engine(workers=1, memory_budget=64 * 2**20) as eng:
        for level in ("1", "9"):
            options = f"COMPRESS=DEFLATE|ZLEVEL={level}|NUM_THREADS=1"
            eng.stream(filters.mean, [source], [str(tmp_path / f"s{level}.tif")],
                       options=options, size=3)
            eng.write(eng.apply(filters.mean, eng.open(source), size=3),
                      str(tmp_path / f"w{level}.tif"), options=options)
    for level in ("1", "9"):
        assert _read(tmp_path / f"s{level}.tif").tobytes() == \
            _read(tmp_path / f"w{level}.tif").tobytes()
        size = os.path.getsize(tmp_path / f"s{level}.tif")
        assert abs(size - os.path.getsize(tmp_path / f"w{level}.tif")) < 0.01 * size
    assert os.path.getsize(tmp_path / "s9.tif") < os.path.getsize(tmp_path / "s1.tif")


@pytest.mark.parametrize("side, one_strip", [(1000, True), (1500, False)])
def test_a_small_image_streams_in_one_strip(tmp_path, side, one_strip):
    """Up to SMALL_STREAM_PIXELS, strips only add margins and waits (a 1 Mpx fill in four
    strips took 1.55x its in-memory run, bench/small_images.py): one strip, the in-memory
    tiles; above, the strips that overlap reading, computing and writing."""
    from tilewise.engine.tiling.strips import MIN_STRIPS, SMALL_STREAM_PIXELS
    assert (side * side <= SMALL_STREAM_PIXELS) == one_strip
    data = qh.synthetic_dem(side, side, seed=3)
    source = qh.write_geotiff(tmp_path / "in.tif", data, nodata=-9999.0)
    lines = []
    with Engine(workers=2, log=lines.append) as eng:
        eng.stream(filters.fill_nodata, [source], [str(tmp_path / "out.tif")],
                   max_distance=100)
        whole = eng.apply(filters.fill_nodata, eng.open(source), max_distance=100).array
        assert np.array_equal(_read(tmp_path / "out.tif"), whole)
    strips = int(next(line for line in lines if "streamed in" in line)
                 .split("streamed in ")[1].split()[0])
    assert strips == 1 if one_strip else strips >= MIN_STRIPS, lines


def _strip_count(lines):
    return int(next(line for line in lines if "streamed in" in line)
               .split("streamed in ")[1].split()[0])


@pytest.mark.parametrize("workers", [1, 2])
def test_strips_reuse_a_few_buffers_per_file_whatever_their_number(dsm, tmp_path, monkeypatch,
                                                                   workers):
    """A strip's rasters are the first rows of buffers made once (store.buffer_pool): at
    most STRIPS_IN_FLIGHT per file however many strips (one strip read or written beside
    two computed: on threads, the next strip's tiles start as the last ones of the one
    before finish), two where strips compute one at a time (inline, worker processes). The
    pixels are those of the run in memory, for a filter on threads (fill) and one in worker
    processes (median), whose workers map each buffer once and see each strip's rows of it."""
    from tilewise.engine.tiling.strips import STRIPS_IN_FLIGHT
    made = []
    original = Engine.create

    def counting(eng, profile, source=None):
        made.append(profile)
        return original(eng, profile, source=source)
    monkeypatch.setattr(Engine, "create", counting)
    for filt, params, backend, per_file in (
            (filters.fill_nodata, {"max_distance": 20}, "auto",
             STRIPS_IN_FLIGHT if workers > 1 else 2),
            (filters.median, {"size": 5}, "processes", 2)):
        made.clear()
        lines = []
        target = str(tmp_path / f"{filt.name}.tif")
        with Engine(workers=workers, memory_budget=minimum_budget(20, 420, 8) * 2,
                    backend=backend, log=lines.append) as eng:
            eng.min_parallel_pixels = 0  # a small image, in parallel all the same
            eng.stream(filt, [dsm[0]], [target], **params)
            assert eng.shared_bytes == 0
        assert _strip_count(lines) >= 6, lines
        assert len(made) <= 2 * per_file, (filt.name, len(made))
        assert ("worker process" in lines[-1]) == (backend == "processes" and workers > 1)
        # the input's as tall as the tallest strip reads, the output's as its tallest core
        heights = sorted({p.height for p in made})
        assert len(heights) == 2, heights
        with Engine(workers=1) as eng:
            whole = eng.apply(filt, eng.open(dsm[0]), **params).array
        assert _read(target).tobytes() == whole.tobytes(), filt.name


def test_a_kept_output_is_computed_in_place_and_handed_to_the_cache(dsm, tmp_path,
                                                                   monkeypatch):
    """With a cache that takes it, the tiles write straight into the whole output (no strip
    buffers for it, no copy): the cache then holds exactly the file's pixels, and the Engine
    holds nothing more."""
    from tilewise.engine.execution import stream
    from tilewise.engine.store.cache import RasterCache
    monkeypatch.setattr(stream, "SMALL_STREAM_PIXELS", 0)  # strips even on a small image
    made = []
    original = Engine.create
    monkeypatch.setattr(Engine, "create", lambda eng, profile, source=None: made.append(
        profile.height) or original(eng, profile, source=source))
    cache = RasterCache(2**30)
    target = str(tmp_path / "kept.tif")
    lines = []
    try:
        with Engine(workers=2, cache=cache, log=lines.append) as eng:
            eng.stream(filters.fill_nodata, [dsm[0]], [target], max_distance=20)
            assert eng.shared_bytes == 0 and cache.holds(target)
            borrowed = cache.borrow(target)
            try:
                assert borrowed.array.tobytes() == _read(target).tobytes()
            finally:
                borrowed.release()
        assert _strip_count(lines) > 1, lines
        # the whole output, and strip buffers for the input only
        from tilewise.engine.tiling.strips import STRIPS_IN_FLIGHT
        assert sorted(made)[-1] == 500 and sorted(made)[-2] < 500, made
        assert len(made) <= 1 + STRIPS_IN_FLIGHT, made
        with Engine(workers=1) as eng:
            whole = eng.apply(filters.fill_nodata, eng.open(dsm[0]), max_distance=20).array
        assert _read(target).tobytes() == whole.tobytes()
    finally:
        cache.clear()
    assert shm.list_segments(os.getpid()) == []


def test_tiles_of_a_flat_cost_filter_are_as_tall_as_the_strips():
    """FillNodata costs the same per pixel in any tile: its tiles span a strip's rows, one
    per worker across, so only the strips' edges recompute rows (7 % of a 10980-pixel
    image at margin 100, against 15 % with tiles 15 margins tall)."""
    def recomputed(tiles):
        return sum((t.rrow1 - t.rrow0) * (t.rcol1 - t.rcol0) for t in tiles) / 10980**2 - 1
    flat = plan_tiles(10980, 10980, 100, 2, 16, 2**33, strip_pixel_bytes=8, flat_cost=True)
    tall = plan_tiles(10980, 10980, 100, 2, 16, 2**33, strip_pixel_bytes=8)
    strips = plan_strips(flat, 10980, 8 * 10980, 2**33, 2)
    assert len(strips) >= 4 and all(len(s.tiles) == 2 for s in strips)
    assert recomputed(flat) <= 0.08 < 0.14 <= recomputed(tall)
    # the budget still bounds them
    budget = 256 * 2**20
    tiles = plan_tiles(20000, 20000, 100, 2, 32, budget, strip_pixel_bytes=8, flat_cost=True)
    assert max(3 * s.read_rows * 8 * 20000
               for s in plan_strips(tiles, 20000, 8 * 20000, budget, 2)) <= budget


def test_the_block_cache_holds_two_rows_of_the_largest_blocks_within_the_budget():
    from tilewise.engine.execution.stream import GDAL_CACHE_FLOOR, gdal_cache_bytes
    assert gdal_cache_bytes(2**33, 11 * 2**20) == 2 * 11 * 2**20
    assert gdal_cache_bytes(2**33, 1) == GDAL_CACHE_FLOOR
    assert gdal_cache_bytes(2**33, 2**30) == 2**31
    assert gdal_cache_bytes(2**26, 2**30) == 2**24  # a quarter of the budget at most


def test_on_threads_the_next_strip_starts_while_the_last_tile_of_one_runs(tmp_path,
                                                                          monkeypatch):
    """A strip no longer waits for its slowest tile: with tiles on threads, a thread that
    is done takes the next strip's tile at once (the strip read meanwhile). Here the left
    tile of every strip is slow: the right tile of the next strip starts before it ends,
    and the output is still the input, strip for strip."""
    import threading
    import time
    from tilewise.engine.execution import stream
    monkeypatch.setattr(stream, "SMALL_STREAM_PIXELS", 0)
    spans, lock = [], threading.Lock()

    def slow_left(buffers, profiles, params):
        row, col = profiles[0].transform[5], profiles[0].transform[2]
        start = time.perf_counter()
        time.sleep(0.4 if col == 0 else 0.05)
        with lock:
            spans.append((row, col, start, time.perf_counter()))
        return [np.array(buffers[0])]
    copy = Filter("slow_left_copy", slow_left, margin=10, releases_gil=True, flat_cost=True)
    data = np.arange(400 * 300, dtype=np.float32).reshape(1, 400, 300)
    source = qh.write_geotiff(tmp_path / "in.tif", data[0],
                              transform=rasterio.Affine(1, 0, 0, 0, 1, 0))
    with Engine(workers=2) as eng:
        eng.min_parallel_pixels = 0
        eng.stream(copy, [source], [str(tmp_path / "out.tif")])
    assert _read(tmp_path / "out.tif").tobytes() == data.tobytes()
    by_strip = {}
    for row, col, t0, t1 in spans:
        by_strip.setdefault(row, []).append((col, t0, t1))
    rows = sorted(by_strip)
    assert len(rows) >= 4 and all(len(by_strip[r]) == 2 for r in rows), by_strip
    early = [later for earlier, later in zip(rows, rows[1:])
             if min(t0 for _, t0, _ in by_strip[later]) <
             max(t1 for _, _, t1 in by_strip[earlier])]
    assert early, by_strip


def test_fill_tiles_are_sized_with_what_the_fill_holds():
    """FillNodata holds about 15 bytes a pixel besides its bands (measured for float32): its
    tiles are sized with that, not with three float64 temporaries per band, so a short
    budget cuts them into fewer columns."""
    from tilewise.engine import Profile
    from tilewise.engine.tiling.tiles import bytes_per_pixel
    band = Profile(1, 100, 100, "float32", nodata=-9999.0, transform=(1, 0, 0, 0, -1, 0),
                   crs_wkt=None)
    assert bytes_per_pixel([band, band], filters.fill_nodata, 1) == 4 + 4 + 16
    assert bytes_per_pixel([band, band]) == 2 * (4 + 24)  # any other filter
    narrow = plan_tiles(12000, 12000, 100, 2, bytes_per_pixel([band, band]), 2**28,
                        strip_pixel_bytes=4, out_pixel_bytes=4, flat_cost=True)
    wide = plan_tiles(12000, 12000, 100, 2, bytes_per_pixel([band, band], filters.fill_nodata,
                                                            1), 2**28,
                      strip_pixel_bytes=4, out_pixel_bytes=4, flat_cost=True)
    assert len(wide) < len(narrow)


def test_the_block_cache_follows_the_outputs_blocks():
    from tilewise.engine import Profile
    from tilewise.engine.io.writing import block_rows_for
    big = Profile(1, 20000, 20000, "float32", nodata=None, transform=(1, 0, 0, 0, -1, 0),
                  crs_wkt=None)
    assert block_rows_for(big) == 256 and block_rows_for(big, (), "COG") == 512
    assert block_rows_for(big, ("TILED=YES", "BLOCKYSIZE=1024", "BLOCKXSIZE=1024")) == 1024
    assert block_rows_for(big.window(0, 0, 100, 20000), (), "COG") == 100
