"""Streaming runs, file to file: strips of rows read, computed and written in overlap.

A run cuts the image into tiles (``plan_tiles``), groups consecutive rows of tiles into
strips (``plan_strips``) and, for each strip, reads the rows its tiles' read windows
cover into strip buffers, computes the tiles there (on the engine's backends, exactly as
in memory: a tile sees the same read window, so the result is the same, bit for bit), and
writes the strip's core rows. Reading strip k + 1 and writing strip k - 1 go on in threads
while strip k is computed; on threads, strip k + 1's tiles start as soon as a thread is
done with strip k's, instead of waiting for its slowest tile. The buffers are made once
and reused (``store.buffer_pool``): STRIPS_IN_FLIGHT of each file at most, so memory is
bounded by the strips, not by the image. An output the cache keeps is computed in place,
in the whole raster the cache then adopts.

The tiles and strips are planned in ``tiling.strips``.
"""

import math
import os
import time
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager

from ..core.errors import Cancelled, InputError
from ..store.buffer_pool import BufferPool
from ..store.raster import RasterWindow
from ..core.filter import check_input_count
from ..plan.checks import check_step
from ..tiling.tiles import bytes_per_pixel
from ..plan.pipeline import fused_filter, pipeline_inputs, plan
from ..io.reading import block_rows, read_into, read_profile
from ..io.writing import RasterWriter, block_rows_for, refuse_writing_over
from .backends import ThreadBackend
from .tasks import TileJob
from ..tiling.strips import (MIN_STRIPS, SMALL_STREAM_PIXELS, STRIP_SHARE, STRIPS_IN_FLIGHT,
                             minimum_budget, plan_strips, plan_tiles, strip_bytes)

@contextmanager
def bounded_gdal_cache(cache_bytes):
    """GDAL's block cache (process-wide; 5 % of the RAM by default) held to ``cache_bytes``
    (``gdal_cache_bytes``) while a stream runs, then restored: every block a stream reads or
    writes passes through it once, and GDAL evicts only when it is full, so a raster larger
    than the budget would otherwise sit there whole."""
    try:
        from osgeo import gdal
    except ImportError:  # rasterio without GDAL's Python bindings: nothing to bound
        yield
        return
    previous = gdal.GetCacheMax()
    gdal.SetCacheMax(int(min(previous, cache_bytes)))
    try:
        yield
    finally:
        gdal.SetCacheMax(previous)


STRIPS_COMPUTING = 2     # strips whose tiles run at once (on threads): one ending, one starting
PROGRESS_SECONDS = 0.1

GDAL_CACHE_FLOOR = 16 * 2**20


