"""One call at a time per Engine (``exclusive``), a clear error for a second thread."""

import functools
import threading

from ..core.errors import TilewiseError


def new_use():
    """The state ``exclusive`` keeps on an Engine: (lock, thread using it, nesting depth)."""
    return threading.Lock(), None, 0


def exclusive(method):
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
