"""The worker process: receive tile jobs, run them, answer with small messages.

Workers import only the engine. They never print: console output, warnings and log
records are captured and sent back with each answer. They ignore SIGINT (the parent
decides), and exit when the parent goes away.
"""

import importlib
import io
import logging
import os
import pickle
import signal
import sys
import threading
import time
import traceback

from .heap import give_back_free_memory, keep_freed_tile_memory
from .process_role import mark_worker_process
from .tasks import Attachments, TileJob, run_job

PARENT_CHECK_SECONDS = 0.5


class _Capture(logging.Handler):
    """Collects log records and console writes of the current job."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))

    def drain(self):
        lines, self.lines = self.lines, []
        return lines


class _ConsoleToLog(io.TextIOBase):
    def __init__(self, capture, stream_name):
        self._capture, self._name, self._partial = capture, stream_name, ""

    def writable(self):
        return True

    def write(self, text):
        lines = (self._partial + text).split("\n")
        self._partial = lines.pop()
        self._capture.lines.extend(f"{self._name}: {line}" for line in lines if line.strip())
        return len(text)


def _silence_console(capture):
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    os.close(devnull)
    sys.stdout = _ConsoleToLog(capture, "stdout")
    sys.stderr = _ConsoleToLog(capture, "stderr")


def _exit_when_orphaned(parent_pid):
    def watch():
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)
    threading.Thread(target=watch, name="tilewise-parent-watch", daemon=True).start()


def main(conn, parent_pid, preload=()):
    """Worker loop. Messages in: ``("run", run_id, pickled context)`` (what the tiles of a
    run share), ``("tile", job_id, run_id, tile)``, ``("forget", names)`` (unmap released
    segments), or None to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    mark_worker_process()  # user scripts may run here (never in the parent)
    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    _silence_console(capture)
    _exit_when_orphaned(parent_pid)
    keep_freed_tile_memory()
    for module in preload:  # what the coming runs need (GDAL for FillNodata), while booting
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001  (the run that needs it reports the error)
            pass
    maps = Attachments()
    run_id, context = None, None
    try:
        conn.send(("ready", os.getpid()))  # imports done: the parent may count on this worker
    except OSError:
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message is None:
            break
        if message[0] == "forget":
            maps.forget(message[1])
            give_back_free_memory()  # the run is over: tile temporaries no longer needed
            continue
        if message[0] == "run":
            run_id, context = message[1], message[2]
            continue
        _, job_id, tile_run, tile = message
        try:
            if tile_run != run_id:
                raise RuntimeError(f"tile of run {tile_run} arrived without its context")
            if isinstance(context, bytes):  # unpickle once per run; errors reach every tile
                context = pickle.loads(context)
            op, params, inputs, outputs, out_row = context
            result = run_job(TileJob(op, params, inputs, outputs, tile, out_row), maps.view)
            answer = ("ok", job_id, result, capture.drain())
        except BaseException as exc:  # report everything; the parent decides
            answer = ("error", job_id, f"{type(exc).__name__}: {exc}", traceback.format_exc(),
                      capture.drain())
        try:
            conn.send(answer)
        except (OSError, pickle.PicklingError) as exc:
            try:
                conn.send(("error", job_id, f"cannot send the result back: {exc}", "",
                           capture.drain()))
            except OSError:
                break
