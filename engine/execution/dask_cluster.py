"""The connection to a Dask scheduler: :class:`Cluster` (an address, a ``distributed.Client``
or a LocalCluster it starts), the Engine's cluster (:func:`cluster_of`), and the checks that
the scheduler has workers and that every worker runs this very engine.

``distributed`` is imported here only, and only when a scheduler is set: worker processes
and QGIS never load it otherwise.
"""

import os
import time

from ..core.errors import InputError, TilewiseError

CONNECT_SECONDS = 5        # a scheduler that does not answer: a clear error after this
WORKERS_SECONDS = 10       # a scheduler without workers: an error after this


def scheduler_from_env():
    """``TILEWISE_DASK_SCHEDULER``, or None when unset or empty."""
    return os.environ.get("TILEWISE_DASK_SCHEDULER", "").strip() or None


class Cluster:
    """A connection to a Dask scheduler (or a LocalCluster this object started)."""

    def __init__(self, scheduler, workers=0, log=None):
        try:
            import distributed
        except ImportError as exc:
            raise TilewiseError(f"a Dask scheduler is set ({scheduler!r}) but Dask distributed "
                                f"is not installed here ({exc}); on Debian: apt install "
                                "python3-distributed") from None
        self._cluster = None
        self._owned = True
        if isinstance(scheduler, distributed.Client):
            self.client, self._owned = scheduler, False
        elif scheduler == "local":
            import logging
            environ = dict(os.environ)
            try:
                self._cluster = distributed.LocalCluster(
                    n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                    processes=True, host="127.0.0.1",
                    dashboard_address="127.0.0.1:0",  # its HTTP server: loopback, any port
                    silence_logs=logging.ERROR)
            finally:
                # its nannies set MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS and MKL_NUM_THREADS
                # in this process's environment for their workers, for good: QGIS (and the
                # processes it starts later) must not inherit them
                for key in set(os.environ) - set(environ):
                    del os.environ[key]
                os.environ.update(environ)
            self.client = distributed.Client(self._cluster, timeout=f"{CONNECT_SECONDS}s")
        elif isinstance(scheduler, str):
            address = scheduler if "://" in scheduler else "tcp://" + scheduler
            try:
                self.client = distributed.Client(address, timeout=f"{CONNECT_SECONDS}s")
            except (OSError, TimeoutError) as exc:
                raise TilewiseError(f"the Dask scheduler at {address} cannot be reached "
                                    f"({exc}); check the address (TILEWISE_DASK_SCHEDULER or "
                                    "the provider setting 'Dask scheduler address') and that "
                                    "the scheduler runs; nothing was written") from None
        else:
            raise InputError("scheduler", "must be 'tcp://host:port', 'local' or a "
                             f"distributed.Client, got {scheduler!r}")
        self.address = self.client.scheduler.address
        self._checked = set()

    def close(self):
        if self._owned:
            self.client.close(timeout=10)
            if self._cluster is not None:
                self._cluster.close(timeout=10)

    def workers(self):
        """Addresses of the scheduler's workers now."""
        return sorted(self.client.scheduler_info().get("workers", {}))

    def ready(self):
        """Wait (at most WORKERS_SECONDS) for a worker; check every worker's engine.
        Returns the number of workers."""
        try:
            self.client.wait_for_workers(1, timeout=WORKERS_SECONDS)
        except (OSError, TimeoutError):
            raise TilewiseError(f"the Dask scheduler at {self.address} has no worker (waited "
                                f"{WORKERS_SECONDS} s); start some with: dask worker "
                                f"{self.address}") from None
        workers = self.workers()
        if set(workers) - self._checked:
            self.check_versions()
            self._checked.update(workers)
        return len(workers)

    def check_versions(self, mine=None):
        """Every worker must run this very engine (same source files): else a clear error.
        ``mine``: what to compare with (default: this process's ``engine_digest()``)."""
        from .dask_tasks import engine_digest
        mine = mine or engine_digest()
        try:
            theirs = self.client.run(engine_digest, on_error="return")
        except Exception as exc:  # noqa: BLE001 - say what is wrong, whatever it is
            raise TilewiseError(f"the Dask workers of {self.address} cannot run the Tilewise "
                                f"engine ({type(exc).__name__}: {exc}); see docs/scale-out.md "
                                "for how workers get tilewise.engine") from None
        for worker, answer in sorted(theirs.items()):
            if isinstance(answer, BaseException):
                raise TilewiseError(
                    f"the Dask worker {worker} cannot import tilewise.engine "
                    f"({type(answer).__name__}: {answer}): install Tilewise there, or put its "
                    "parent folder on the worker's PYTHONPATH (docs/scale-out.md)")
            if answer[0] != mine[0]:
                raise TilewiseError(
                    f"the Dask worker {worker} runs another version of the Tilewise engine "
                    f"than this client (worker: {answer[0][:12]} in {answer[1]} on {answer[2]}; "
                    f"client: {mine[0][:12]} in {mine[1]}): install the same version on the "
                    "workers and the client (docs/scale-out.md)")
            if len(answer) > 3 and len(mine) > 3 and answer[3] != mine[3]:
                differ = {k: (answer[3].get(k), v) for k, v in mine[3].items()
                          if answer[3].get(k) != v}
                raise TilewiseError(
                    f"the Dask worker {worker} has other library versions than this client "
                    "(results would not be bit-identical): "
                    + ", ".join(f"{k} {w} there, {c} here" for k, (w, c) in differ.items())
                    + " (docs/scale-out.md)")

    def scheduler_cpu(self):
        """CPU seconds the scheduler process has used so far (all its threads)."""
        return self.client.run_on_scheduler(time.process_time)


def cluster_of(eng):
    """The Engine's cluster, connected on first use (closed by ``Engine.close``)."""
    if getattr(eng, "_dask", None) is None:
        eng._dask = Cluster(eng.scheduler, workers=eng.workers, log=eng.log)
    return eng._dask

__all__ = ["Cluster", "cluster_of", "scheduler_from_env"]
