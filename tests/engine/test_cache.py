"""The shared-memory cache of written rasters: hits skip the read, stale files are re-read."""

import os
import time

import numpy as np
import pytest
import rasterio

from tilewise.engine import Engine, Profile, filters
from tilewise.engine.store.cache import RasterCache
from tilewise.engine.store.segments import list_segments


def _profile(rows=50, cols=60):
    return Profile(1, rows, cols, "float32", nodata=-9999.0,
                   transform=(10, 0, 500000, 0, -10, 4600000), crs_wkt=None)


def _write_once(cache, path, value):
    with Engine(workers=1, cache=cache) as eng:
        raster = eng.create(_profile())
        raster.writable_array()[...] = value
        eng.write(raster, path)


@pytest.fixture
def make_cache():
    """RasterCache(budget) factory; at the end every cache made is emptied, and no segment of
    this process is left."""
    made = []
    yield lambda budget: made.append(RasterCache(budget)) or made[-1]
    for cache in made:
        cache.clear()
    assert list_segments(os.getpid()) == []


def test_a_written_raster_is_served_from_memory_by_the_next_engine(tmp_path, make_cache):
    cache = make_cache(2**30)
    _write_once(cache, tmp_path / "a.tif", 7)
    logs = []
    with Engine(workers=2, cache=cache, log=logs.append) as eng:
        a = eng.open(tmp_path / "a.tif")
        assert (a.array == 7).all() and not a.array.flags.writeable
        smooth = eng.apply(filters.mean, a, size=3)  # workers attach the cached segment
        assert (smooth.array == 7).all()
    assert cache.hits == 1 and any("cache" in line for line in logs)


def test_a_modified_file_is_never_served_stale(tmp_path, make_cache):
    cache = make_cache(2**30)
    path = tmp_path / "a.tif"
    _write_once(cache, path, 1)
    # rewrite the file behind the cache's back: same size, same shape, other values
    with rasterio.open(path, "r+") as ds:
        ds.write(np.full((1, 50, 60), 2, np.float32))
    with Engine(workers=1, cache=cache) as eng:
        assert (eng.open(path).array == 2).all()
    assert cache.hits == 0 and cache.misses == 1
    os.utime(path, ns=(time.time_ns(), time.time_ns()))  # a touch alone invalidates too
    _write_once(cache, path, 3)
    os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
    with Engine(workers=1, cache=cache) as eng:
        assert (eng.open(path).array == 3).all()
    assert cache.hits == 0


def test_the_budget_evicts_least_recently_used_but_never_a_borrowed_entry(tmp_path, make_cache):
    one = _profile().nbytes
    cache = make_cache(2 * one + 10)
    for name in "abc":
        _write_once(cache, tmp_path / f"{name}.tif", ord(name))
    assert cache.nbytes <= cache.budget and len(cache._entries) == 2
    with Engine(workers=1, cache=cache) as eng:
        b = eng.open(tmp_path / "b.tif")     # borrowed: must survive eviction
        _write_once(cache, tmp_path / "d.tif", 4)
        _write_once(cache, tmp_path / "e.tif", 5)
        assert (b.array == ord("b")).all()
        assert os.path.realpath(tmp_path / "b.tif") in cache._entries


def test_a_file_rewritten_while_borrowed_keeps_the_borrowers_copy_alive(tmp_path, make_cache):
    cache = make_cache(2**30)
    path = tmp_path / "a.tif"
    _write_once(cache, path, 1)
    with Engine(workers=2, cache=cache) as eng:
        a = eng.open(path)
        _write_once(cache, path, 2)          # another engine rewrites the file meanwhile
        out = eng.apply(filters.mean, a, size=3)  # workers still attach a's segment
        assert (out.array == 1).all()
    with Engine(workers=1, cache=cache) as eng:
        assert (eng.open(path).array == 2).all()


def test_rasters_larger_than_the_budget_are_not_cached(tmp_path, make_cache):
    cache = make_cache(100)
    _write_once(cache, tmp_path / "a.tif", 1)
    assert cache.nbytes == 0


def test_default_cache_can_be_turned_off(monkeypatch):
    import tilewise.engine.store.cache as c
    monkeypatch.setenv("TILEWISE_CACHE", "0")
    assert c.default_cache() is None
