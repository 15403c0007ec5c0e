"""Worker processes kept between Engines, so that a session pays their start-up once.

In QGIS, every algorithm run makes its own Engine; a batch of forty fills would otherwise
start forty pairs of worker processes. An Engine given a WorkerSession borrows its pool
for its lifetime and gives it back on close, with every segment it used forgotten by the
workers. A pool serves one Engine at a time: an Engine that finds it lent out (two
algorithms running at once) starts a pool of its own, as without a session.
"""

import threading

from ..core.process_wide import ProcessWide
from .pool import ProcessPool


class WorkerSession:
    """Process pools that outlive the Engines using them, one per (size, start method,
    interpreter). ``close()`` stops them; a pool lent out at that moment stops on return."""

    def __init__(self):
        self._lock = threading.Lock()
        self._pools = {}     # key -> ProcessPool
        self._lent = set()   # keys of pools an Engine holds now
        self._closed = False

    def borrow(self, size, start_method, python):
        """A pool for one Engine, or None when the matching pool is lent out or the session
        is closed."""
        key = (size, start_method, python)
        with self._lock:
            if self._closed or key in self._lent:
                return None
            if key not in self._pools:
                self._pools[key] = ProcessPool(size, start_method, python)
            self._lent.add(key)
            return self._pools[key]

    def give_back(self, pool):
        """Return a borrowed pool; it waits for the next Engine (or stops if closed)."""
        with self._lock:
            key = next((k for k, p in self._pools.items() if p is pool), None)
            if key is None:
                stop = True
            else:
                self._lent.discard(key)
                stop = self._closed
                if stop:
                    del self._pools[key]
        if stop:
            pool.close()

    @property
    def pools(self):
        """How many pools the session keeps (lent out or not)."""
        return len(self._pools)

    def close(self):
        """Stop every pool not lent out; the others stop when given back."""
        with self._lock:
            self._closed = True
            idle = [self._pools.pop(k) for k in list(self._pools) if k not in self._lent]
        for pool in idle:
            pool.close()


_default = ProcessWide(WorkerSession)


def default_session():
    """The process-wide WorkerSession (the QGIS provider's; created on first use)."""
    return _default.get()


def close_default_session():
    """Stop the default session's workers (the provider does this when unloaded)."""
    _default.close()
