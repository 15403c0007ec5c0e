"""Running the same tile jobs on a Dask distributed cluster, file to file.

Turned on by ``Engine(scheduler=...)`` (``"tcp://host:port"``, a ``distributed.Client``,
or ``"local"`` for a LocalCluster of ``workers`` processes) or ``TILEWISE_DASK_SCHEDULER``
(the connection: ``dask_cluster``). Then ``Engine.stream`` / ``Engine.stream_run`` send one
task per group of tiles (``engine.execution.dask_tasks.run_tiles``): the task reads its tiles'
read windows from the files itself, runs the filter (``tasks.compute_tile``, the local
backends' code) and returns only the cores. The client writes them with ``RasterWriter``,
band of tiles by band, in row order, as they arrive; the tasks submitted and not yet written
are bounded by the memory budget. Reducers on files use the same runs (``dask_reduce``).

No ``map_overlap``: tiles carry their margins, so a task is a few hundred bytes of job and
the graph is flat (one task per tile group, no dependencies).
"""

import os
import time
import types

import numpy as np

from ..core.errors import Cancelled, InputError, WorkerCrashed
from .dask_cluster import cluster_of

NO_WORKER_SECONDS = 30     # every worker gone mid-run: an error after this
POLL_SECONDS = 0.05
RESULT_SECONDS = 120       # fetching a finished task's result, at most
RESULT_POLL_SECONDS = 1    # ... looking every second whether it was lost with its worker
TASK_PIXELS = 2**22        # core pixels per task at most (TILEWISE_DASK_TASK_PIXELS)
# (4 Mpx, was 1 Mpx: a task decodes the blocks of its read box itself, so each boundary
# between tasks decodes a block row of the input twice; at 1 Mpx, tasks of 92 rows of a
# 10980-wide DEFLATE DSM with 256-row blocks decoded 3.8x the file's blocks; see
# docs/scale-out.md)
TASKS_PER_WORKER = 8       # at least this many tasks per worker, where the image allows
# (8: the last round of tasks leaves a worker idle for 1/8 of its share at most)
IN_FLIGHT_PER_WORKER = 3   # tasks queued per worker at most (one running, two waiting)


def _absolute(path):
    path = os.fspath(path)
    return os.path.abspath(path) if os.path.exists(path) else path  # or a GDAL source


def _refuse_isolated(op):
    if getattr(op, "isolated", False):
        raise InputError("filter", f"{op.name} runs a custom Python script, which Tilewise does "
                         "not send to Dask workers (a script runs only in local worker "
                         "processes): unset the Dask scheduler (TILEWISE_DASK_SCHEDULER or the "
                         "provider setting) to run it locally")


