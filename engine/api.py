"""The Engine: shared rasters, one worker pool, and tiled runs of filters and reducers."""

import logging
import os
import time

from .core.environment import default_memory_budget, env_choice, env_number
from .core.errors import InputError, TilewiseError
from .core.filter import Filter, Reducer
from .execution.exclusive import exclusive, new_use
from .execution.heap import give_back_free_memory, keep_freed_tile_memory
from .execution.interpreter import resolve_worker_python
from .plan.checks import check_step
from .plan.pipeline import fused_filter, pipeline_inputs, plan, run_steps
from .execution.policy import BACKENDS, Backends
from .execution.pool import ensure_resource_tracker
from .store.raster import SharedRaster, create_raster, view_of
from .io.reading import read_into, read_profile
from .io.writing import refuse_writing_over, write_raster
from .store.segments import sweep_orphans
from .execution.tasks import tile_jobs
from .tiling.tiles import bytes_per_pixel, make_tiles, tile_shape_for

logger = logging.getLogger("tilewise")

# Below this many pixels a run stays in this process: handing tiles to workers would cost
# more than it saves. TILEWISE_MIN_PARALLEL_PIXELS overrides it (the tests set 0).
MIN_PARALLEL_PIXELS = 2**20
MAX_WORKERS_PER_CORE = 2  # workers beyond this many per core are not started


def _check_count(name, value, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


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
        self._use, self._user, self._depth = new_use()  # see execution.exclusive
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
        self.memory_budget = memory_budget or default_memory_budget()
        self.progress, self.cancel, self.log = progress, cancel, log
        self.cache = cache
        min_parallel_pixels = env_number("TILEWISE_MIN_PARALLEL_PIXELS", MIN_PARALLEL_PIXELS)
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
        self.backend = backend or env_choice("TILEWISE_BACKEND", "auto", BACKENDS)
        self.session = session
        # where each run goes: inline, threads or worker processes (execution.policy)
        self.backends = Backends(self.workers, self.backend, min_parallel_pixels,
                                 self._open_view, session, start_method, self._python)
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
            self.backends.close()
        finally:
            for raster in list(self._rasters.values()):
                raster.release()  # tells the workers to forget its segment
            self.backends.give_back()
            give_back_free_memory()  # what the heap kept for tile temporaries (engine.execution.heap)

    # -- rasters ---------------------------------------------------------------------------
    @exclusive
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

    @exclusive
    def create(self, profile, source=None):
        """A new zero-filled shared raster for ``profile``."""
        self._check_open()
        self.backends.start_for(profile.height * profile.width)  # boot while it is filled
        return self._track(create_raster(profile, source=source))

    @exclusive
    def prepare(self, *ops):
        """Start the worker processes early if any of ``ops`` (Filters, Reducers or Pipelines)
        will need them: at the first raster opened or created that is large enough to run in
        parallel (at once if one is held already), so that they boot while it is read.

        Optional: a run that needs them starts them anyway, and waits.
        """
        self._check_open()
        if self.backends.expect(ops):
            for raster in self._rasters.values():
                self.backends.start_for(raster.profile.height * raster.profile.width)

    def _track(self, raster):
        raster.on_release(self._forget)
        self._rasters[raster.ref.segment.name] = raster
        self._peak_bytes = max(self._peak_bytes, self.shared_bytes)
        return raster

    def release(self, *rasters):
        """Free rasters that are no longer needed."""
        for raster in rasters:
            raster.release()

    @exclusive
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
    def min_parallel_pixels(self):
        """Images of fewer pixels run in this process (the policy's threshold)."""
        return self.backends.min_parallel_pixels

    @min_parallel_pixels.setter
    def min_parallel_pixels(self, pixels):
        self.backends.min_parallel_pixels = pixels

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
        self.backends.forget([name])

    def _open_view(self, ref, writable):
        raster = self._rasters.get(ref.segment.name)
        if raster is None:
            raise TilewiseError(f"raster {ref.segment.name} is not held by this engine")
        return view_of(raster, writable)

    def _check_open(self):
        if self._closed:
            raise TilewiseError("this Engine is closed")

    # -- runs ------------------------------------------------------------------------------
    @exclusive
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
                              bytes_per_pixel(profiles + out_profiles))
            self._run(filter.name, jobs, lambda i, r: None)
        except BaseException:
            self.release(*outputs)
            raise
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    @exclusive
    def run(self, pipeline, inputs, keep=None, fuse=None):
        """Run a Pipeline on ``inputs`` (a dict by input name, or a list in order).

        Returns {name: SharedRaster} for the outputs in ``keep`` (default: the last step's).
        ``fuse`` None fuses where valid and worth it (see engine.plan.pipeline), True fuses whenever
        valid, False runs the steps one by one with intermediates in shared memory, each
        released after its last use.
        """
        inputs = pipeline_inputs(pipeline, inputs)
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
        return run_steps(self, p, inputs)

    @exclusive
    def reduce(self, reducer, inputs, **params):
        """Run ``reducer`` on ``inputs`` tile by tile and merge the partial results."""
        if not isinstance(reducer, Reducer):
            raise InputError("reducer", f"expected a Reducer, got {type(reducer).__name__}")
        inputs = self._inputs(inputs)
        params, _ = check_step(reducer, [r.profile for r in inputs], params)
        jobs = self._jobs(reducer, params, inputs, [], 0,
                          bytes_per_pixel([r.profile for r in inputs]))
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

    @exclusive
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

    @exclusive
    def stream_run(self, pipeline, sources, targets, fuse=None, options=(), driver="GTiff"):
        """Run a Pipeline from raster files to raster files in strips (see ``stream``).

        ``sources``: input paths, a dict by pipeline input name or a list in order.
        ``targets``: ``{output name: path}``, the outputs to write (any step's). Fused into
        one pass per strip where valid; a pipeline that cannot be fused (a step depends on
        more than its margin), or ``fuse=False``, runs in memory step by step, then writes.
        ``options`` and ``driver`` are the outputs' creation options and GDAL driver.
        Returns ``{output name: path}``.
        """
        from .execution.stream import stream_pipeline
        return stream_pipeline(self, pipeline, sources, dict(targets), fuse, options, driver)

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

    @staticmethod
    def bytes_per_pixel(profiles):
        """Bytes a tile holds per pixel for these input and output profiles."""
        return bytes_per_pixel(profiles)

    def _jobs(self, op, params, inputs, outputs, margin, bytes_per_pixel):
        first = inputs[0].profile
        parallel = self.workers > 1 and first.height * first.width >= self.min_parallel_pixels
        shape = tile_shape_for(self.tile_size, first.height, first.width, margin,
                               self.workers if parallel else 1,  # inline: one worker's tiles
                               bytes_per_pixel, self.memory_budget)
        return tile_jobs(op, params, inputs, outputs,
                         make_tiles(first.height, first.width, margin, shape))

    def _run(self, name, jobs, on_result, progress=None, quiet=False, pixels=None,
             busy_caller=False):
        backend = self.backends.choose(jobs, pixels, busy_caller)
        total, done = len(jobs), 0
        started = time.perf_counter()
        report = progress or self._report
        report(0.0)

        def finished(index, result):
            nonlocal done
            done += 1
            on_result(index, result)
            report(done / total)
        backend.run(jobs, finished, self.cancel, self.log)
        where = self.backends.where(backend, jobs)
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


__all__ = ["Engine"]
