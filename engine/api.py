"""The Engine: shared rasters, one worker pool, and tiled runs of filters and reducers."""

import functools
import logging
import os
import threading
import time
from contextlib import contextmanager

from .core.environment import env_choice, env_number
from .core.errors import InputError, TilewiseError
from .core.filter import Filter, Reducer
from .execution.heap import give_back_free_memory, keep_freed_tile_memory
from .execution.interpreter import resolve_worker_python
from .plan.checks import check_step
from .plan.pipeline import Pipeline, fused_filter, plan
from .execution.pool import InlineBackend, ProcessPool, ThreadBackend, ensure_resource_tracker
from .store.raster import SharedRaster, create_raster
from .io.rasterio_io import read_into, read_profile, refuse_writing_over, write_raster
from .store.segments import sweep_orphans
from .execution.tasks import TileJob
from .tiling.tiles import make_tiles, tile_shape_for

logger = logging.getLogger("tilewise")

TEMP_FACTOR = 3        # float64 temporaries a filter may hold per tile pixel and band
# Below this many pixels a run stays in this process: handing tiles to workers would cost
# more than it saves. TILEWISE_MIN_PARALLEL_PIXELS overrides it (the tests set 0).
MIN_PARALLEL_PIXELS = 2**20
MAX_WORKERS_PER_CORE = 2  # workers beyond this many per core are not started
DEFAULT_BUDGET_FRACTION = 0.25  # of physical memory, for the tiles all workers hold at once


