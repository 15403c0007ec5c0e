"""Running filters and reducers: pool reuse, N->M, errors, crashes, cancel, progress, logs."""

import os
import threading
import time

import numpy as np
import pytest

import filters_for_tests as tf
from tilewise.engine import (Cancelled, Engine, InputError, Profile, WorkerCrashed, WorkerError,
                             filters, reducers)
from tilewise.engine.store.segments import list_segments


def _raster(eng, data, nodata=None):
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    raster = eng.create(Profile(data.shape[0], data.shape[1], data.shape[2], data.dtype.name,
                                nodata=nodata))
    raster.writable_array()[...] = data
    return raster


@pytest.fixture(scope="module")
def pool2():
    with Engine(workers=2, tile_size=64) as eng:
        yield eng


def test_one_pool_serves_chained_calls(pool2):
    src = _raster(pool2, np.ones((300, 300), np.float32))
    first = pool2.reduce(tf.worker_pids, src)
    out = pool2.apply(filters.mean, src, size=3)
    second = pool2.reduce(tf.worker_pids, out)
    assert len(first) == 2 and first == second  # a test reducer: worker processes only
    assert os.getpid() not in first
    pool2.release(src, out)


def test_n_images_to_m_images(pool2):
    a = _raster(pool2, np.arange(200 * 150, dtype=np.int16).reshape(200, 150))
    b = _raster(pool2, np.full((200, 150), 7, np.int16))
    total, diff = pool2.apply(tf.sum_and_difference, [a, b])
    np.testing.assert_array_equal(total.array[0], a.array[0] + 7.0)
    np.testing.assert_array_equal(diff.array[0], a.array[0] - 7.0)
    assert total.dtype == np.float64
    pool2.release(a, b, total, diff)


def test_n_images_to_m_scalars(pool2):
    data = np.arange(250 * 130, dtype=np.float64).reshape(250, 130)
    data[5, 5] = -1
    src = _raster(pool2, data, nodata=-1)
    assert pool2.reduce(reducers.count, src) == [data.size - 1]
    assert pool2.reduce(reducers.minmax, src) == [(0.0, float(data.max()))]
    assert pool2.reduce(reducers.sum, src) == [pytest.approx(data.sum() + 1)]
    pool2.release(src)


def test_inputs_of_different_shape_are_rejected(pool2):
    a = _raster(pool2, np.zeros((10, 10), np.uint8))
    b = _raster(pool2, np.zeros((10, 11), np.uint8))
    with pytest.raises(InputError) as err:
        pool2.apply(filters.fill_nodata, [a, b])
    assert err.value.param == "inputs"
    pool2.release(a, b)


def test_inputs_of_different_transform_are_rejected():
    with Engine(workers=1) as eng:
        a = eng.create(Profile(1, 10, 10, "uint8", transform=(1, 0, 0, 0, -1, 0)))
        b = eng.create(Profile(1, 10, 10, "uint8", transform=(1, 0, 5, 0, -1, 0)))
        with pytest.raises(InputError, match="geotransform"):
            eng.apply(filters.fill_nodata, [a, b])


def test_filter_error_in_a_worker_carries_traceback_and_tile(pool2):
    src = _raster(pool2, np.zeros((400, 400), np.float32))
    before = list_segments(os.getpid())
    with pytest.raises(WorkerError) as err:
        pool2.apply(tf.fail_on_tile, src, pixel=(130, 200))
    message = str(err.value)
    assert "boom from the test filter" in message
    tile = err.value.tile
    assert tile.row0 <= 130 < tile.row1 and tile.col0 <= 200 < tile.col1
    assert f"rows {tile.row0}:{tile.row1}, cols {tile.col0}:{tile.col1}" in message
    assert "_fail_on_tile" in err.value.worker_traceback
    assert list_segments(os.getpid()) == before  # the output was released
    out = pool2.apply(filters.mean, src, size=3)  # the pool still works afterwards
    pool2.release(src, out)


def test_inline_errors_look_the_same():
    with Engine(workers=1, tile_size=16) as eng:
        src = _raster(eng, np.zeros((40, 40), np.float32))
        with pytest.raises(WorkerError, match="always fails") as err:
            eng.apply(tf.always_fail, src)
        assert "tile 0 (rows 0:14" in str(err.value)


def test_filters_get_read_only_inputs(pool2):
    src = _raster(pool2, np.ones((100, 100), np.float32))
    with pytest.raises(WorkerError, match="read-only"):
        pool2.apply(tf.write_input, src)
    assert (src.array == 1).all()
    pool2.release(src)


