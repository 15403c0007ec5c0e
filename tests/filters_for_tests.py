"""Filters used by the tests. Importable by worker processes (tests/ is on sys.path)."""

import os
import signal
import time

import numpy as np

from tilewise.engine import Filter, Reducer


def _fail_on_tile(buffers, profiles, params):
    """Raise on the tile holding pixel (row, col); needs the default transform (1, 0, 0, 0, 1, 0)."""
    row0, col0 = profiles[0].transform[5], profiles[0].transform[2]
    row, col = params["pixel"]
    if row0 <= row < row0 + profiles[0].height and col0 <= col < col0 + profiles[0].width:
        raise ValueError("boom from the test filter")
    return [np.array(buffers[0])]


fail_on_tile = Filter("fail_on_tile", _fail_on_tile)


def _always_fail(buffers, profiles, params):
    raise RuntimeError("this filter always fails")


always_fail = Filter("always_fail", _always_fail)


def _kill_self(buffers, profiles, params):
    time.sleep(params.get("delay", 0.0))
    os.kill(os.getpid(), signal.SIGKILL)


kill_self = Filter("kill_self", _kill_self)


def _slow_copy(buffers, profiles, params):
    time.sleep(params["seconds"])
    return [np.array(buffers[0])]


slow_copy = Filter("slow_copy", _slow_copy)


def _split_and_sum(buffers, profiles, params):
    """2 inputs -> 2 outputs: their sum and difference (float64)."""
    a = buffers[0].astype(np.float64)
    b = buffers[1].astype(np.float64)
    return [a + b, a - b]


def _two_float_outputs(profiles, params):
    return [profiles[0].replace(dtype="float64")] * 2


sum_and_difference = Filter("sum_and_difference", _split_and_sum, outputs=_two_float_outputs,
                            inputs=(2, 2))


def _noisy(buffers, profiles, params):
    print("hello from a worker")
    import warnings
    warnings.warn("a warning from a worker")
    return [np.array(buffers[0])]


noisy = Filter("noisy", _noisy)


def _write_input(buffers, profiles, params):
    buffers[0][...] = 0
    return [np.array(buffers[0])]


write_input = Filter("write_input", _write_input)


def _pid(buffers, profiles, params):
    return os.getpid()


def _merge_pids(partials, params):
    return set(partials)


worker_pids = Reducer("worker_pids", _pid, _merge_pids)


def _imported(buffers, profiles, params):
    import sys
    return {name for name in sys.modules if name.split(".")[0] == params["prefix"]}


def _union(partials, params):
    return set().union(*partials)


imported_modules = Reducer("imported_modules", _imported, _union)


def _held_fill(buffers, profiles, params):
    from rasterio.fill import fillnodata  # holds the GIL
    band = buffers[0][0]
    valid = (band != profiles[0].nodata).view(np.uint8)
    return [fillnodata(np.array(band), mask=valid, max_search_distance=params["max_distance"])[None]]


#: an engine-like filter that holds the GIL (rasterio's fill): its tiles go to worker
#: processes, and to this process too (runs_in_caller), as the engine's own filters may
def _held_fill_margin(params):
    return params["max_distance"]


held_fill = Filter("held_fill", _held_fill, margin=_held_fill_margin,
                   runs_in_caller=True, preload=("rasterio.fill",))
