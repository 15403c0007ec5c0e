"""One process-wide instance of a class, made on first use (the default session, the
default script host)."""

import threading


class ProcessWide:
    """``get()`` makes ``make()`` once and returns it; ``close()`` closes and forgets it, so
    the next ``get()`` makes a new one."""

    def __init__(self, make):
        self._make = make
        self._lock = threading.Lock()
        self._value = None

    def get(self):
        with self._lock:
            if self._value is None:
                self._value = self._make()
            return self._value

    def close(self):
        with self._lock:
            value, self._value = self._value, None
        if value is not None:
            value.close()