def test_a_killed_worker_gives_a_clear_error_quickly():
    with Engine(workers=2, tile_size=32) as eng:
        src = _raster(eng, np.zeros((256, 256), np.float32))
        started = time.monotonic()
        with pytest.raises(WorkerCrashed) as err:
            eng.apply(tf.kill_self, src, delay=0.05)
        assert time.monotonic() - started < 5
        assert "SIGKILL" in str(err.value) and "memory" in str(err.value)
        assert "fewer workers" in str(err.value)
        out = eng.apply(filters.mean, src, size=3)  # lost workers are replaced
        assert len(eng.reduce(tf.worker_pids, out)) == 2
        eng.release(src, out)


def test_cancel_stops_within_a_second_and_releases_the_output():
    flag = threading.Event()
    with Engine(workers=2, tile_size=16, cancel=flag.is_set) as eng:
        src = _raster(eng, np.zeros((256, 256), np.float32))
        before = list_segments(os.getpid())
        timer = threading.Timer(0.5, flag.set)
        timer.start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            eng.apply(tf.slow_copy, src, seconds=0.2)
        assert time.monotonic() - started < 0.5 + 1.0
        assert list_segments(os.getpid()) == before


def test_progress_goes_from_zero_to_one():
    seen = []
    with Engine(workers=2, tile_size=50, progress=seen.append) as eng:
        src = _raster(eng, np.zeros((200, 200), np.float32))
        eng.apply(filters.mean, src, size=3)
    assert seen[0] == 0.0 and seen[-1] == 1.0
    assert seen == sorted(seen) and len(seen) == 17


def test_worker_output_goes_to_the_log_not_the_console(capfd):
    lines = []
    with Engine(workers=2, tile_size=100, log=lines.append) as eng:
        src = _raster(eng, np.zeros((200, 100), np.float32))
        eng.apply(tf.noisy, src)
    out, err = capfd.readouterr()
    assert "hello from a worker" not in out + err
    assert any("stdout: hello from a worker" in line for line in lines)
    assert any("a warning from a worker" in line for line in lines)
    summary = [line for line in lines if line.startswith("noisy:")]
    assert len(summary) == 1
    assert "2 tiles on 2 worker processes" in summary[0] and "shared memory peak" in summary[0]


def test_a_filter_defined_in_a_test_body_cannot_be_sent_and_says_why():
    from tilewise.engine import Filter, TilewiseError

    local = Filter("local", lambda b, p, q: [b[0]])
    with Engine(workers=2, tile_size=8) as eng:
        src = _raster(eng, np.zeros((32, 32), np.float32))
        with pytest.raises(TilewiseError, match="module level"):
            eng.apply(local, src)


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_every_start_method_gives_the_same_result(method):
    data = np.random.default_rng(3).random((120, 90)).astype(np.float32)
    with Engine(workers=2, tile_size=32, start_method=method, backend="processes") as eng:
        out = eng.apply(filters.mean, _raster(eng, data), size=5)
        result = np.array(out.array)
    with Engine(workers=1, tile_size=0) as eng:
        expected = np.array(eng.apply(filters.mean, _raster(eng, data), size=5).array)
    np.testing.assert_array_equal(result, expected)


@pytest.mark.parametrize("kwargs, param", [({"workers": -1}, "workers"),
                                           ({"tile_size": -5}, "tile_size"),
                                           ({"workers": 1.5}, "workers")])
def test_bad_engine_settings_are_named(kwargs, param):
    with pytest.raises(InputError) as err:
        Engine(**kwargs)
    assert err.value.param == param


@pytest.mark.parametrize("params, param", [
    ({"size": 4}, "size"), ({"size": 0}, "size"), ({"size": -3}, "size"),
    ({"size": 3, "band": 3}, "band"), ({"size": 3, "colour": 1}, "colour")])
def test_bad_filter_parameters_are_named_before_any_work(params, param):
    with Engine(workers=1) as eng:
        src = _raster(eng, np.zeros((2, 5, 5), np.float32))
        before = list_segments(os.getpid())
        with pytest.raises(InputError) as err:
            eng.apply(filters.mean, src, **params)
        assert err.value.param == param
        assert list_segments(os.getpid()) == before


@pytest.mark.parametrize("params, param", [
    ({"max_distance": -1}, "max_distance"), ({"smoothing_iterations": -2}, "smoothing_iterations"),
    ({"band": 0}, "band"), ({"max_distance": float("nan")}, "max_distance")])
