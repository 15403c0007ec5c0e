"""The worker-process backend: a fixed pool of spawned processes, reused by every run.

It keeps the ``Backend`` contract (see ``backends``); a crashed worker is a WorkerCrashed
naming the tile and the likely cause, and is replaced on the next run.
"""

import itertools
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from contextlib import contextmanager
from multiprocessing import connection

from ..core.errors import Cancelled, TilewiseError, WorkerCrashed
from .backends import POLL_SECONDS, QUEUE_DEPTH, describe, worker_error
from .worker import main as worker_main

STOP_SECONDS = 2.0
_executable_lock = threading.Lock()


#: signals of a fault in native code (the filter's, or a library's), not of memory
FAULT_SIGNALS = tuple(getattr(signal, name) for name in
                      ("SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT") if hasattr(signal, name))


def crash_hint(code):
    """What a worker's exit ``code`` (negative: the signal) most likely means."""
    if code in (-signal.SIGKILL, None):
        return ("The most likely cause is the system running out of memory (the kernel's "
                "OOM killer sends SIGKILL): use fewer workers or a smaller tile size.")
    if code is not None and -code in FAULT_SIGNALS:
        return ("That is a crash in the filter's code or in a library it calls (a fault in "
                "native code, not a lack of memory); the caller was not affected.")
    if code is not None and code >= 0:
        return ("The filter's code (or a library it calls) ended the process, as os._exit "
                "or sys.exit would; the caller was not affected.")
    return "Use fewer workers or a smaller tile size if memory is short."


@contextmanager
def worker_executable(python):
    """Make multiprocessing start ``python`` while processes are created, then restore it."""
    if python is None:
        yield
        return
    from multiprocessing import spawn
    with _executable_lock:
        previous = spawn.get_executable()
        spawn.set_executable(python)
        try:
            yield
        finally:
            spawn.set_executable(previous)


def ensure_resource_tracker(python):
    """Start multiprocessing's resource tracker with the right interpreter (POSIX)."""
    if os.name != "posix":
        return
    from multiprocessing import resource_tracker
    with worker_executable(python):
        resource_tracker.ensure_running()


class _Worker:
    def __init__(self, process, conn):
        self.process, self.conn = process, conn
        self.jobs = deque()  # (index, job) sent and not yet answered, oldest first
        self.run_id = None   # the run whose context this worker holds
        self.ready = False   # has it said it finished starting (its imports)?