def group_tiles(tiles, width, workers, task_pixels=None):
    """Consecutive tiles grouped into tasks of about ``task_pixels`` core pixels (at least
    TASKS_PER_WORKER tasks per worker where the image allows). A group is either whole
    full-width tiles, or tiles of one band of tiles, so that its read box stays small."""
    task_pixels = task_pixels or int(os.environ.get("TILEWISE_DASK_TASK_PIXELS", 0) or
                                     TASK_PIXELS)
    total = sum((t.row1 - t.row0) * (t.col1 - t.col0) for t in tiles)
    target = max(1, min(task_pixels, total // max(1, TASKS_PER_WORKER * workers)))
    groups, current, pixels = [], [], 0
    for tile in tiles:
        size = (tile.row1 - tile.row0) * (tile.col1 - tile.col0)
        full = tile.col0 == 0 and tile.col1 == width
        same_band = current and (current[-1].row0 == tile.row0 or
                                 (full and current[-1].col1 == width))
        if current and (not same_band or pixels + size > target):
            groups.append(current)
            current, pixels = [], 0
        current.append(tile)
        pixels += size
    if current:
        groups.append(current)
    return groups


class _Run:
    """Tasks of one run: submitted in order, at most ``limit`` not yet consumed."""

    def __init__(self, eng, cluster, op, name):
        self.eng, self.cluster, self.op, self.name = eng, cluster, op, name
        self.futures = {}   # group index -> future
        self.stats = {"tasks": 0, "read": 0.0, "compute": 0.0, "pids": set(), "times": [],
                      "cpu": 0.0}

    def submit(self, index, *args):
        from .dask_tasks import run_tiles
        self.futures[index] = self.cluster.client.submit(
            run_tiles, *args, key=f"tilewise-{self.name}-{os.getpid()}-{id(self)}-{index}",
            pure=False)

    def finished(self):
        """Group indexes whose task is done now (waits a poll at most); raises on cancel,
        failure, and when every worker is gone for NO_WORKER_SECONDS."""
        deadline = time.monotonic() + 1.0
        while True:
            # "lost" (its worker died): Dask computes it again, so it is still to come
            done = [i for i, f in self.futures.items()
                    if f.status in ("finished", "error", "cancelled")]
            if done or not self.futures:
                return done
            if self.eng.cancel is not None and self.eng.cancel():
                raise Cancelled("cancelled by the caller")
            if time.monotonic() > deadline:
                self._check_workers()
                deadline = time.monotonic() + 1.0
            time.sleep(POLL_SECONDS)

    def _check_workers(self):
        lost = getattr(self, "_lost_since", None)
        client = self.cluster.client
        if client.status not in ("running", "connecting"):
            raise WorkerCrashed(f"{self.op.name}: the connection to the Dask scheduler at "
                                f"{self.cluster.address} is lost ({client.status}); nothing "
                                "was written")
        try:
            alive = bool(self.cluster.workers())
        except Exception:  # noqa: BLE001 - the scheduler does not answer: counts as none
            alive = False
        if alive:
            self._lost_since = None
        elif lost is None:
            self._lost_since = time.monotonic()
        elif time.monotonic() - lost > NO_WORKER_SECONDS:
            raise WorkerCrashed(f"{self.op.name}: every Dask worker of {self.cluster.address} "
                                f"is gone (none for {NO_WORKER_SECONDS} s); nothing was written")

    def _fetch(self, future):
        """``(answer, None)``, ``(None, exception)``, or ``(None, None)`` when the result
        was lost with its worker (Dask computes it again)."""
        waited = 0.0
        while True:
            try:
                return future.result(timeout=RESULT_POLL_SECONDS), None
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost data, ...
                if not isinstance(exc, TimeoutError) or self.cluster.client.status != "running":
                    return None, exc
                if future.status in ("pending", "lost"):
                    return None, None
                waited += RESULT_POLL_SECONDS
                if waited >= RESULT_SECONDS:  # a large result still on its way, until then
                    return None, exc

    def take(self, index, tiles):
        """The results of group ``index``: [(tile index, value)] (empty when its result
        was lost with its worker: the task is pending again)."""
        future = self.futures.pop(index)
        answer, exc = self._fetch(future)
        if answer is None and exc is None:
            self.futures[index] = future
            return []
        if exc is not None:
            future.release()
            # the tasks return their own errors (answer["error"]): an OSError here is the
            # client's connection (CommClosedError is one; a reconnect's handshake timeout)
            if type(exc).__name__ in ("CommClosedError", "CancelledError", "TimeoutError") or \
                    isinstance(exc, OSError) or \
                    self.cluster.client.status not in ("running", "connecting"):
                raise WorkerCrashed(
                    f"{self.op.name}: the connection to the Dask scheduler at "
                    f"{self.cluster.address} is lost ({type(exc).__name__}: {exc}); nothing "
                    "was written") from None
            raise WorkerCrashed(
                f"{self.op.name} on tiles {tiles[0]} to {tiles[-1]} failed on the Dask cluster "
                f"{self.cluster.address}: {type(exc).__name__}: {exc} (a worker that keeps "
                "dying on this task: most likely out of memory)") from None
        future.release()
        if "error" in answer:
            from .backends import worker_error
            message, tb, tile = answer["error"]
            raise worker_error(types.SimpleNamespace(op=self.op, tile=tile),
                               f"{message} (on a Dask worker of {self.cluster.address})", tb)
        self.stats["tasks"] += 1
        self.stats["read"] += answer["read"]
        self.stats["compute"] += answer["compute"]
        self.stats["cpu"] += answer.get("cpu", 0.0)
        self.stats["pids"].add(answer["pid"])
        self.stats["times"].append(answer["read"] + answer["compute"])
        return answer["results"]

    def cancel(self):
        if self.futures:
            futures = list(self.futures.values())
            self.futures.clear()
            try:
                self.cluster.client.cancel(futures)
            except Exception:  # noqa: BLE001 - the run is failing anyway
                pass


def _where(cluster, workers):
    return f"on Dask at {cluster.address} ({workers} worker{'s' if workers != 1 else ''})"


def stream(eng, op, sources, targets, params, options=(), driver="GTiff"):
    """``engine.execution.stream.stream`` on the Engine's Dask cluster: same arguments, same files."""
    from contextlib import ExitStack

    from ..io.writing import RasterWriter
    from ..tiling.strips import plan_tiles
    from ..tiling.tiles import bytes_per_pixel
    from .stream import _check_targets, check_sources
    _refuse_isolated(op)
    sources = [_absolute(path) for path in sources]
    profiles, params, out_profiles = check_sources(op, sources, params)
    margin = op.margin_for(params)
    _check_targets(sources, targets, len(out_profiles))
    cluster = cluster_of(eng)
    workers = cluster.ready()  # before any file is created: no worker, no output
    cpu0 = cluster.scheduler_cpu()
    started = time.perf_counter()
    height, width = profiles[0].height, profiles[0].width
    tiles = plan_tiles(height, width, margin, workers,
                       bytes_per_pixel(profiles + out_profiles, op, len(profiles)),
                       eng.memory_budget, eng.tile_size)
    groups = group_tiles(tiles, width, workers)
    # bands of tiles (same core rows), written whole, in order
    bands = sorted({(t.row0, t.row1) for t in tiles})
    band_of = {r0: b for b, (r0, _) in enumerate(bands)}
    out_pixel = sum(p.pixel_bytes for p in out_profiles)
    task_bytes = max(sum((t.row1 - t.row0) * (t.col1 - t.col0) for t in g) for g in groups) \
        * out_pixel
    per_band = max(sum(1 for g in groups if any(t.row0 == r0 for t in g)) for r0, _ in bands)
    limit = max(1, min(IN_FLIGHT_PER_WORKER * workers,
                       eng.memory_budget // max(1, 2 * task_bytes)))
    limit = max(limit, per_band + 1)  # a band's tasks are all out, or it never completes
    left = {b: sum(1 for t in tiles if t.row0 == r0) for b, (r0, _) in enumerate(bands)}
    buffers = {}  # band -> [array per output]
    run = _Run(eng, cluster, op, "stream")
    write_seconds, done_tiles, most = 0.0, 0, 0
    eng.report(0.0)
    with ExitStack() as stack:
        stack.callback(run.cancel)
        writers = [stack.enter_context(RasterWriter(t, p, options, driver))
                   for t, p in zip(targets, out_profiles)]
        next_group, next_band, unwritten = 0, 0, {}  # unwritten: group -> its last band
        tile_by_index = {t.index: t for t in tiles}
        while next_band < len(bands):
            while next_group < len(groups) and len(unwritten) < limit:
                run.submit(next_group, op, params, sources, profiles, out_profiles,
                           groups[next_group])
                unwritten[next_group] = max(band_of[t.row0] for t in groups[next_group])
                next_group += 1
                most = max(most, len(unwritten))
            for index in run.finished():
                for tile_index, cores in run.take(index, groups[index]):
                    tile = tile_by_index[tile_index]
                    b = band_of[tile.row0]
                    if b not in buffers:
                        r0, r1 = bands[b]
                        buffers[b] = [np.empty((p.count, r1 - r0, width), dtype=p.dtype)
                                      for p in out_profiles]
                    for buffer, core in zip(buffers[b], cores):
                        buffer[:, :, tile.col0:tile.col1] = core
                    left[b] -= 1
                    done_tiles += 1
                eng.report(done_tiles / len(tiles))
                if eng.cancel is not None and eng.cancel():
                    raise Cancelled("cancelled by the caller")
                t0 = time.perf_counter()
                while next_band < len(bands) and left[next_band] == 0:
                    for out, buffer in zip(writers, buffers.pop(next_band)):
                        out.write(buffer, bands[next_band][0])
                    next_band += 1
                write_seconds += time.perf_counter() - t0
            for g in [g for g, last in unwritten.items()
                      if g not in run.futures and last < next_band]:
                del unwritten[g]  # taken and written
            if not run.futures and next_group == len(groups) and next_band < len(bands):
                raise RuntimeError(f"tiles of band {next_band} never came back")  # a bug
        t0 = time.perf_counter()
        for out in writers:
            out.commit()
        write_seconds += time.perf_counter() - t0
    elapsed = time.perf_counter() - started
    _remember(eng, run, cluster, workers, len(tiles), elapsed, cpu0, write_seconds)
    eng.dask_last_run.update(limit=limit, most_unwritten=most)
    eng.say(f"{op.name}: {len(tiles)} tile{'s' if len(tiles) != 1 else ''} in "
            f"{run.stats['tasks']} task{'s' if run.stats['tasks'] != 1 else ''} "
            f"{_where(cluster, workers)} in {elapsed:.2f} s; tasks read "
            f"{run.stats['read']:.2f} s and computed {run.stats['compute']:.2f} s in all; "
            f"this process wrote {write_seconds:.2f} s; at most {limit} tasks in flight")
    return [os.path.abspath(os.fspath(t)) for t in targets]


def _remember(eng, run, cluster, workers, tiles, elapsed, cpu0, write_seconds):
    try:
        scheduler = cluster.scheduler_cpu() - cpu0
    except Exception:  # noqa: BLE001 - a figure for benchmarks only
        scheduler = float("nan")
    eng.dask_last_run = {"address": cluster.address, "workers": workers, "tiles": tiles,
                         "tasks": run.stats["tasks"], "seconds": elapsed,
                         "task_read": run.stats["read"], "task_compute": run.stats["compute"],
                         "task_cpu": run.stats["cpu"],
                         "worker_pids": sorted(run.stats["pids"]),
                         "task_seconds": list(run.stats["times"]),
                         "scheduler_cpu": scheduler, "write": write_seconds}


__all__ = ["group_tiles", "stream"]