def gdal_cache_bytes(budget, block_row_bytes=0):
    """GDAL's block cache during a stream: two rows of the largest blocks of the run's files
    (``block_row_bytes``: a row of blocks of every band), at least 16 MiB, at most a
    quarter of the budget. No larger: blocks then come back to the cache in memory it
    freed, not in new pages (a 10980 x 10980 fill: 0.3 s less, a fifth of its page faults,
    than with an eighth of the default budget)."""
    return min(max(GDAL_CACHE_FLOOR, 2 * block_row_bytes), budget // 4)


def _block_row_bytes(sources, profiles, out_profiles, options, driver):
    """Bytes of the largest row of blocks (every band) among the inputs and the outputs."""
    rows = [min(p.height, block_rows(path)) for path, p in zip(sources, profiles)]
    rows += [block_rows_for(p, options, driver) for p in out_profiles]
    return max(r * p.width * p.pixel_bytes for r, p in zip(rows, profiles + out_profiles))


def check_sources(op, sources, params):
    """Read the profiles of the files ``sources`` and check ``op`` on them (``check_step``).

    Returns ``(profiles, checked params, output profiles)``.
    """
    check_input_count(op, len(sources))  # before opening any file
    profiles = [read_profile(path) for path in sources]
    params, outputs = check_step(op, profiles, params)
    return profiles, params, list(outputs)


def _check_targets(sources, targets, count):
    if len(targets) != count:
        raise InputError("output", f"the filter makes {count} output raster"
                         f"{'s' if count != 1 else ''}, {len(targets)} paths given")
    for target in targets:
        refuse_writing_over(sources, target)


def stream(eng, op, sources, targets, params, options=(), driver="GTiff"):
    """Run Filter ``op`` from the files ``sources`` to the files ``targets`` in strips.

    Returns the target paths. Raises as ``Engine.apply`` and ``Engine.write`` do; on any
    failure or cancel, no target is written (and older files there stay untouched).
    """
    sources = [os.fspath(path) for path in sources]
    profiles, params, out_profiles = check_sources(op, sources, params)
    margin = op.margin_for(params)
    _check_targets(sources, targets, len(out_profiles))
    first = profiles[0]
    height, width = first.height, first.width
    in_pixel = sum(p.pixel_bytes for p in profiles)
    out_pixel = sum(p.pixel_bytes for p in out_profiles)
    budget = eng.memory_budget
    need = minimum_budget(min(margin, height), width, in_pixel, out_pixel)
    if need > budget:
        raise InputError("memory", f"a memory budget of {budget / 2**20:.0f} MiB is too small "
                         f"for this run: strips {2 * margin + 1} rows tall (the margin of "
                         f"{margin} pixels on both sides) need at least "
                         f"{math.ceil(need / 2**20)} MiB")
    # the strips share the budget with GDAL's block cache (bounded_gdal_cache)
    cache_bytes = gdal_cache_bytes(budget, _block_row_bytes(sources, profiles, out_profiles,
                                                            options, driver))
    budget = max(need, budget - cache_bytes)
    workers = eng.backends.workers_for(height * width)
    # a small image gains nothing from overlap: strips would only add margins and waits (a
    # 1 Mpx fill in four strips took 1.55x its in-memory run); one strip where the budget
    # allows
    min_strips = MIN_STRIPS if height * width > SMALL_STREAM_PIXELS else 1
    tiles = plan_tiles(height, width, margin, workers,
                       bytes_per_pixel(profiles + out_profiles, op, len(profiles)), budget,
                       eng.tile_size, strip_pixel_bytes=in_pixel, min_strips=min_strips,
                       flat_cost=getattr(op, "flat_cost", False), out_pixel_bytes=out_pixel)
    strips = plan_strips(tiles, height, in_pixel * width, budget, workers, min_strips,
                         out_pixel * width)
    computed = sum((t.rrow1 - t.rrow0) * (t.rcol1 - t.rcol0) for t in tiles)
    # a model's intermediate stays in memory for the next step, where it fits the cache
    # and, with the input strips, the strips' share of this run's budget (it replaces the
    # output strips)
    out_bytes = sum(p.nbytes for p in out_profiles)
    keep = (eng.cache is not None and out_bytes <= eng.cache.budget
            and out_bytes + STRIPS_IN_FLIGHT * strip_bytes(strips, in_pixel * width)
            <= budget * STRIP_SHARE)
    started = time.perf_counter()
    phases = {"read": 0.0, "compute": 0.0, "write": 0.0}
    with ExitStack() as stack:
        stack.enter_context(bounded_gdal_cache(cache_bytes))
        writers = [stack.enter_context(RasterWriter(t, p, options, driver))
                   for t, p in zip(targets, out_profiles)]
        reader = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="tilewise-in"))
        computer = stack.enter_context(ThreadPoolExecutor(STRIPS_COMPUTING,
                                                          thread_name_prefix="tilewise-strip"))
        writer = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="tilewise-out"))
        tallest = max(strip.read_rows for strip in strips)
        pools = [BufferPool(eng.create, p, tallest) for p in profiles]
        # kept for a model's next step: the tiles write into the whole output, no copy
        kept = [eng.create(p) for p in out_profiles] if keep else []
        # the outputs' buffers hold a strip's core rows only: no tile writes the others
        most = max(strip.row1 - strip.row0 for strip in strips)
        out_pools = [] if keep else [BufferPool(eng.create, p, most) for p in out_profiles]
        stack.callback(lambda: [pool.release() for pool in pools + out_pools])
        stack.callback(lambda: eng.release(*kept))  # adopted ones: the cache's, no more ours

        def inputs_of(strip):
            return [pool.take(p.window(strip.read0, 0, strip.read_rows, width))
                    for pool, p in zip(pools, profiles)]

        def outputs_of(strip):
            shapes = [p.window(strip.row0, 0, strip.row1 - strip.row0, width)
                      for p in out_profiles]
            if keep:
                return [RasterWindow(whole, strip.row0, p) for whole, p in zip(kept, shapes)]
            return [pool.take(p) for pool, p in zip(out_pools, shapes)]

        def give_back(windows, which):
            for pool, window in zip(which, windows):
                pool.give(window)

        def read(strip, rasters):
            t0 = time.perf_counter()
            for path, raster in zip(sources, rasters):
                read_into(path, raster.writable_array(), rows=(strip.read0, strip.read1))
            phases["read"] += time.perf_counter() - t0

        def write(strip, rasters):
            t0 = time.perf_counter()
            for out, raster in zip(writers, rasters):
                out.write(raster.array, strip.row0)
            phases["write"] += time.perf_counter() - t0

        ins = inputs_of(strips[0])
        next_read = reader.submit(read, strips[0], ins)
        computing = deque()  # (strip, its future, inputs, outputs), oldest first
        fractions = {}       # strip index -> fraction of its tiles done (progress)
        spans = []           # (start, end) of each strip's computing
        stop = threading.Event()
        last_write = None
        where = []

        def cancelled():
            return stop.is_set() or (eng.cancel is not None and bool(eng.cancel()))

        def compute(strip, jobs):
            t0 = time.perf_counter()

            def progress(fraction):
                fractions[strip.index] = fraction
            where.append(eng.run_jobs(op, jobs, progress=progress, pixels=height * width,
                                      busy_caller=True, cancel=cancelled))
            spans.append((t0, time.perf_counter()))

        def report():  # a copy: a strip's thread may add its entry meanwhile
            done = list(fractions.items())
            eng.report(sum(len(strips[i].tiles) * f for i, f in done) / len(tiles))

        def finish_oldest():
            nonlocal last_write
            strip, future, strip_ins, strip_outs = computing.popleft()
            while not wait([future], timeout=PROGRESS_SECONDS).done:
                report()
            future.result()  # raises what the tiles raised
            report()
            give_back(strip_ins, pools)
            if last_write is not None:
                last_write[0].result()
                give_back(last_write[1], out_pools)
            last_write = (writer.submit(write, strip, strip_outs), strip_outs)

        eng.report(0.0)
        try:
            for k, strip in enumerate(strips):
                next_read.result()  # raises what the read raised
                if cancelled():
                    raise Cancelled("cancelled by the caller")
                # on threads, this strip's tiles start as the last ones of the one before
                # finish (a strip would wait for its slowest tile); elsewhere one strip at a
                # time (the backend is the policy's, as run_jobs picks it). Buffers alive:
                # STRIPS_IN_FLIGHT of each file, a strip read or written beside those computed
                ahead = isinstance(eng.backends.choose(
                    [TileJob(op, params, (), (), tile) for tile in strip.tiles],
                    height * width, True), ThreadBackend)
                while len(computing) >= (STRIPS_COMPUTING if ahead else 1):
                    finish_oldest()
                outs = outputs_of(strip)
                if k + 1 < len(strips):  # read the next strip while this one is computed
                    following = inputs_of(strips[k + 1])
                    next_read = reader.submit(read, strips[k + 1], following)
                jobs = [TileJob(op, params, tuple(r.ref for r in ins),
                                tuple(r.ref for r in outs), strip.local(tile),
                                out_row=strip.row0 - strip.read0)
                        for tile in strip.tiles]
                computing.append((strip, computer.submit(compute, strip, jobs), ins, outs))
                if k + 1 < len(strips):
                    ins = following
            while computing:
                finish_oldest()
        except BaseException:
            stop.set()  # the other strip's tiles stop too
            raise
        report()
        last_write[0].result()
        where = next((w for w in where if "in this process" not in w), where[-1])
        phases["compute"] = _covered(spans)
        for out in writers:  # close and rename now, so the cache sees the final files
            out.commit()
        for target, raster in zip(targets, list(kept)):
            eng.disown(raster)
            kept.remove(raster)
            eng.cache.adopt(target, raster)
    core = height * width
    eng.say(f"{op.name}: {len(tiles)} tile{'s' if len(tiles) != 1 else ''} {where} in "
            f"{time.perf_counter() - started:.2f} s; shared memory peak "
            f"{eng.peak_shared_bytes / 2**20:.1f} MiB; streamed in {len(strips)} "
            f"strip{'s' if len(strips) != 1 else ''} (reading {phases['read']:.2f} s, "
            f"computing {phases['compute']:.2f} s, writing {phases['write']:.2f} s, "
            f"overlapped); {100 * (computed - core) / core:.0f} % of the pixels recomputed "
            "in margins")
    return [os.path.abspath(os.fspath(t)) for t in targets]


def _covered(spans):
    """Seconds that the (start, end) ``spans`` cover, overlaps counted once."""
    total, end = 0.0, None
    for t0, t1 in sorted(spans):
        if end is None or t0 > end:
            total, end = total + t1 - t0, t1
        elif t1 > end:
            total, end = total + t1 - end, t1
    return total


def stream_pipeline(eng, pipeline, sources, targets, fuse=None, options=(), driver="GTiff"):
    """``Engine.stream_run``: the pipeline fused into one streamed pass where valid, else run
    in memory step by step and written."""
    sources = [os.fspath(path) for path in pipeline_inputs(pipeline, sources)]
    p = plan(pipeline, [read_profile(path) for path in sources], list(targets))
    if fuse is False or not p.fusable:
        outputs = eng.run(pipeline, [eng.open(path) for path in sources],
                          keep=list(targets), fuse=False)
        return {name: eng.write(outputs[name], targets[name], options, driver)
                for name in targets}
    paths = eng.stream(fused_filter(p), sources, [targets[n] for n in p.keep],
                       options=options, driver=driver, plan=p)
    return dict(zip(p.keep, paths))


__all__ = ["check_sources", "stream", "stream_pipeline"]