class ProcessPool:
    """A fixed set of worker processes, started once and reused by every run."""

    def __init__(self, size, start_method="spawn", python=None, preload=()):
        if start_method not in ("spawn", "forkserver", "fork"):
            raise TilewiseError(f"start_method must be spawn, forkserver or fork, "
                                f"got {start_method!r}")
        self.size = size
        self._context = multiprocessing.get_context(start_method)
        self._python = python if start_method != "fork" else None
        self.preload = tuple(preload)  # modules new workers import before saying ready
        self._workers = []
        self._run_ids = itertools.count()

    def start(self):
        """Start workers up to ``size`` (after a crash or an abort, replace the lost ones).

        Returns at once: the workers import the engine while the caller goes on.
        """
        for worker in [w for w in self._workers if not w.jobs and not w.process.is_alive()]:
            self._discard(worker)  # died while idle (killed between two Engines of a session)
        missing = self.size - len(self._workers)
        if missing <= 0:
            return
        with worker_executable(self._python):
            for _ in range(missing):
                parent_end, child_end = self._context.Pipe(duplex=True)
                process = self._context.Process(target=worker_main,
                                                args=(child_end, os.getpid(), self.preload),
                                                name="tilewise-worker", daemon=True)
                process.start()
                child_end.close()
                self._workers.append(_Worker(process, parent_end))

    def ready(self):
        """True when every worker has started and can take tiles at once (never waits)."""
        if len(self._workers) < self.size:
            return False
        for worker in list(self._workers):
            while not worker.ready and not worker.jobs and worker.conn.poll():
                answer = self._receive(worker)
                if answer is None:
                    self._discard(worker)  # died while starting: replaced on the next run
                    return False
                worker.ready = answer[0] == "ready"
        return all(w.ready for w in self._workers)

    def run(self, jobs, on_result, should_cancel=None, log=None, run_here=None):
        """Run ``jobs`` (tiles of one run: same op, params and rasters) on the workers.

        The run's context is pickled once and sent once to each worker; then each tile is
        just its window. Every worker holds up to QUEUE_DEPTH tiles, so it never waits for
        the parent between two tiles. With ``run_here(job) -> result``, the calling thread
        computes tiles too whenever the workers' queues are full, instead of waiting: one
        worker process fewer does the same work.
        """
        self.start()
        jobs = list(jobs)
        run_id = next(self._run_ids)
        context = _pickle_context(jobs[0]) if jobs else None
        pending = deque(enumerate(jobs))
        try:
            while pending or any(w.jobs for w in self._workers):
                if pending and not self._workers:  # every worker died while idle
                    self.start()
                executors = len(self._workers) + (run_here is not None)
                # near the end, one tile per worker: the last ones then finish together
                depth = QUEUE_DEPTH if len(pending) > QUEUE_DEPTH * executors else 1
                for worker in list(self._workers):
                    while pending and len(worker.jobs) < depth:
                        self._send(worker, run_id, context, *pending.popleft())
                timeout = POLL_SECONDS
                if pending and run_here is not None:
                    index, job = pending.popleft()
                    on_result(index, run_here(job))
                    timeout = 0  # then collect what the workers finished meanwhile
                waitables = ([w.conn for w in self._workers if w.jobs]
                             + [w.process.sentinel for w in self._workers])
                for ready in connection.wait(waitables, timeout=timeout):
                    worker = self._owner(ready)
                    if worker is None:
                        continue  # discarded earlier in this loop
                    answer = self._receive(worker) if ready is worker.conn else None
                    if answer is None:
                        if not worker.jobs:
                            self._discard(worker)  # an idle worker died: replaced later
                            continue
                        raise self._crash(worker, worker.jobs[0][1])
                    if answer[0] == "ready":
                        worker.ready = True
                        continue
                    index, job = worker.jobs.popleft()
                    status, _, payload, *rest = answer
                    if log is not None:
                        for line in rest[-1]:
                            log(f"worker {worker.process.pid}: {line}")
                    if status == "error":
                        raise worker_error(job, payload, rest[0])
                    on_result(index, payload)
                if should_cancel is not None and should_cancel():
                    raise Cancelled("cancelled by the caller")
        except BaseException:
            for worker in [w for w in self._workers if w.jobs]:
                self._discard(worker, kill=True)
            raise

    def _send(self, worker, run_id, context, index, job):
        worker.jobs.append((index, job))
        try:
            if worker.run_id != run_id:
                worker.conn.send(("run", run_id, context))
                worker.run_id = run_id
            worker.conn.send(("tile", index, run_id, job.tile))
        except OSError:
            raise self._crash(worker, job) from None

    def _owner(self, ready):
        for worker in self._workers:
            if ready is worker.conn or ready == worker.process.sentinel:
                return worker
        return None

    @staticmethod
    def _receive(worker):
        try:
            return worker.conn.recv()
        except (EOFError, OSError):
            return None

    def _crash(self, worker, job):
        worker.process.join(1.0)
        code = worker.process.exitcode
        self._discard(worker, kill=True)
        if code is not None and code < 0:
            try:
                how = f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited with code {code}"
        if code is not None and code > 0 and not worker.ready:
            return WorkerCrashed(
                f"worker process {worker.process.pid} could not start ({how}; interpreter "
                f"{self._python or 'forked'}). In a script, start the engine under "
                "'if __name__ == \"__main__\":' (workers are spawned); otherwise set "
                "TILEWISE_PYTHON to a Python of the same version, or use workers=1.")
        hint = crash_hint(code)
        return WorkerCrashed(f"worker process {worker.process.pid} {how} while running "
                             f"{describe(job)}. {hint}")

    def _discard(self, worker, kill=False):
        if worker in self._workers:
            self._workers.remove(worker)
        if kill and worker.process.is_alive():
            worker.process.kill()
        worker.process.join(STOP_SECONDS)
        worker.conn.close()

    def forget(self, names):
        """Tell every worker to unmap these segments, so their memory can be freed."""
        for worker in self._workers:
            try:
                worker.conn.send(("forget", tuple(names)))
            except OSError:
                pass  # a dead worker maps nothing; it is replaced on the next run

    def close(self):
        """Stop every worker: ask politely, then kill what does not stop in time."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        deadline = time.monotonic() + STOP_SECONDS
        for worker in self._workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(STOP_SECONDS)
            worker.conn.close()
        self._workers = []


def _pickle_context(job):
    """What every tile of a run shares: the op, its params, the rasters and where the
    outputs' rows start (TileJob without its tile)."""
    try:
        return pickle.dumps((job.op, job.params, job.inputs, job.outputs, job.out_row),
                            protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError) as exc:
        raise TilewiseError(
            f"{job.op.name} cannot be sent to worker processes ({exc}); define the filter's "
            "functions at module level in an importable module, or use workers=1") from exc
