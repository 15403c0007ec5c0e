"""Exceptions raised by the Tilewise engine."""


class TilewiseError(Exception):
    """Base class of every error the engine raises on purpose."""


class InputError(TilewiseError, ValueError):
    """A parameter or input is invalid; ``param`` names it."""

    def __init__(self, param, message):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


class ScriptError(InputError):
    """A custom script could not be loaded, or its checks failed or crashed; the message
    holds its traceback."""

    def __init__(self, message, script_traceback=""):
        super().__init__("script", message)
        self.script_traceback = script_traceback


class ReleasedError(TilewiseError):
    """A shared raster was used after it was released."""


class Cancelled(TilewiseError):
    """The run was cancelled by the caller's cancel callable."""


class WorkerError(TilewiseError):
    """A filter raised inside a worker.

    ``tile`` is the tile's window, ``worker_traceback`` the formatted traceback.
    """

    def __init__(self, message, tile=None, worker_traceback=""):
        super().__init__(message)
        self.tile = tile
        self.worker_traceback = worker_traceback


class WorkerCrashed(TilewiseError):
    """A worker process died while running a tile (for example, killed for lack of memory)."""


class SharedMemoryError(TilewiseError):
    """Shared memory could not be allocated."""
