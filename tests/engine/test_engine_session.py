"""Worker processes kept between Engines (engine.execution.session), as the QGIS provider uses them."""

import os
import signal
import time

import numpy as np
import pytest

import filters_for_tests as tf
from tilewise.engine import Engine, Profile, WorkerSession, filters


def _pids(eng):
    return sorted(w.process.pid for w in eng.backends.pool._workers)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _job(eng):
    src = eng.create(Profile(1, 200, 200, "float32", nodata=-1.0))
    src.writable_array()[0, ::9, ::7] = -1.0
    out = eng.apply(tf.held_fill, src, max_distance=5)  # holds the GIL: processes
    return src, out


@pytest.fixture
def session():
    s = WorkerSession()
    yield s
    s.close()


def test_engines_in_turn_share_the_workers_and_leave_no_map_behind(session):
    with Engine(workers=2, tile_size=50, session=session) as eng:
        src, _ = _job(eng)
        first, name = _pids(eng), src.ref.segment.name
    # the engine gave the pool back: its workers live on, with its segments unmapped
    assert all(_alive(p) for p in first)
    assert _wait(lambda: not any(name in open(f"/proc/{p}/maps").read() for p in first))
    with Engine(workers=2, tile_size=50, session=session) as eng:
        src, out = _job(eng)
        assert _pids(eng) == first
        with Engine(workers=1) as single:
            single_src = single.create(src.profile)
            single_src.writable_array()[...] = src.array
            expected = np.array(single.apply(tf.held_fill, single_src,
                                             max_distance=5).array)
        np.testing.assert_array_equal(out.array, expected)
    assert session.pools == 1


def test_an_engine_finding_the_pool_lent_out_starts_and_stops_its_own(session):
    with Engine(workers=2, tile_size=50, session=session) as a:
        _job(a)
        with Engine(workers=2, tile_size=50, session=session) as b:
            _job(b)
            own = _pids(b)
            assert set(own).isdisjoint(_pids(a))
        assert _wait(lambda: not any(_alive(p) for p in own))
        lent = _pids(a)
    assert all(_alive(p) for p in lent)


def test_closing_the_session_stops_its_workers_even_when_lent_out(session):
    with Engine(workers=2, tile_size=50, session=session) as eng:
        _job(eng)
        pids = _pids(eng)
        session.close()
        assert all(_alive(p) for p in pids)  # still in use by this engine
        _job(eng)
    assert _wait(lambda: not any(_alive(p) for p in pids))
    with Engine(workers=2, tile_size=50, session=session) as eng:  # a closed session lends nothing
        _job(eng)
        assert eng.backends.borrowed is False


def test_a_worker_lost_between_engines_is_replaced(session):
    with Engine(workers=3, tile_size=50, session=session) as eng:
        _job(eng)
        workers = list(eng.backends.pool._workers)
    os.kill(workers[0].process.pid, signal.SIGKILL)
    assert _wait(lambda: not workers[0].process.is_alive())
    with Engine(workers=3, tile_size=50, session=session) as eng:
        _, out = _job(eng)
        pids = _pids(eng)
        assert len(pids) == 2 and workers[1].process.pid in pids
        assert workers[0].process.pid not in pids
        assert eng.reduce(tf.worker_pids, out) <= set(_pids(eng)) | {os.getpid()}