def _physical_memory():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def _check_count(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def _exclusive(method):
    """One call at a time per Engine: a second thread gets a clear error, not a tangle of
    half-shared state (the same thread may nest calls: ``run`` calls ``apply``)."""
    @functools.wraps(method)
    def exclusive(self, *args, **kwargs):
        me = threading.get_ident()
        if self._user != me:
            if not self._use.acquire(blocking=False):
                raise TilewiseError(
                    f"this Engine is busy in another thread (Engine.{method.__name__} was "
                    "called while another call runs); an Engine runs one call at a time: "
                    "use one Engine per thread")
            self._user, self._depth = me, 0
        self._depth += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._user = None
                self._use.release()
    return exclusive


class Engine:
    """Loads rasters once into shared memory and runs filters on them tile by tile.

    ``workers``: how many tiles run at once (0 = all cores, 1 = in this process only); with
    worker processes, this process computes tiles as one of them. ``tile_size``: tile side in
    pixels (0 = auto). ``progress(fraction)``, ``cancel() -> bool`` and ``log(message)`` are
    plain callables. ``cache``: a RasterCache (see engine.store.cache) that ``open`` borrows from
    and ``write`` puts copies in. ``backend``: "auto" (default, or ``TILEWISE_BACKEND``) runs
    filters that hold the GIL in worker processes, started when first needed (or by
    ``prepare``), and filters that release it on threads, or in those processes once they
    are up; "processes" or "threads" forces one. Images under ``min_parallel_pixels`` run in
    this process. ``session``: a WorkerSession (see engine.execution.session) to borrow worker
    processes from and give them back to, started once for many Engines. Use as a context
    manager: everything is released on exit.
    """

    def __init__(self, workers=0, tile_size=0, start_method="spawn", memory_budget=None,
                 progress=None, cancel=None, log=None, python=None, cache=None,
                 backend=None, session=None, scheduler=None):
        self._use, self._user, self._depth = threading.Lock(), None, 0  # see _exclusive
        workers = _check_count("workers", workers)
        cores = os.cpu_count() or 1
        if workers > MAX_WORKERS_PER_CORE * cores:
            # past that, more tiles at once only add processes and memory, no speed
            message = (f"workers={workers} is more than {MAX_WORKERS_PER_CORE} per CPU core "
                       f"({cores} cores): using {MAX_WORKERS_PER_CORE * cores}")
            logger.info(message)
            if log is not None:
                log(message)
            workers = MAX_WORKERS_PER_CORE * cores
        self.workers = workers or cores
        self.tile_size = _check_count("tile_size", tile_size)
        self.memory_budget = memory_budget or int(_physical_memory() * DEFAULT_BUDGET_FRACTION)
        self.progress, self.cancel, self.log = progress, cancel, log
        self.cache = cache
        self.min_parallel_pixels = env_number("TILEWISE_MIN_PARALLEL_PIXELS",
                                              MIN_PARALLEL_PIXELS)
        self._rasters = {}
        self._peak_bytes = 0
        sweep_orphans()
        keep_freed_tile_memory()  # tile temporaries: no page faults per tile (engine.execution.heap)
        self._python = None
        if start_method != "fork":
            try:
                self._python = python or resolve_worker_python()
            except TilewiseError:
                if self.workers > 1:
                    raise
                # workers=1 runs here; the resource tracker can do with multiprocessing's default
        ensure_resource_tracker(self._python)
        backend = backend or env_choice("TILEWISE_BACKEND", "auto",
                                        ("auto", "processes", "threads"))
        if backend not in ("auto", "processes", "threads"):
            raise InputError("backend", f"must be auto, processes or threads, got {backend!r}")
        self.backend = backend
        self._inline = InlineBackend(self._open_view)
        self._threads = ThreadBackend(self.workers, self._open_view)
        self._start_method = start_method
        self.session = session
        self._pool = None  # started when first needed
        self._borrowed = False
        self._prepared = False  # prepare() saw an op that needs the processes
        self._prepared_isolated = False  # ... one that runs in processes only, at any size
        self._preload = set()   # modules the ops given to prepare() want in the workers
        self._closed = False
        # a Dask scheduler: streamed runs go to its cluster (engine.execution.dask_backend), connected
        # at the first one; "tcp://host:port", "local" or a distributed.Client
        self.scheduler = (scheduler if scheduler is not None else
                          os.environ.get("TILEWISE_DASK_SCHEDULER", "").strip() or None)
        self._dask = None

    # -- context -------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the workers and release every raster."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._dask is not None:
                self._dask.close()
            self._threads.close()
            if self._pool is not None and not self._borrowed:
                self._pool.close()
        finally:
            for raster in list(self._rasters.values()):
                raster.release()  # tells the workers to forget its segment
            if self._pool is not None and self._borrowed:
                self.session.give_back(self._pool)
            give_back_free_memory()  # what the heap kept for tile temporaries (engine.execution.heap)

    # -- rasters ---------------------------------------------------------------------------
    @_exclusive
    def open(self, path):
        """Read the raster file at ``path`` (all bands) into shared memory.

        With a cache holding a valid copy of the file, borrow that copy instead (read-only).
        """
        self._check_open()
        if self.cache is not None and os.path.exists(path):
            raster = self.cache.borrow(path)
            if raster is not None:
                self._track(raster)
                self._say(f"{path}: taken from the shared-memory cache, not read again")
                return raster
        profile = read_profile(path)
        path = os.fspath(path)
        source = os.path.abspath(path) if os.path.exists(path) else path  # or a GDAL source
        raster = self.create(profile, source=source)  # starts workers
        try:
            read_into(path, raster.writable_array())
        except BaseException:
            raster.release()
            raise
        return raster

    @_exclusive
    def create(self, profile, source=None):
        """A new zero-filled shared raster for ``profile``."""
        self._check_open()
        if self._prepared and (self._prepared_isolated or
                               profile.height * profile.width >= self.min_parallel_pixels):
            self._workers_pool()  # they boot while the caller fills the raster
        return self._track(create_raster(profile, source=source))

    @_exclusive
    def prepare(self, *ops):
        """Start the worker processes early if any of ``ops`` (Filters, Reducers or Pipelines)
        will need them: at the first raster opened or created that is large enough to run in
        parallel (at once if one is held already), so that they boot while it is read.

        Optional: a run that needs them starts them anyway, and waits.
        """
        self._check_open()
        isolated = any(_isolated(op) for op in ops)
        if isolated or (self.workers > 1 and any(self._needs_processes(op) for op in ops)):
            self._prepared = True
            self._prepared_isolated = self._prepared_isolated or isolated
            for op in ops:
                steps = [s.filter for s in op.steps] if isinstance(op, Pipeline) else [op]
                self._preload.update(m for f in steps for m in getattr(f, "preload", ()))
            if any(isolated or r.profile.height * r.profile.width >= self.min_parallel_pixels
                   for r in self._rasters.values()):
                self._workers_pool()

    def _needs_processes(self, op):
        if self.backend != "auto":
            return self.backend == "processes" or _isolated(op)
        if isinstance(op, Pipeline):
            return any(self._needs_processes(step.filter) for step in op.steps)
        return _isolated(op) or not getattr(op, "releases_gil", False)

    def _workers_pool(self):
        """The process pool, started on first use; with one worker, one process for the
        isolated filters (user scripts), which never run in this process."""
        if self._pool is None:
            # this process computes tiles too (ProcessPool.run's run_here): workers - 1 more
            key = (max(1, self.workers - 1), self._start_method, self._python)
            self._pool = self.session.borrow(*key) if self.session is not None else None
            self._borrowed = self._pool is not None
            if self._pool is None:
                self._pool = ProcessPool(*key, preload=sorted(self._preload))
            self._pool.start()  # replaces workers lost since the session's last use
        return self._pool

    def _track(self, raster):
        raster.on_release(self._forget)
        self._rasters[raster.ref.segment.name] = raster
        self._peak_bytes = max(self._peak_bytes, self.shared_bytes)
        return raster

    def release(self, *rasters):
        """Free rasters that are no longer needed."""
        for raster in rasters:
            raster.release()

    @_exclusive
    def write(self, raster, path, options=(), driver="GTiff"):
        """Write ``raster`` to ``path`` atomically, with GDAL creation ``options``."""
        array = raster.array
        target = os.path.abspath(os.fspath(path))
        refuse_writing_over([other.source for other in self._rasters.values()], target)
        written = write_raster(array, raster.profile, target, options, driver)
        if self.cache is not None:
            self.cache.put(written, raster)
        return written

    @property
    def shared_bytes(self):
        """Bytes of shared memory held by live rasters."""
        return sum(r.nbytes for r in self._rasters.values())

    @property
    def peak_shared_bytes(self):
        return self._peak_bytes

    def _forget(self, raster):
        name = raster._segment.name
        self._rasters.pop(name, None)
        if self._pool is not None:
            self._pool.forget([name])

    def _open_view(self, ref, writable):
        raster = self._rasters.get(ref.segment.name)
        if raster is None:
            raise TilewiseError(f"raster {ref.segment.name} is not held by this engine")
        return _view_of(raster, writable)

    def _check_open(self):
        if self._closed:
            raise TilewiseError("this Engine is closed")

    # -- runs ------------------------------------------------------------------------------
    @_exclusive
    def apply(self, filter, inputs, **params):
        """Run ``filter`` on ``inputs`` tile by tile; returns its output raster(s)."""
        if not isinstance(filter, Filter):
            raise InputError("filter", f"expected a Filter, got {type(filter).__name__}")
        inputs = self._inputs(inputs)
        profiles = [r.profile for r in inputs]
        params, out_profiles = check_step(filter, profiles, params)
        out_profiles = list(out_profiles)
        margin = filter.margin_for(params)
        outputs = []
        try:
            for profile in out_profiles:
                outputs.append(self.create(profile))
            jobs = self._jobs(filter, params, inputs, outputs, margin,
                              self._bytes_per_pixel(profiles + out_profiles))
            self._run(filter.name, jobs, lambda i, r: None)
        except BaseException:
            self.release(*outputs)
            raise
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    @_exclusive
    def run(self, pipeline, inputs, keep=None, fuse=None):
        """Run a Pipeline on ``inputs`` (a dict by input name, or a list in order).

        Returns {name: SharedRaster} for the outputs in ``keep`` (default: the last step's).
        ``fuse`` None fuses where valid and worth it (see engine.plan.pipeline), True fuses whenever
        valid, False runs the steps one by one with intermediates in shared memory, each
        released after its last use.
        """
        inputs = _pipeline_inputs(pipeline, inputs)
        inputs = self._inputs(inputs)
        p = plan(pipeline, [r.profile for r in inputs], keep)
        if fuse is None:
            fuse = p.worth_fusing
        elif fuse and not p.fusable:
            unfusable = [s.name for s in p.steps if not s.filter.fusable]
            raise InputError("fuse", f"this pipeline cannot be fused: step {unfusable[0]!r} "
                             "depends on more than its margin")
        if fuse:
            outputs = self.apply(fused_filter(p), inputs, plan=p)
            return dict(zip(p.keep, outputs if isinstance(outputs, tuple) else (outputs,)))
        return self._run_steps(p, inputs)

    def _run_steps(self, p, inputs):
        have = dict(zip(p.inputs, inputs))
        last_use = {n: i for i, step in enumerate(p.steps) for n in step.inputs}
        made = []
        try:
            for i, step in enumerate(p.steps):
                outputs = self.apply(step.filter, [have[n] for n in step.inputs], **step.given)
                outputs = outputs if isinstance(outputs, tuple) else (outputs,)
                made.extend(outputs)
                have.update(zip(step.outputs, outputs))
                for name in step.inputs:  # free intermediates nobody needs any more
                    if name not in p.inputs and name not in p.keep and last_use[name] == i:
                        have[name].release()
        except BaseException:
            self.release(*made)
            raise
        return {n: have[n] for n in p.keep}

    @_exclusive
    def reduce(self, reducer, inputs, **params):
        """Run ``reducer`` on ``inputs`` tile by tile and merge the partial results."""
        if not isinstance(reducer, Reducer):
            raise InputError("reducer", f"expected a Reducer, got {type(reducer).__name__}")
        inputs = self._inputs(inputs)
        params, _ = check_step(reducer, [r.profile for r in inputs], params)
        jobs = self._jobs(reducer, params, inputs, [], 0,
                          self._bytes_per_pixel([r.profile for r in inputs]))
        partials = [None] * len(jobs)

        def keep(index, result):
            partials[index] = result
        self._run(reducer.name, jobs, keep)
        return reducer.merge(partials, params)

    def _inputs(self, inputs):
        """``inputs`` as a list of this Engine's live SharedRasters (InputError if not)."""
        self._check_open()
        if isinstance(inputs, SharedRaster):
            inputs = [inputs]
        inputs = list(inputs)
        for i, raster in enumerate(inputs):
            if not isinstance(raster, SharedRaster):
                raise InputError("inputs", f"input {i} is a {type(raster).__name__}, "
                                 "not a SharedRaster (open it with Engine.open)")
            raster.ref  # raises ReleasedError if released
            if raster.ref.segment.name not in self._rasters:
                raise InputError("inputs", f"input {i} belongs to another Engine")
        return inputs

    @_exclusive
    def stream(self, filter, sources, targets, options=(), driver="GTiff", **params):
        """Run ``filter`` from raster files to raster files in strips (engine.execution.stream):
        reading, computing and writing overlap, and memory stays within ``memory_budget``
        whatever the image size. The outputs equal ``apply`` then ``write``, bit for bit.

        ``sources``: input paths (or GDAL sources), in the filter's input order.
        ``targets``: one output path per output of the filter. Returns the target paths.
        """
        from .execution.stream import stream
        if not isinstance(filter, Filter):
            raise InputError("filter", f"expected a Filter, got {type(filter).__name__}")
        self._check_open()
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        if isinstance(targets, (str, os.PathLike)):
            targets = [targets]
        if self.scheduler is not None:
            from .execution.dask_backend import stream as dask_stream
            return dask_stream(self, filter, list(sources), list(targets), params, options,
                               driver)
        self.prepare(filter)
        return stream(self, filter, list(sources), list(targets), params, options, driver)

    @_exclusive
    def stream_run(self, pipeline, sources, targets, fuse=None, options=(), driver="GTiff"):
        """Run a Pipeline from raster files to raster files in strips (see ``stream``).

        ``sources``: input paths, a dict by pipeline input name or a list in order.
        ``targets``: ``{output name: path}``, the outputs to write (any step's). Fused into
        one pass per strip where valid; a pipeline that cannot be fused (a step depends on
        more than its margin), or ``fuse=False``, runs in memory step by step, then writes.
        ``options`` and ``driver`` are the outputs' creation options and GDAL driver.
        Returns ``{output name: path}``.
        """
        sources = [os.fspath(path) for path in _pipeline_inputs(pipeline, sources)]
        targets = dict(targets)
        p = plan(pipeline, [read_profile(path) for path in sources], list(targets))
        if fuse is False or not p.fusable:
            outputs = self.run(pipeline, [self.open(path) for path in sources],
                               keep=list(targets), fuse=False)
            return {name: self.write(outputs[name], targets[name], options, driver)
                    for name in targets}
        paths = self.stream(fused_filter(p), sources, [targets[n] for n in p.keep],
                            options=options, driver=driver, plan=p)
        return dict(zip(p.keep, paths))

    def run_jobs(self, op, jobs, progress=None, pixels=None, busy_caller=False):
        """Run tile ``jobs`` of ``op`` on the backend the policy picks, reporting through
        ``progress(fraction)``; no summary line (the caller says its own). Returns where
        they ran, as the summary line says it ("on 2 threads"). ``pixels``: the size of
        the image the jobs are part of (a strip's jobs run as the whole image would).
        ``busy_caller``: this process has other work meanwhile (a stream's reads and writes,
        on threads): a filter that holds the GIL then never computes here."""
        return self._run(op.name, jobs, lambda i, r: None, progress=progress, quiet=True,
                         pixels=pixels, busy_caller=busy_caller)

    def report(self, fraction):
        self._report(fraction)

    def say(self, message):
        self._say(message)

    def bytes_per_pixel(self, profiles):
        """Bytes a tile holds per pixel for these input and output profiles."""
        return self._bytes_per_pixel(profiles)

    @staticmethod
    def _bytes_per_pixel(profiles):
        import numpy as np
        return sum(p.count * np.dtype(p.dtype).itemsize + TEMP_FACTOR * 8 for p in profiles)

    def _jobs(self, op, params, inputs, outputs, margin, bytes_per_pixel):
        first = inputs[0].profile
        parallel = self.workers > 1 and first.height * first.width >= self.min_parallel_pixels
        shape = tile_shape_for(self.tile_size, first.height, first.width, margin,
                               self.workers if parallel else 1,  # inline: one worker's tiles
                               bytes_per_pixel, self.memory_budget)
        in_refs = tuple(r.ref for r in inputs)
        out_refs = tuple(r.ref for r in outputs)
        return [TileJob(op, params, in_refs, out_refs, tile)
                for tile in make_tiles(first.height, first.width, margin, shape)]

    def _backend_for(self, jobs, pixels=None):
        """Inline for one worker, one tile or a small image; else threads or processes.

        "auto": a filter that holds the GIL goes to the worker processes (started now if
        need be). One that releases it runs on threads, unless the workers are already up:
        then processes, which measured faster (the engine's per-tile Python work holds the
        GIL part of the time) but cost a start-up that a short run would not earn back.
        """
        if _isolated(jobs[0].op):
            return self._workers_pool()  # a user's script: never in this process
        if pixels is None:
            pixels = sum((j.tile.row1 - j.tile.row0) * (j.tile.col1 - j.tile.col0) for j in jobs)
        if self.workers == 1 or len(jobs) == 1 or pixels < self.min_parallel_pixels:
            return self._inline
        gil_free = getattr(jobs[0].op, "releases_gil", False)
        if self.backend == "threads" or (self.backend == "auto" and gil_free and (
                self._pool is None or not self._pool.ready())):
            return self._threads
        return self._workers_pool()

    def _run(self, name, jobs, on_result, progress=None, quiet=False, pixels=None,
             busy_caller=False):
        backend = self._backend_for(jobs, pixels)
        total, done = len(jobs), 0
        started = time.perf_counter()
        report = progress or self._report
        report(0.0)

        def finished(index, result):
            nonlocal done
            done += 1
            on_result(index, result)
            report(done / total)
        if backend is self._pool:
            # the engine's own filters also run here, as one of the workers; a user's script
            # runs in worker processes only (a crash must not take this process down)
            op = jobs[0].op
            here = (getattr(op, "runs_in_caller", False) and not _isolated(op)
                    and backend.size < self.workers
                    # a GIL-holding tile here (GDAL's fill) would stall the stream's threads
                    and not (busy_caller and not getattr(op, "releases_gil", False)))
            if not here:
                backend.size = self.workers  # start the one more it needs (kept from now on)
            backend.run(jobs, finished, self.cancel, self.log,
                        run_here=self._inline.run_one if here else None)
            where = (f"on {'this process and ' if here else ''}{backend.size} worker "
                     f"process{'es' if backend.size != 1 else ''}")
        else:
            backend.run(jobs, finished, self.cancel, self.log)
            used = min(backend.size, total)
            where = ("in this process" if backend is self._inline else
                     f"on {used} thread{'s' if used != 1 else ''}")
        if quiet:
            return where
        self._say(f"{name}: {total} tile{'s' if total != 1 else ''} {where} "
                  f"in {time.perf_counter() - started:.2f} s; shared memory peak "
                  f"{self._peak_bytes / 2**20:.1f} MiB")

    def _report(self, fraction):
        if self.progress is not None:
            self.progress(fraction)

    def _say(self, message):
        logger.info(message)
        if self.log is not None:
            self.log(message)


def _pipeline_inputs(pipeline, inputs):
    """A Pipeline's inputs in its order, from a dict by input name or a list."""
    if not isinstance(pipeline, Pipeline):
        raise InputError("pipeline", f"expected a Pipeline, got {type(pipeline).__name__}")
    if not isinstance(inputs, dict):
        return inputs
    unknown = sorted(set(inputs) - set(pipeline.inputs))
    missing = [n for n in pipeline.inputs if n not in inputs]
    if unknown or missing:
        raise InputError("inputs", f"the pipeline's inputs are {list(pipeline.inputs)}; "
                         f"missing {missing}, unknown {unknown}")
    return [inputs[n] for n in pipeline.inputs]


def _isolated(op):
    """Does ``op`` (Filter, Reducer or Pipeline) run in worker processes only?"""
    if isinstance(op, Pipeline):
        return any(_isolated(step.filter) for step in op.steps)
    return getattr(op, "isolated", False)


@contextmanager
def _view_of(raster, writable):
    yield raster.writable_array() if writable else raster.array


def tiles_for(height, width, margin, workers, tile_size=0, bytes_per_pixel=32,
              memory_budget=None):
    """The tiles an Engine would use (for inspection and tests)."""
    memory_budget = memory_budget or int(_physical_memory() * DEFAULT_BUDGET_FRACTION)
    shape = tile_shape_for(tile_size, height, width, margin, workers, bytes_per_pixel,
                           memory_budget)
    return make_tiles(height, width, margin, shape)


__all__ = ["Engine", "tiles_for"]
