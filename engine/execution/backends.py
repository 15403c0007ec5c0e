"""Backends: where tile jobs run, all with one contract (``Backend``).

``run(jobs, on_result, should_cancel=None, log=None)`` calls ``on_result(index, result)``
for every job, in completion order, on the caller's thread. It raises WorkerError when a
job raised, WorkerCrashed when a worker died, Cancelled when ``should_cancel()`` turned
true. On any of these (and on KeyboardInterrupt) no job is left running: queued jobs are
dropped and busy workers are killed, so the caller may release the memory at once.

The peers: ``InlineBackend`` (this process), ``ThreadBackend`` (threads of this process),
``pool.ProcessPool`` (worker processes) and ``WithCaller`` (a pool with this process
computing tiles too). ``policy.Backends`` picks one per run; streamed runs
(``stream``) and Dask runs (``dask_backend``) cut the work into strips or task groups and
hand their tiles to the same backends or to the cluster.
"""

import threading
from collections import deque
from typing import Protocol

from ..core.errors import Cancelled, WorkerError
from .tasks import run_job

POLL_SECONDS = 0.05
QUEUE_DEPTH = 2  # tiles a worker holds: one running, one waiting


class Backend(Protocol):
    """What every backend offers: ``size`` jobs at once, ``run`` and ``close``."""

    size: int

    def run(self, jobs, on_result, should_cancel=None, log=None):
        """Run every job of ``jobs`` (tiles of one run); see the module's contract."""

    def close(self):
        """Stop whatever the backend started; it may not run again."""


def describe(job):
    """A tile job in messages: the op's name and the tile."""
    return f"{job.op.name} on {job.tile}"


def worker_error(job, message, tb):
    if message.startswith("MemoryError"):
        message = (f"{message.rstrip(': ')}: not enough memory for this tile; use fewer "
                   "workers, a smaller tile size or a smaller window")
    return WorkerError(f"{describe(job)} failed: {message}\n\nTraceback in the worker:\n{tb}",
                       tile=job.tile, worker_traceback=tb)


def run_in_this_process(job, open_view):
    """Compute ``job`` in this process; a failure raises WorkerError, as from a worker."""
    try:
        return run_job(job, open_view)
    except Exception as exc:
        import traceback
        raise worker_error(job, f"{type(exc).__name__}: {exc}",
                           traceback.format_exc()) from exc


class InlineBackend:
    """Runs jobs one after another in this process (workers=1, tiny images)."""

    size = 1

    def __init__(self, open_view):
        self._open_view = open_view

    def run(self, jobs, on_result, should_cancel=None, log=None):
        for index, job in enumerate(jobs):
            if should_cancel is not None and should_cancel():
                raise Cancelled("cancelled by the caller")
            on_result(index, self.run_one(job))

    def run_one(self, job):
        """Compute one job here; a failure raises WorkerError, as from a worker."""
        return run_in_this_process(job, self._open_view)

    def close(self):
        pass


class ThreadBackend:
    """Runs jobs on threads of this process, for filters that release the GIL.

    No process to start, no page to map twice: the threads see the caller's own views.
    On an error or a cancel, queued jobs are dropped; running ones (a tile each) finish,
    since a thread cannot be killed.
    """

    def __init__(self, size, open_view):
        self.size = size
        self._open_view = open_view
        self._executor = None
        self._lock = threading.Lock()

    def run(self, jobs, on_result, should_cancel=None, log=None):
        """As ``Backend.run``; calls from two threads share the threads (a stream's strip
        ending and the next one starting), their jobs queued in turn."""
        from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.size, thread_name_prefix="tilewise")
        pending = deque(enumerate(jobs))
        running = {}
        try:
            while pending or running:
                while pending and len(running) < QUEUE_DEPTH * self.size:
                    index, job = pending.popleft()
                    running[self._executor.submit(run_in_this_process, job,
                                                 self._open_view)] = (index, job)
                done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                for future in done:
                    index, job = running.pop(future)
                    on_result(index, future.result())
                if should_cancel is not None and should_cancel():
                    raise Cancelled("cancelled by the caller")
        except BaseException:
            for future in running:
                future.cancel()
            wait(running)  # running tiles write into outputs the caller is about to free
            raise


    def close(self):
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)


class WithCaller:
    """A process pool with this process computing tiles too, as one more worker.

    Whenever the workers' queues are full, the calling thread computes the next tile
    instead of waiting: one worker process fewer does the same work.
    """

    def __init__(self, pool, inline):
        self.pool, self._inline = pool, inline
        self.size = pool.size + 1

    def run(self, jobs, on_result, should_cancel=None, log=None):
        self.pool.run(jobs, on_result, should_cancel, log, run_here=self._inline.run_one)

    def close(self):
        pass  # the pool is the policy's to close
