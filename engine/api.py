"""The Engine: tiled runs of filters, pipelines and reducers, in memory or streamed from
file to file, over the rasters it holds (``holding.Holding``, its base class)."""

import logging
import os
import time

from .core.environment import default_memory_budget, env_choice, env_number
from .core.docstrings import docfiller
from .core.errors import InputError, TilewiseError
from .core.filter import Filter, Reducer
from .execution.exclusive import exclusive, new_use
from .execution.heap import give_back_free_memory, keep_freed_tile_memory
from .execution.interpreter import resolve_worker_python
from .plan.checks import check_step
from .plan.pipeline import fused_filter, pipeline_inputs, plan, run_steps
from .execution.policy import BACKENDS, Backends
from .execution.pool import ensure_resource_tracker
from .holding import Holding
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


@docfiller
class Engine(Holding):
    """Loads rasters once into shared memory and runs operations on them tile by tile.

    Parameters
    ----------
    workers : int, optional
        Tiles at once: 0 all cores (default), 1 this process only. With worker processes
        this process computes tiles as one of them; more than 2 per core are not started.
    tile_size : int, optional
        Tile side in pixels; 0 (default) shapes tiles for the margin and the cache.
    memory_budget : int, optional
        Bytes the tiles (and a stream's strips) may hold at once; default a quarter of RAM.
    progress, cancel, log : callable, optional
        ``progress(fraction)``, ``cancel() -> bool`` and ``log(message)``.
    backend : {"auto", "processes", "threads"}, optional
        Where tiles run (``TILEWISE_BACKEND``); see ``execution.policy``.
    cache : RasterCache, optional
        ``open`` borrows valid copies from it, ``write`` puts copies in.
    session : WorkerSession, optional
        Worker processes to borrow and give back, started once for many Engines.
    scheduler : str or distributed.Client, optional
        A Dask scheduler (``"tcp://host:port"``, ``"local"``) for streamed runs
        (``TILEWISE_DASK_SCHEDULER``).
    start_method, python : str, optional
        How worker processes start: ``"spawn"`` (default), and the interpreter.

    Raises
    ------
    %(raises_input)s

    Notes
    -----
    Use as a context manager: every raster and worker is released on exit. One call at a
    time per Engine; use one Engine per thread.
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

    # -- runs ------------------------------------------------------------------------------
    @exclusive
    def apply(self, filter, inputs, **params):
        """Run ``filter`` on ``inputs`` tile by tile, as on the whole image, bit for bit.

        Parameters
        ----------
        filter : Filter
        %(inputs)s
        %(params)s

        Returns
        -------
        SharedRaster or tuple of SharedRaster
            The filter's output(s).

        Raises
        ------
        %(raises_input)s
        %(raises_run)s
        """
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
                              bytes_per_pixel(profiles + out_profiles, filter,
                                              len(profiles)))
            self._run(filter.name, jobs, lambda i, r: None)
        except BaseException:
            self.release(*outputs)
            raise
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    @exclusive
    def run(self, pipeline, inputs, keep=None, fuse=None):
        """Run a Pipeline on ``inputs``.

        Parameters
        ----------
        %(pipeline)s
        inputs : dict or sequence of SharedRaster
            By the pipeline's input names, or in their order.
        keep : str or sequence of str, optional
            The outputs to return (any step's); default the last step's.
        %(fuse)s
            Unfused, intermediates live in shared memory until their last use.

        Returns
        -------
        dict
            ``{name: SharedRaster}`` for the outputs in ``keep``.

        Raises
        ------
        %(raises_input)s
            A step's error names the step.
        %(raises_run)s
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
        """Run ``reducer`` on ``inputs`` tile by tile and merge the partial results.

        Parameters
        ----------
        reducer : Reducer
        %(inputs)s
        %(params)s

        Returns
        -------
        object
            What the reducer's ``merge`` makes of the tiles' partial results.

        Raises
        ------
        %(raises_input)s
        %(raises_run)s
        """
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

    @exclusive
    def stream(self, filter, sources, targets, options=(), driver="GTiff", **params):
        """Run ``filter`` from files to files in strips, within ``memory_budget`` whatever
        the image size; reading, computing and writing overlap. The outputs equal ``apply``
        then ``write``, bit for bit. With a Dask ``scheduler``, the tiles run on its cluster.

        Parameters
        ----------
        filter : Filter
        %(sources)s
        %(targets)s
        %(options)s
        %(driver)s
        %(params)s

        Returns
        -------
        list of str
            The target paths.

        Raises
        ------
        %(raises_input)s
            Also a budget too small for the margin ("needs at least N MiB").
        %(raises_run)s
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
        """Run a Pipeline from files to files in strips (see ``stream``).

        Parameters
        ----------
        %(pipeline)s
        sources : dict or sequence of str
            Input files by the pipeline's input names, or in their order.
        targets : dict
            ``{output name: path}``: the outputs to write (any step's).
        %(fuse)s
            A pipeline that cannot be fused (a step depends on more than its margin), or
            ``fuse=False``, runs in memory step by step, then writes.
        %(options)s
        %(driver)s

        Returns
        -------
        dict
            ``{output name: path}``.

        Raises
        ------
        %(raises_input)s
        %(raises_run)s
        """
        from .execution.stream import stream_pipeline
        return stream_pipeline(self, pipeline, sources, dict(targets), fuse, options, driver)

    def run_jobs(self, op, jobs, progress=None, pixels=None, busy_caller=False, cancel=None):
        """Run tile ``jobs`` of ``op`` on the backend the policy picks, reporting through
        ``progress(fraction)``; no summary line (the caller says its own). Returns where
        they ran, as the summary line says it ("on 2 threads"). ``pixels``: the size of
        the image the jobs are part of (a strip's jobs run as the whole image would).
        ``busy_caller``: this process has other work meanwhile (a stream's reads and writes,
        on threads): a filter that holds the GIL then never computes here. ``cancel``: what
        stops the jobs (default: the Engine's ``cancel``)."""
        return self._run(op.name, jobs, lambda i, r: None, progress=progress, quiet=True,
                         pixels=pixels, busy_caller=busy_caller, cancel=cancel)

    @property
    def min_parallel_pixels(self):
        """Images of fewer pixels run in this process (the policy's threshold)."""
        return self.backends.min_parallel_pixels

    @min_parallel_pixels.setter
    def min_parallel_pixels(self, pixels):
        self.backends.min_parallel_pixels = pixels

    def tiles(self, height, width, margin, bytes_per_pixel, flat_cost=False):
        """The tiles an in-memory run cuts a ``height`` x ``width`` image into, for the
        workers the policy gives it (one worker's tiles in this process); ``flat_cost``:
        see ``Filter``."""
        shape = tile_shape_for(self.tile_size, height, width, margin,
                               self.backends.workers_for(height * width), bytes_per_pixel,
                               self.memory_budget, flat_cost)
        return make_tiles(height, width, margin, shape)

    def _jobs(self, op, params, inputs, outputs, margin, bytes_per_pixel):
        first = inputs[0].profile
        return tile_jobs(op, params, inputs, outputs,
                         self.tiles(first.height, first.width, margin, bytes_per_pixel,
                                    getattr(op, "flat_cost", False)))

    def _run(self, name, jobs, on_result, progress=None, quiet=False, pixels=None,
             busy_caller=False, cancel=None):
        backend = self.backends.choose(jobs, pixels, busy_caller)
        total, done = len(jobs), 0
        started = time.perf_counter()
        report = progress or self.report
        report(0.0)

        def finished(index, result):
            nonlocal done
            done += 1
            on_result(index, result)
            report(done / total)
        backend.run(jobs, finished, cancel or self.cancel, self.log)
        where = self.backends.where(backend, jobs)
        if quiet:
            return where
        self.say(f"{name}: {total} tile{'s' if total != 1 else ''} {where} "
                  f"in {time.perf_counter() - started:.2f} s; shared memory peak "
                  f"{self._peak_bytes / 2**20:.1f} MiB")

    def report(self, fraction):
        """Progress of the current call, 0 to 1, to ``progress``."""
        if self.progress is not None:
            self.progress(fraction)

    def say(self, message):
        """A line to the ``tilewise`` logger and to ``log``."""
        logger.info(message)
        if self.log is not None:
            self.log(message)


__all__ = ["Engine"]
