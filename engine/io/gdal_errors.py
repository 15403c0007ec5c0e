"""GDAL's errors that rasterio logs without raising (a flush at close, a decode in a
worker thread of this one): collected so that the caller can refuse the result."""

import logging
import threading
from contextlib import contextmanager


class _FailureLog(logging.Handler):
    """Collects the errors GDAL signals on this thread (rasterio logs them at INFO)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.thread = threading.get_ident()
        self.messages = []

    def emit(self, record):
        message = record.getMessage()
        if record.thread == self.thread and message.startswith("GDAL signalled an error"):
            self.messages.append(message.split("msg=", 1)[-1].strip("'\""))


@contextmanager
def gdal_failures():
    """A list that collects, while the block runs, the messages of the errors GDAL signals
    on this thread."""
    logger = logging.getLogger("rasterio._env")
    handler = _FailureLog()
    previous = logger.level
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


__all__ = ["gdal_failures"]
