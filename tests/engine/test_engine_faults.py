"""Faults mid-run: nothing leaked (segments, processes), nothing hung, outputs untouched."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import filters_for_tests as tf
from tilewise.engine import Engine, Profile, filters
from tilewise.engine.store.segments import list_segments

HERE = Path(__file__).resolve().parent


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); count it as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


_started = []


@pytest.fixture(autouse=True)
def _kill_leftover_jobs():
    """Whatever a test asserts, no job process outlives it."""
    yield
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _start_job(plugin_parent_dir, workers=2, seconds=0.5, output=None):
    extra = [str(output)] if output else []
    proc = subprocess.Popen([sys.executable, str(HERE / "fault_script.py"), str(plugin_parent_dir),
                             str(workers), str(seconds)] + extra, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _started.append(proc)
    pids = proc.stdout.readline().split()
    segments = proc.stdout.readline().split()
    assert pids and pids[0] == "pids", proc.stderr.read()
    return proc, [int(p) for p in pids[1:]], segments[1:]


@pytest.fixture
def target(tmp_path):
    """An output path holding an older result that no fault may touch."""
    path = tmp_path / "result.tif"
    path.write_bytes(b"an older result")
    return path


def _untouched(target):
    assert target.read_bytes() == b"an older result"
    assert sorted(os.listdir(target.parent)) == ["result.tif"]


def test_parent_sigkill_leaves_no_segment_and_no_worker(plugin_parent_dir, target):
    proc, pids, segments = _start_job(plugin_parent_dir, output=target)
    assert len(pids) == 3 and len(segments) == 2
    os.kill(pids[0], signal.SIGKILL)
    proc.wait(5)
    assert _wait_gone(pids[1:], 5), "workers outlived their parent"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and set(segments) & set(list_segments()):
        time.sleep(0.05)
    assert not set(segments) & set(list_segments()), "the resource tracker did not clean up"
    _untouched(target)


def test_sigint_in_the_parent_stops_quickly_and_cleanly(plugin_parent_dir, target):
    proc, pids, segments = _start_job(plugin_parent_dir, output=target)
    started = time.monotonic()
    os.kill(pids[0], signal.SIGINT)
    proc.wait(10)
    assert time.monotonic() - started < 3
    err = proc.stderr.read()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert "finished" not in proc.stdout.read()
    assert _wait_gone(pids[1:], 5)
    assert not set(segments) & set(list_segments())
    _untouched(target)


def test_a_worker_killed_mid_run_leaves_the_target_alone(plugin_parent_dir, target):
    proc, pids, segments = _start_job(plugin_parent_dir, output=target)
    os.kill(pids[1], signal.SIGKILL)  # what the OOM killer does
    proc.wait(10)
    err = proc.stderr.read()
    assert proc.returncode != 0 and "WorkerCrashed" in err and "memory" in err
    assert _wait_gone(pids[1:], 5)
    assert not set(segments) & set(list_segments())
    _untouched(target)


def test_workers_load_gdal_only_for_a_filter_that_needs_it():
    with Engine(workers=2, tile_size=64, backend="processes") as eng:
        src = eng.create(Profile(1, 256, 256, "float32", nodata=-1.0))
        src.writable_array()[0, ::7, ::5] = -1.0  # holes in every tile
        eng.release(eng.apply(filters.mean, src, size=3))
        assert eng.reduce(tf.imported_modules, src, prefix="rasterio") == set()
        eng.release(eng.apply(tf.held_fill, src, max_distance=5))
        assert "rasterio.fill" in eng.reduce(tf.imported_modules, src, prefix="rasterio")


def test_orphans_of_dead_owners_are_swept_at_start_up(plugin_parent_dir):
    """Even without a resource tracker (e.g. file-backed segments), the next Engine sweeps."""
    proc, pids, segments = _start_job(plugin_parent_dir)
    # kill the tracker first so that nothing cleans up behind the parent
    tracker = [p for p in _children(pids[0]) if p not in pids]
    for pid in tracker + [pids[0]]:
        os.kill(pid, signal.SIGKILL)
    proc.wait(5)
    _wait_gone(pids[1:], 5)
    with Engine(workers=1):
        pass
    assert not set(segments) & set(list_segments())


def _children(pid):
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def test_keyboard_interrupt_in_the_calling_thread_releases_everything():
    calls = {"n": 0}

    def interrupt():
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return False
    with Engine(workers=2, tile_size=32, cancel=interrupt) as eng:
        src = eng.create(Profile(1, 512, 512, "float32"))
        before = list_segments(os.getpid())
        with pytest.raises(KeyboardInterrupt):
            eng.apply(tf.slow_copy, src, seconds=0.05)
        assert list_segments(os.getpid()) == before
        out = eng.apply(filters.mean, src, size=3)  # the engine is still usable
        eng.release(out)


def test_filter_error_cancels_pending_tiles_instead_of_awaiting_them():
    with Engine(workers=2, tile_size=32) as eng:
        src = eng.create(Profile(1, 1024, 1024, "float32"))
        started = time.monotonic()
        with pytest.raises(Exception, match="always fails"):
            eng.apply(tf.always_fail, src)
        assert time.monotonic() - started < 2  # 1024 tiles were pending


def test_two_engines_in_two_threads_do_not_collide():
    data = np.random.default_rng(5).random((300, 400)).astype(np.float32)
    results, errors = {}, []

    def run(name, size):
        try:
            with Engine(workers=2, tile_size=64) as eng:
                src = eng.create(Profile(1, 300, 400, "float32"))
                src.writable_array()[0] = data
                results[name] = np.array(eng.apply(filters.mean, src, size=size).array)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=run, args=(n, s)) for n, s in (("a", 3), ("b", 5))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    with Engine(workers=1) as eng:
        src = eng.create(Profile(1, 300, 400, "float32"))
        src.writable_array()[0] = data
        for name, size in (("a", 3), ("b", 5)):
            np.testing.assert_array_equal(results[name], eng.apply(filters.mean, src, size=size).array)


def test_two_processes_at_once_do_not_collide(plugin_parent_dir):
    procs = [_start_job(plugin_parent_dir, seconds=0.01) for _ in range(2)]
    for proc, pids, segments in procs:
        proc.wait(60)
        assert proc.returncode == 0, proc.stderr.read()
        assert "finished" in proc.stdout.read()
    names = [set(segments) for _, _, segments in procs]
    assert not names[0] & names[1]
