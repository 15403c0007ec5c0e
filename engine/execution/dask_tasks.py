"""What a Dask worker runs: a group of tiles, read from the files by the task itself.

No Dask import here: a task is a plain function of picklable arguments (the Filter or
Reducer, its checked parameters, the source paths and profiles, the tiles). It opens the
sources with rasterio, reads the union of its tiles' read windows once, computes every
tile with ``tasks.compute_tile`` (the one implementation the local backends use too) and
returns only the cores, already in the output's dtype, or the reducer's partials.

A failure is returned, not raised, as ``{"error": (message, traceback, tile)}``: the
client turns it into the engine's ``WorkerError`` and Dask does not retry it elsewhere.
"""

import hashlib
import os
import socket
import time
import traceback

import numpy as np

from ..core.filter import Filter
from .tasks import compute_tile, reduce_tile

ENGINE_DIR = os.path.dirname(os.path.abspath(__file__))


def library_versions():
    """Versions of the libraries the filters' results depend on, bit for bit."""
    import importlib
    versions = {}
    for name in ("numpy", "scipy", "rasterio"):
        try:
            versions[name] = importlib.import_module(name).__version__
        except ImportError:
            versions[name] = None
    if versions["rasterio"]:
        import rasterio
        versions["GDAL"] = rasterio.__gdal_version__
    return versions


def _engine_sources():
    """(relative path with "/", bytes) of every ``.py`` file of this engine, sorted: from
    its folder, or from the zip it was imported from (``Client.upload_file``)."""
    if os.path.isdir(ENGINE_DIR):
        found = []
        for folder, dirs, files in os.walk(ENGINE_DIR):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path, "rb") as handle:
                        found.append((os.path.relpath(path, ENGINE_DIR).replace(os.sep, "/"),
                                      handle.read()))
        return sorted(found)
    import zipfile
    loader = globals().get("__loader__")
    archive, prefix = getattr(loader, "archive", None), getattr(loader, "prefix", "")
    if archive is None:
        raise RuntimeError(f"cannot read the engine's sources at {ENGINE_DIR}")
    prefix = prefix.replace(os.sep, "/")
    with zipfile.ZipFile(archive) as zf:
        return sorted((n[len(prefix):], zf.read(n)) for n in zf.namelist()
                      if n.startswith(prefix) and n.endswith(".py") and "__pycache__" not in n)


def engine_digest():
    """SHA-256 of every ``.py`` file of this engine (sorted by relative path): what the
    client and each worker must agree on. Returns ``(digest, engine folder, host,
    library_versions())``."""
    sha = hashlib.sha256()
    for relative, content in _engine_sources():
        sha.update(relative.encode() + b"\0" + content + b"\0")
    return sha.hexdigest(), ENGINE_DIR, socket.gethostname(), library_versions()


def _read_window(path, row0, row1, col0, col1, dtype, count):
    import rasterio
    from rasterio.windows import Window
    out = np.empty((count, row1 - row0, col1 - col0), dtype=dtype)
    with rasterio.Env(GDAL_NUM_THREADS=1), rasterio.open(path) as ds:
        ds.read(out=out, window=Window(col0, row0, col1 - col0, row1 - row0))
    return out


MMAP_THRESHOLD = 32 * 2**20  # glibc's own ceiling for its dynamic mmap threshold
_malloc_done = False


def _undo_nanny_malloc():
    """Big allocations from the heap again, as in a plain Python process.

    A Dask nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_=65536``
    (``distributed.nanny.pre-spawn-environ``). Setting it turns off glibc's dynamic mmap
    threshold, so every temporary over 128 KiB (a tile's arrays) is mmapped, zero-filled
    page by page and unmapped again: median 5x5 at 6000² spent 2.5-2.7 s of system time
    instead of 1.4-1.6 s in one process with that variable. ``mallopt(M_MMAP_THRESHOLD,
    32 MiB)`` brings them back to the heap (32 MiB: where glibc's dynamic threshold stops
    growing); the trim threshold stays the nanny's. Once per process, only where the
    variable is set and the C library is glibc; ``TILEWISE_DASK_MALLOC=0`` leaves it alone.
    """
    global _malloc_done
    if _malloc_done:
        return
    _malloc_done = True
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ or \
            os.environ.get("TILEWISE_DASK_MALLOC", "1") == "0" or "MALLOC_MMAP_THRESHOLD_" in \
            os.environ:
        return
    try:
        import ctypes
        libc = ctypes.CDLL(None)
        libc.mallopt(ctypes.c_int(-3), ctypes.c_int(MMAP_THRESHOLD))  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):  # not glibc: nothing to undo
        pass


def run_tiles(op, params, sources, in_profiles, out_profiles, tiles):
    """Compute ``tiles`` (image coordinates) of ``op`` from the files ``sources``.

    Returns ``{"results": [(tile index, cores or partial), ...], "read": s, "compute": s,
    "cpu": this thread's CPU seconds, "pid": worker pid}`` or ``{"error": (message, traceback, tile)}``.
    """
    tile = None
    _undo_nanny_malloc()
    try:
        started, cpu0 = time.perf_counter(), time.thread_time()
        reducing = not isinstance(op, Filter)
        if reducing:  # reducers see the cores only
            box = (min(t.row0 for t in tiles), max(t.row1 for t in tiles),
                   min(t.col0 for t in tiles), max(t.col1 for t in tiles))
        else:
            box = (min(t.rrow0 for t in tiles), max(t.rrow1 for t in tiles),
                   min(t.rcol0 for t in tiles), max(t.rcol1 for t in tiles))
        arrays = [_read_window(path, *box, p.dtype, p.count)
                  for path, p in zip(sources, in_profiles)]
        read = time.perf_counter() - started
        results = []
        for tile in tiles:
            if reducing:
                r0, r1, c0, c1 = tile.row0, tile.row1, tile.col0, tile.col1
            else:
                r0, r1, c0, c1 = tile.rrow0, tile.rrow1, tile.rcol0, tile.rcol1
            rows, cols = slice(r0 - box[0], r1 - box[0]), slice(c0 - box[2], c1 - box[2])
            buffers = [a[:, rows, cols] for a in arrays]
            for b in buffers:
                b.flags.writeable = False  # filters get read-only tiles, as everywhere
            profiles = [p.window(r0, c0, r1 - r0, c1 - c0) for p in in_profiles]
            if reducing:
                results.append((tile.index, reduce_tile(op, params, buffers, profiles)))
                continue
            cores = compute_tile(op, params, buffers, profiles, tile, out_profiles)
            typed = []
            for profile, core in zip(out_profiles, cores):
                out = np.empty(core.shape, dtype=profile.dtype)
                np.copyto(out, core, casting="same_kind")  # as the local copy into the output
                typed.append(out)
            results.append((tile.index, typed))
        del arrays
        return {"results": results, "read": read,
                "compute": time.perf_counter() - started - read,
                "cpu": time.thread_time() - cpu0, "pid": os.getpid()}
    except Exception as exc:  # noqa: BLE001 - sent back to the client as a WorkerError
        message = f"{type(exc).__name__}: {exc}"
        return {"error": (message, traceback.format_exc(), tile if tile is not None
                          else (tiles[0] if tiles else None))}


__all__ = ["engine_digest", "library_versions", "run_tiles"]
