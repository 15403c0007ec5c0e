"""A process that runs the parts of a user's script the caller needs before any tile.

A custom script's ``margin``, ``check`` and ``output_profiles`` (and the import that finds
them) decide how a run is planned, so they are called before any worker computes a tile.
They are user code: a segfault, an ``os._exit`` or a hang there must not take the caller
(QGIS) down. The host is one spawned process, started on first use and kept for the next
calls; it imports each script once (by path and SHA-256, as workers do). A host that dies
is replaced on the next call; one that does not answer within ``TILEWISE_SCRIPT_TIMEOUT``
seconds (default 120) is killed.
"""

import atexit
import importlib
import multiprocessing
import os
import signal
import threading
import traceback

from ..core.environment import env_number
from ..core.errors import InputError, ScriptError
from ..core.process_wide import ProcessWide
from .process_role import mark_worker_process

DEFAULT_TIMEOUT = 120.0
STOP_SECONDS = 2.0


def _timeout():
    value = env_number("TILEWISE_SCRIPT_TIMEOUT", DEFAULT_TIMEOUT, integer=False)
    if value <= 0:
        raise InputError("TILEWISE_SCRIPT_TIMEOUT", "the environment variable "
                         "TILEWISE_SCRIPT_TIMEOUT must be a number of seconds > 0, got "
                         f"{value:g}")
    return value


def _host_main(conn, parent_pid):
    """Host loop: ``("module:function", args)`` in, ``("ok", value)``, ``("input", param, message)``,
    ``("script", message, script traceback)`` (a ScriptError) or ``("error", text,
    traceback)`` out; None stops it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from .worker import _exit_when_orphaned
    mark_worker_process()
    _exit_when_orphaned(parent_pid)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        function, args = message
        try:
            module, name = function.split(":")
            answer = ("ok", getattr(importlib.import_module(module), name)(*args))
        except InputError as exc:
            if isinstance(exc, ScriptError):
                answer = ("script", exc.message, exc.script_traceback)
            else:
                answer = ("input", exc.param, exc.message)
        except BaseException as exc:  # noqa: BLE001  (the script's error, reported)
            answer = ("error", f"{type(exc).__name__}: {exc}", traceback.format_exc())
        try:
            conn.send(answer)
        except Exception as exc:  # noqa: BLE001  (an unpicklable value from the script)
            conn.send(("error", f"cannot send the script's answer back: {exc}", ""))


class ScriptHost:
    """One host process; ``call("module:function", *args)`` runs that function there."""

    def __init__(self, python=None):
        self._python = python
        self._process = None
        self._conn = None
        self._lock = threading.Lock()

    def _start(self):
        from .interpreter import resolve_worker_python
        from .pool import worker_executable
        python = self._python or resolve_worker_python()
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe(duplex=True)
        with worker_executable(python):
            process = context.Process(target=_host_main, args=(child_end, os.getpid()),
                                      name="tilewise-script-host", daemon=True)
            process.start()
        child_end.close()
        self._process, self._conn = process, parent_end

    def call(self, function, *args, what="the script"):
        """The value of ``module.function(*args)`` computed in the host process.

        Raises InputError as the script raised it, ScriptError for any other exception or
        when the host dies or hangs (``what`` names the call in the message).
        """
        timeout = _timeout()
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self._discard()
                self._start()
            try:
                self._conn.send((function, args))
                ready = self._conn.poll(timeout)
                answer = self._conn.recv() if ready else None
            except (EOFError, OSError):
                ready, answer = True, None
            if answer is None:
                how = self._how_it_ended() if ready else None
                self._discard(kill=True)
                if how is None:
                    raise ScriptError(f"{what} did not finish within {timeout:g} s (it was "
                                      "stopped; TILEWISE_SCRIPT_TIMEOUT sets the limit)")
                raise ScriptError(f"{what} made the process that runs it {how}; this "
                                  "process was not affected")
        status = answer[0]
        if status == "ok":
            return answer[1]
        if status == "input":
            raise InputError(answer[1], answer[2])
        if status == "script":
            raise ScriptError(answer[1], answer[2])
        raise ScriptError(f"{what} raised {answer[1]}\n\nTraceback of the script:\n{answer[2]}",
                          answer[2])

    def _how_it_ended(self):
        self._process.join(STOP_SECONDS)
        code = self._process.exitcode
        if code is None:
            return "stop answering"
        if code < 0:
            try:
                return f"die of {signal.Signals(-code).name}"
            except ValueError:
                return f"die of signal {-code}"
        return f"exit with code {code}"

    def _discard(self, kill=False):
        if self._process is None:
            return
        if kill and self._process.is_alive():
            self._process.kill()
        self._process.join(STOP_SECONDS)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def close(self):
        """Stop the host process (a new one starts on the next call)."""
        with self._lock:
            if self._process is not None and self._process.is_alive():
                try:
                    self._conn.send(None)
                except OSError:
                    pass
                self._process.join(STOP_SECONDS)
            self._discard(kill=True)

    @property
    def pid(self):
        return self._process.pid if self._process is not None else None


_default = ProcessWide(lambda: ScriptHost())


def default_host():
    """The process-wide ScriptHost."""
    return _default.get()


def close_default_host():
    """Stop the process-wide ScriptHost (a later script starts a new one)."""
    _default.close()


atexit.register(close_default_host)

__all__ = ["ScriptHost", "close_default_host", "default_host"]