def test_bad_fill_parameters_are_named(params, param):
    with Engine(workers=1) as eng:
        src = _raster(eng, np.zeros((5, 5), np.float32))
        with pytest.raises(InputError) as err:
            eng.apply(filters.fill_nodata, src, **params)
        assert err.value.param == param


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (2, 3)])
def test_tiny_images_with_many_workers_and_huge_margins_work(shape):
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    data[0, 0] = np.nan
    with Engine(workers=3, tile_size=1) as eng:
        src = _raster(eng, data)
        filled = eng.apply(filters.fill_nodata, src, max_distance=500)
        smooth = eng.apply(filters.mean, src, size=101)
        assert filled.shape == smooth.shape == (1,) + shape
        assert np.isnan(smooth.array[0, 0, 0])


def test_a_worker_interpreter_that_cannot_start_is_explained(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\nexit 3\n")
    fake.chmod(0o755)
    with Engine(workers=2, tile_size=8, python=str(fake), backend="processes") as eng:
        src = _raster(eng, np.zeros((32, 32), np.float32))
        started = time.monotonic()
        with pytest.raises(WorkerCrashed, match="could not start") as err:
            eng.apply(filters.mean, src, size=3)
        assert time.monotonic() - started < 10
        assert str(fake) in str(err.value) and "__main__" in str(err.value)


def test_check_options_validates_without_writing():
    from tilewise.engine import check_options
    assert check_options("COMPRESS=ZSTD|ZLEVEL=9") == {"COMPRESS": "ZSTD", "ZLEVEL": "9"}
    with pytest.raises(InputError) as err:
        check_options("FOO=BAR")
    assert err.value.param == "options"


def test_small_images_stay_in_this_process_by_default(monkeypatch):
    monkeypatch.delenv("TILEWISE_MIN_PARALLEL_PIXELS")
    with Engine(workers=2) as eng:
        small = _raster(eng, np.zeros((500, 500), np.float32))
        assert eng.reduce(tf.worker_pids, small) == {os.getpid()}
        large = _raster(eng, np.zeros((1100, 1000), np.float32))
        assert os.getpid() not in eng.reduce(tf.worker_pids, large)


CATALOGUE = [
    (filters.nodata_mask, {}), (filters.fill_nodata, {"max_distance": 5}),
    (filters.mean, {"size": 3}), (filters.gaussian, {"sigma": 1.0}), (filters.median, {"size": 3}),
    (filters.focal_statistics, {"statistic": "majority"}),
    (filters.morphology, {"operation": "opening"}), (filters.sobel, {}), (filters.laplace, {}),
    (filters.gaussian_gradient_magnitude, {"sigma": 1.0}), (filters.slope, {}),
    (filters.aspect, {}), (filters.hillshade, {}), (filters.roughness, {}), (filters.tri, {}),
    (filters.band_math, {"expression": "A * 2"}),
]


@pytest.mark.parametrize("filter_, params", CATALOGUE, ids=[f.name for f, _ in CATALOGUE])
def test_no_filter_writes_its_input(filter_, params):
    """In this process the input's memory is writable underneath: nothing may use that."""
    rng = np.random.default_rng(0)
    data = rng.normal(100, 10, (60, 70)).astype(np.float32)
    data[rng.random((60, 70)) < 0.1] = -9999
    with Engine(workers=1, tile_size=32) as eng:
        src = _raster(eng, data, nodata=-9999)
        src = eng.create(src.profile.replace(transform=(10, 0, 0, 0, -10, 0)))
        src.writable_array()[0] = data
        eng.apply(filter_, src, **params)
        np.testing.assert_array_equal(src.array[0], data)


def _where(lines, name):
    return [line.rsplit(" in ", 1)[0] for line in lines if line.startswith(name + ":")]


def test_auto_uses_threads_for_gil_free_filters_until_the_workers_are_up():
    data = np.random.default_rng(2).random((300, 300)).astype(np.float32)
    lines = []
    with Engine(workers=2, tile_size=64, log=lines.append) as eng:
        src = _raster(eng, data)
        eng.release(eng.apply(filters.mean, src, size=3))       # GIL released: threads
        assert eng.backends.pool is None                                # no process started for it
        assert eng.reduce(tf.worker_pids, src) - {os.getpid()}  # GIL held: processes
        deadline = time.monotonic() + 30
        while not eng.backends.pool.ready():
            assert time.monotonic() < deadline, "workers never became ready"
            time.sleep(0.05)
        eng.release(eng.apply(filters.mean, src, size=3))       # workers up: processes
    assert _where(lines, "mean") == ["mean: 25 tiles on 2 threads",
                                     "mean: 25 tiles on 2 worker processes"]


def test_prepare_starts_the_workers_only_for_what_needs_them():
    from tilewise.engine import Pipeline
    seed = Pipeline(["dsm"])
    seed.add("filled", tf.held_fill, ["dsm"], max_distance=5)
    seed.add("smooth", filters.mean, ["filled"], size=3)
    profile = Profile(1, 300, 300, "float32")
    with Engine(workers=2) as eng:
        eng.prepare(filters.mean, filters.gaussian)
        eng.release(eng.create(profile))
        assert eng.backends.pool is None
        eng.prepare(filters.mean, seed)  # held_fill holds the GIL: at the next large raster
        assert eng.backends.pool is None
        eng.release(eng.create(profile))
        assert eng.backends.pool is not None
    with Engine(workers=2) as eng:
        eng.min_parallel_pixels = 2**20
        eng.prepare(seed)
        eng.release(eng.create(profile))  # small: runs in this process, no workers needed
        assert eng.backends.pool is None
        big = eng.create(Profile(1, 1024, 1024, "uint8"))
        eng.prepare(seed)  # a large raster is held already: now
        assert eng.backends.pool is not None
        eng.release(big)
    with Engine(workers=2, backend="threads") as eng:
        eng.prepare(tf.held_fill)
        assert eng.backends.pool is None
    with Engine(workers=2, backend="processes") as eng:
        eng.prepare(filters.mean)
        eng.release(eng.create(profile))
        assert eng.backends.pool is not None
    with Engine(workers=1) as eng:
        eng.prepare(tf.held_fill)
        assert eng.backends.pool is None


def test_small_images_and_one_worker_stay_in_this_process():
    lines = []
    with Engine(workers=2, tile_size=64, log=lines.append) as eng:
        eng.min_parallel_pixels = 2**20
        src = _raster(eng, np.zeros((300, 300), np.float32))
        eng.release(eng.apply(filters.mean, src, size=3))
        assert eng.backends.pool is None  # never started for a small image
    with Engine(workers=1, tile_size=64, log=lines.append) as eng:
        eng.release(eng.apply(filters.mean, _raster(eng, np.zeros((300, 300), np.float32)),
                              size=3))
    assert _where(lines, "mean") == ["mean: 25 tiles in this process"] * 2


@pytest.mark.parametrize("backend", ["threads", "processes"])
def test_both_parallel_backends_report_errors_and_cancel_alike(backend):
    flag = threading.Event()
    with Engine(workers=2, tile_size=32, backend=backend, cancel=flag.is_set) as eng:
        src = _raster(eng, np.zeros((256, 256), np.float32))
        before = list_segments(os.getpid())
        with pytest.raises(WorkerError, match="boom") as err:
            eng.apply(tf.fail_on_tile, src, pixel=(100, 100))
        assert err.value.tile.row0 <= 100 < err.value.tile.row1
        assert list_segments(os.getpid()) == before
        threading.Timer(0.3, flag.set).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            eng.apply(tf.slow_copy, src, seconds=0.05)
        assert time.monotonic() - started < 1.5
        assert list_segments(os.getpid()) == before


def test_a_bad_backend_is_named():
    with pytest.raises(InputError) as err:
        Engine(workers=2, backend="gpu")
    assert err.value.param == "backend"


def test_the_engines_own_filters_also_run_here_a_users_only_in_workers():
    lines = []
    with Engine(workers=2, tile_size=64, log=lines.append) as eng:
        src = _raster(eng, np.zeros((300, 300), np.float32), nodata=-1.0)
        eng.release(eng.apply(tf.held_fill, src, max_distance=3))
        assert len(eng.backends.pool._workers) == 1  # this process was the other worker
        assert os.getpid() not in eng.reduce(tf.worker_pids, src)  # a user's: processes only
        assert len(eng.backends.pool._workers) == 2
    assert _where(lines, "held_fill") == [
        "held_fill: 25 tiles on this process and 1 worker process"]


def test_workers_started_by_prepare_import_what_the_filters_need_while_booting():
    with Engine(workers=2, tile_size=64) as eng:
        eng.prepare(tf.held_fill)
        src = _raster(eng, np.zeros((300, 300), np.float32), nodata=-1.0)
        imported = eng.reduce(tf.imported_modules, src, prefix="rasterio")
    assert "rasterio.fill" in imported  # before any fill ran
