"""Model chains skip the disk: inside one process, a Tilewise algorithm that opens a raster a
Tilewise algorithm just wrote takes the shared-memory copy (the log says so), never a stale
one; ``TILEWISE_CACHE=0`` turns that off (the provider settings that feed it: test_settings)."""

import os

import numpy as np
import pytest
from rasterio.fill import fillnodata

import qgis_helpers as qh
from feedback_helpers import RecordingFeedback

NODATA = -9999.0
CACHED = "taken from the shared-memory cache"


@pytest.fixture(autouse=True)
def empty_cache(monkeypatch):
    """Each test starts and ends with an empty cache (ends: before conftest's leak check), on
    whatever the environment says."""
    from tilewise.engine.store.cache import clear_default_cache

    monkeypatch.delenv("TILEWISE_CACHE", raising=False)
    clear_default_cache()
    yield
    clear_default_cache()


@pytest.fixture(scope="session")
def dem(tmp_path_factory):
    array = qh.punch_holes(qh.synthetic_dem(60, 80, seed=21), NODATA, seed=22)
    path = qh.write_geotiff(tmp_path_factory.mktemp("dem") / "dem.tif", array, nodata=NODATA)
    return path, array


def run(processing, algorithm, **parameters):
    """processing.run; returns the lines the algorithm logged."""
    feedback = RecordingFeedback()
    processing.run(f"tilewise:{algorithm}", parameters, feedback=feedback)
    return feedback.of("info")


def cached(lines, path):
    return [line for line in lines if CACHED in line and str(path) in line]


@pytest.mark.parametrize("workers", [1, 2])
def test_chain_takes_the_shared_copy(processing, dem, tmp_path, workers):
    path, array = dem
    mask, filled, smooth = (tmp_path / n for n in ("mask.tif", "filled.tif", "smooth.tif"))
    first = run(processing, "nodatamask", INPUT=path, BAND=1, OUTPUT=str(mask), WORKERS=workers,
                TILE_SIZE=16)
    assert not [line for line in first if CACHED in line]  # the DSM was never written by us
    second = run(processing, "fillnodata", INPUT=path, BAND=1, MASK=str(mask), MAX_DISTANCE=30,
                 OUTPUT=str(filled), WORKERS=workers, TILE_SIZE=16)
    assert cached(second, mask), second
    third = run(processing, "meanfilter", INPUT=str(filled), SIZE=3, OUTPUT=str(smooth),
                WORKERS=workers, TILE_SIZE=16)
    assert cached(third, filled), third
    expected = fillnodata(array.copy(), mask=(array != NODATA).astype("uint8"),
                          max_search_distance=30)
    np.testing.assert_array_equal(qh.read_geotiff(filled)[0][0], expected)
    from tilewise.engine.store.cache import default_cache

    assert default_cache().hits >= 2


def test_a_file_modified_in_between_is_never_served_stale(processing, dem, tmp_path):
    path, array = dem
    mask = tmp_path / "mask.tif"
    run(processing, "nodatamask", INPUT=path, BAND=1, OUTPUT=str(mask), WORKERS=1)
    # someone else rewrites the mask, same size and type: fill a box only
    other = np.zeros(array.shape, dtype="uint8")
    other[10:30, 20:50] = 1
    os.remove(mask)  # a new file (new inode), as most tools write
    qh.write_geotiff(mask, other)
    lines = run(processing, "fillnodata", INPUT=path, BAND=1, MASK=str(mask), MAX_DISTANCE=30,
                OUTPUT=str(tmp_path / "filled.tif"), WORKERS=1)
    assert not cached(lines, mask), lines
    expected = fillnodata(array.copy(), mask=(other == 0).astype("uint8"), max_search_distance=30)
    np.testing.assert_array_equal(qh.read_geotiff(tmp_path / "filled.tif")[0][0], expected)


def test_a_file_rewritten_in_place_is_never_served_stale(processing, dem, tmp_path):
    import rasterio

    path, array = dem
    mask = tmp_path / "mask.tif"
    run(processing, "nodatamask", INPUT=path, BAND=1, OUTPUT=str(mask), WORKERS=1)
    with rasterio.open(mask, "r+") as dst:  # same file, same inode and size
        dst.write(np.ones((1,) + array.shape, dtype="uint8"))
    lines = run(processing, "meanfilter", INPUT=str(mask), SIZE=1, OUTPUT=str(tmp_path / "m.tif"),
                WORKERS=1)
    assert not cached(lines, mask), lines
    assert (qh.read_geotiff(tmp_path / "m.tif")[0] == 1).all()


def test_tilewise_cache_0_turns_it_off(processing, dem, tmp_path, monkeypatch):
    monkeypatch.setenv("TILEWISE_CACHE", "0")
    path, _ = dem
    mask = tmp_path / "mask.tif"
    run(processing, "nodatamask", INPUT=path, BAND=1, OUTPUT=str(mask), WORKERS=1)
    lines = run(processing, "fillnodata", INPUT=path, BAND=1, MASK=str(mask), MAX_DISTANCE=30,
                OUTPUT=str(tmp_path / "filled.tif"), WORKERS=1)
    assert not [line for line in lines if CACHED in line], lines
    from tilewise.engine.store import cache

    assert cache._default is None or not cache._default._entries


def test_the_pipeline_algorithm_feeds_the_cache_too(processing, dem, tmp_path):
    path, _ = dem
    run(processing, "pipeline", PIPELINE=str(qh.REPO_ROOT / "resources" / "pipelines" /
                                             "seed.json"),
        INPUTS=[path], WORKERS=1, OUTPUT_FOLDER=str(tmp_path / "out"))
    lines = run(processing, "meanfilter", INPUT=str(tmp_path / "out" / "smooth.tif"), SIZE=3,
                OUTPUT=str(tmp_path / "again.tif"), WORKERS=1)
    assert cached(lines, tmp_path / "out" / "smooth.tif"), lines
