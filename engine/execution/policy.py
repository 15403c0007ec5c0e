"""The one policy that decides where a run's tile jobs go, over the backends it owns.

An Engine holds one ``Backends``: this process (inline), a thread pool, and worker
processes started at the first run that needs them (or borrowed from a WorkerSession).

- A user's script (an *isolated* op) runs in worker processes only, at any size.
- One worker, one tile, or an image under ``min_parallel_pixels`` runs inline.
- ``backend="threads"`` or ``"processes"`` forces that backend.
- ``"auto"``: an op that holds the GIL runs in the worker processes; one that releases it
  runs on threads, unless the workers are up already: then processes, which measured
  faster (the engine's per-tile Python work holds the GIL part of the time) but cost a
  start-up that a short run would not earn back.
- With processes, this process computes tiles as one of the workers (``WithCaller``) when
  the op allows it (``runs_in_caller``), except a GIL-holding op while this process has
  other work meanwhile (a stream's reads and writes on threads).
"""

from ..core.errors import InputError
from ..plan.pipeline import Pipeline
from .backends import InlineBackend, ThreadBackend, WithCaller
from .pool import ProcessPool

BACKENDS = ("auto", "processes", "threads")


def isolated(op):
    """Does ``op`` (Filter, Reducer or Pipeline) run in worker processes only?"""
    if isinstance(op, Pipeline):
        return any(isolated(step.filter) for step in op.steps)
    return getattr(op, "isolated", False)


class Backends:
    """The backends of one Engine and the choice among them (see the module's policy).

    ``workers``: tiles at once. ``backend``: one of ``BACKENDS``. ``open_view(ref,
    writable)``: how this process sees a raster of the Engine's. ``session``: a
    WorkerSession to borrow the processes from, or None. ``start_method`` and ``python``:
    how worker processes start.
    """

    def __init__(self, workers, backend, min_parallel_pixels, open_view, session=None,
                 start_method="spawn", python=None):
        if backend not in BACKENDS:
            raise InputError("backend", f"must be auto, processes or threads, got {backend!r}")
        self.workers, self.backend = workers, backend
        self.min_parallel_pixels = min_parallel_pixels
        self.inline = InlineBackend(open_view)
        self.threads = ThreadBackend(workers, open_view)
        self.session, self._start_method, self._python = session, start_method, python
        self.pool = None        # the worker processes, started when first needed
        self.borrowed = False   # ... from the session
        self.preload = set()    # modules the ops given to expect() want in the workers
        self.expected = False   # expect() saw an op that needs the processes
        self.expected_isolated = False  # ... one that runs in processes only, at any size

    def workers_for(self, pixels):
        """Tiles at once for an image of ``pixels``: 1 (this process) under the threshold."""
        return self.workers if self.workers > 1 and pixels >= self.min_parallel_pixels else 1

    def needs_processes(self, op):
        """Will ``op`` (Filter, Reducer or Pipeline) run in worker processes?"""
        if self.backend != "auto":
            return self.backend == "processes" or isolated(op)
        if isinstance(op, Pipeline):
            return any(self.needs_processes(step.filter) for step in op.steps)
        return isolated(op) or not getattr(op, "releases_gil", False)

    def expect(self, ops):
        """Note that ``ops`` will run; True if the worker processes should start now that an
        image large enough (``start_for(pixels)``) is there."""
        any_isolated = any(isolated(op) for op in ops)
        if any_isolated or (self.workers > 1 and any(self.needs_processes(op) for op in ops)):
            self.expected = True
            self.expected_isolated = self.expected_isolated or any_isolated
            for op in ops:
                steps = [s.filter for s in op.steps] if isinstance(op, Pipeline) else [op]
                self.preload.update(m for f in steps for m in getattr(f, "preload", ()))
        return self.expected

    def start_for(self, pixels):
        """Start the expected worker processes if an image of ``pixels`` will use them."""
        if self.expected and (self.expected_isolated or pixels >= self.min_parallel_pixels):
            self.processes()

    def processes(self):
        """The process pool, started on first use; with one worker, one process for the
        isolated ops (user scripts), which never run in this process."""
        if self.pool is None:
            # this process computes tiles too (WithCaller): workers - 1 more
            key = (max(1, self.workers - 1), self._start_method, self._python)
            self.pool = self.session.borrow(*key) if self.session is not None else None
            self.borrowed = self.pool is not None
            if self.pool is None:
                self.pool = ProcessPool(*key, preload=sorted(self.preload))
            self.pool.start()  # replaces workers lost since the session's last use
        return self.pool

    def choose(self, jobs, pixels=None, busy_caller=False):
        """The backend for ``jobs`` (tiles of one run), ``pixels`` the image they cut (by
        default their cores' sum); ``busy_caller``: this process has other work meanwhile."""
        op = jobs[0].op
        if isolated(op):
            return self._processes_for(op, busy_caller)
        if pixels is None:
            pixels = sum((j.tile.row1 - j.tile.row0) * (j.tile.col1 - j.tile.col0) for j in jobs)
        if self.workers == 1 or len(jobs) == 1 or pixels < self.min_parallel_pixels:
            return self.inline
        gil_free = getattr(op, "releases_gil", False)
        if self.backend == "threads" or (self.backend == "auto" and gil_free and (
                self.pool is None or not self.pool.ready())):
            return self.threads
        return self._processes_for(op, busy_caller)

    def _processes_for(self, op, busy_caller):
        pool = self.processes()
        here = (getattr(op, "runs_in_caller", False) and not isolated(op)
                and pool.size < self.workers
                # a GIL-holding tile here (GDAL's fill) would stall the stream's threads
                and not (busy_caller and not getattr(op, "releases_gil", False)))
        if here:
            return WithCaller(pool, self.inline)
        pool.size = self.workers  # start the one more it needs (kept from now on)
        return pool

    @staticmethod
    def where(backend, jobs):
        """Where ``backend`` ran ``jobs``, as a run's summary line says it."""
        if isinstance(backend, WithCaller):
            n = backend.pool.size
            return f"on this process and {n} worker process{'es' if n != 1 else ''}"
        if isinstance(backend, ProcessPool):
            return f"on {backend.size} worker process{'es' if backend.size != 1 else ''}"
        if isinstance(backend, InlineBackend):
            return "in this process"
        used = min(backend.size, len(jobs))
        return f"on {used} thread{'s' if used != 1 else ''}"

    def forget(self, names):
        """The workers unmap these segments (released by the Engine)."""
        if self.pool is not None:
            self.pool.forget(names)

    def close(self):
        """Stop the threads and the processes (a borrowed pool: see ``give_back``)."""
        self.threads.close()
        if self.pool is not None and not self.borrowed:
            self.pool.close()

    def give_back(self):
        """Return a pool borrowed from the session, once the Engine's segments are gone."""
        if self.pool is not None and self.borrowed:
            self.session.give_back(self.pool)
