"""The shared raster store: open, profile, create, release, atomic write."""

import os

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS

from tilewise.engine import Engine, InputError, Profile, ReleasedError, parse_options
from tilewise.engine.store.segments import list_segments


def _write(path, data, nodata=-9999.0, crs="EPSG:32631", descriptions=None, **extra):
    count, height, width = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=count,
                       dtype=data.dtype, nodata=nodata, crs=crs,
                       transform=rasterio.Affine(10, 0, 500000, 0, -10, 4600000), **extra) as dst:
        dst.write(data)
        for i, text in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, text)
    return path


@pytest.fixture
def eng():
    with Engine(workers=1) as engine:
        yield engine


def test_open_reads_every_band_and_the_full_profile(tmp_path, eng):
    data = np.arange(3 * 20 * 30, dtype=np.int16).reshape(3, 20, 30)
    path = _write(tmp_path / "in.tif", data, nodata=-1, descriptions=["red", "green", "nir"])
    raster = eng.open(path)
    np.testing.assert_array_equal(raster.array, data)
    p = raster.profile
    assert (p.count, p.height, p.width, p.dtype, p.nodata) == (3, 20, 30, "int16", -1.0)
    assert CRS.from_wkt(p.crs_wkt) == CRS.from_epsg(32631) and "PROJCS" in p.crs_wkt or \
        "PROJCRS" in p.crs_wkt
    assert p.transform == (10.0, 0.0, 500000.0, 0.0, -10.0, 4600000.0)
    assert p.descriptions == ("red", "green", "nir")


def test_profile_of_a_window_shifts_the_transform():
    p = Profile(1, 100, 100, "float32", transform=(10, 0, 1000, 0, -10, 5000))
    w = p.window(5, 7, 20, 30)
    assert (w.height, w.width) == (20, 30)
    assert w.transform == (10, 0, 1070, 0, -10, 4950)


def test_write_round_trip_with_creation_options(tmp_path, eng):
    data = np.random.default_rng(0).random((2, 64, 48)).astype(np.float32)
    raster = eng.open(_write(tmp_path / "in.tif", data, descriptions=["a", "b"]))
    out = eng.write(raster, tmp_path / "out.tif", options="COMPRESS=DEFLATE|PREDICTOR=3|TILED=YES")
    with rasterio.open(out) as ds:
        assert ds.compression.name == "deflate"
        assert ds.profile["tiled"]
        assert ds.descriptions == ("a", "b")
        assert ds.nodata == -9999.0 and ds.crs == CRS.from_epsg(32631)
        np.testing.assert_array_equal(ds.read(), data)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".tilewise-")]
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


@pytest.mark.parametrize("options, message", [
    ("COMPRESS=NOPE", "COMPRESS=NOPE"), ("BOGUS=1", "BOGUS"), ("COMPRESS", "KEY=VALUE"),
    ("TILED=MAYBE", "YES or NO"), ("ZLEVEL=abc", "integer"),
    ("TILED=YES|BLOCKXSIZE=7", "GDAL rejects"), ("PREDICTOR=9", "GDAL rejects")])
def test_bad_creation_options_fail_before_writing_and_leave_the_target_alone(
        tmp_path, eng, options, message):
    raster = eng.open(_write(tmp_path / "in.tif", np.ones((1, 8, 8), np.float32)))
    target = tmp_path / "out.tif"
    target.write_bytes(b"precious")
    with pytest.raises(InputError) as err:
        eng.write(raster, target, options=options)
    assert err.value.param == "options" and message in str(err.value)
    assert target.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["in.tif", "out.tif"]


def test_a_failed_write_leaves_no_half_file(tmp_path, eng, monkeypatch):
    raster = eng.open(_write(tmp_path / "in.tif", np.ones((1, 8, 8), np.float32)))
    target = tmp_path / "out.tif"
    import tilewise.engine.io.writing as rio

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(rio.os, "replace", explode)
    with pytest.raises(InputError):
        eng.write(raster, target)
    assert sorted(os.listdir(tmp_path)) == ["in.tif"]


def test_writing_over_an_input_is_refused(tmp_path, eng):
    path = _write(tmp_path / "in.tif", np.ones((1, 8, 8), np.float32))
    raster = eng.open(path)
    with pytest.raises(InputError) as err:
        eng.write(raster, path)
    assert err.value.param == "output"


def test_missing_file_and_not_a_raster_are_named(tmp_path, eng):
    with pytest.raises(InputError, match="no such file") as err:
        eng.open(tmp_path / "missing.tif")
    assert err.value.param == "path"
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="not a raster") as err:
        eng.open(tmp_path / "notes.txt")
    assert err.value.param == "path"


def test_complex_data_is_rejected_clearly(tmp_path, eng):
    path = _write(tmp_path / "c.tif", np.ones((1, 4, 4), np.complex64), nodata=None)
    with pytest.raises(InputError, match="complex64"):
        eng.open(path)
    assert list_segments(os.getpid()) == []


def test_use_after_release_raises_and_never_crashes(tmp_path, eng):
    raster = eng.open(_write(tmp_path / "in.tif", np.full((1, 50, 50), 7, np.float32)))
    held = raster.array  # a view still held by the caller
    name = raster.ref.segment.name
    eng.release(raster)
    assert name not in list_segments()
    with pytest.raises(ReleasedError):
        raster.array
    with pytest.raises(ReleasedError):
        eng.write(raster, tmp_path / "x.tif")
    assert held[0, 0, 0] == 7  # the caller's view keeps its pages alive: no segfault
    raster.release()  # releasing twice is harmless


def test_context_manager_releases_everything_on_error(tmp_path):
    path = _write(tmp_path / "in.tif", np.ones((1, 16, 16), np.float32))
    with pytest.raises(RuntimeError):
        with Engine(workers=1) as engine:
            engine.open(path)
            engine.create(Profile(2, 10, 10, "uint16"))
            assert len(list_segments(os.getpid())) == 2
            raise RuntimeError("user code failed")
    assert list_segments(os.getpid()) == []


def test_parse_options_accepts_qgis_strings_and_lists():
    assert parse_options("compress=deflate|PREDICTOR=2") == ["COMPRESS=deflate", "PREDICTOR=2"]
    assert parse_options(["TILED=YES"]) == ["TILED=YES"]
    assert parse_options("") == [] and parse_options(None) == []


def test_temporaries_of_killed_writers_are_swept(tmp_path, eng):
    stale = tmp_path / ".tilewise-7fffffff-abc.tif"  # no such pid
    stale.write_bytes(b"half")
    mine = tmp_path / f".tilewise-{os.getpid():x}-xyz.tif"  # a live writer's
    mine.write_bytes(b"busy")
    raster = eng.create(Profile(1, 4, 4, "uint8"))
    eng.write(raster, tmp_path / "out.tif")
    assert not stale.exists() and mine.exists()


def test_one_option_string_serves_float_and_integer_outputs(tmp_path, eng):
    for dtype in ("uint8", "float32"):
        raster = eng.create(Profile(1, 16, 16, dtype))
        path = eng.write(raster, tmp_path / f"{dtype}.tif", options="COMPRESS=DEFLATE|PREDICTOR=3")
        with rasterio.open(path) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE").get("PREDICTOR") == ("3" if dtype == "float32"
                                                                       else "2")
