"""A process-wide cache of rasters that Tilewise wrote, so the next step skips the decode.

Inside one QGIS process (the desktop, or one ``qgis_process run`` of a model), a raster
written by a Tilewise algorithm stays in shared memory for a while. When the next Tilewise
algorithm opens that same file, it borrows the shared copy instead of reading the file.
An entry is valid only while the file's path, size, mtime, ctime and inode are unchanged,
so a modified file is never served stale. The cache has a byte budget with LRU eviction;
an entry in use by a running engine is never evicted. ``TILEWISE_CACHE=0`` turns the
default cache off, and ``TILEWISE_CACHE_MB`` sets its budget (default: a quarter of RAM).
"""

import atexit
import os
import threading
from collections import OrderedDict

import numpy as np

from ..core.environment import env_choice, env_number
from .raster import borrow_raster, create_raster

DEFAULT_FRACTION = 0.25


def _stamp(path):
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def _current(entry, path):
    """Is ``entry`` (or None) still a copy of the file at ``path``? False when unreadable."""
    try:
        return entry is not None and entry.stamp == _stamp(path)
    except OSError:
        return False


class _Entry:
    def __init__(self, raster, stamp):
        self.raster, self.stamp, self.borrowers = raster, stamp, 0


class RasterCache:
    """LRU cache of written rasters, keyed by real path, within ``budget`` bytes."""

    def __init__(self, budget):
        self.budget = int(budget)
        self.hits = self.misses = 0
        self._entries = OrderedDict()
        self._retired = []  # dropped while borrowed: freed when given back
        self._lock = threading.Lock()

    @property
    def nbytes(self):
        return sum(e.raster.nbytes for e in self._entries.values())

    def put(self, path, raster):
        """Keep a copy of ``raster``, just written to ``path``. Returns True if cached."""
        if raster.nbytes > self.budget:
            return False
        copy = create_raster(raster.profile, source=os.path.realpath(path))
        try:
            np.copyto(copy.writable_array(), raster.array)
        except BaseException:
            copy.release()
            raise
        return self.adopt(path, copy)

    def adopt(self, path, raster):
        """Keep ``raster`` itself (made by ``create_raster``, not an Engine) for ``path``,
        just written; the cache owns it from now on. Returns True if cached."""
        if raster.nbytes > self.budget:
            raster.release()
            return False
        key = os.path.realpath(path)
        try:
            stamp = _stamp(key)
        except BaseException:
            raster.release()
            raise
        with self._lock:
            self._drop(key)
            self._entries[key] = _Entry(raster, stamp)
            self._evict()
        return True

    def holds(self, path):
        """Is a valid copy of ``path`` cached (without borrowing it)?"""
        key = os.path.realpath(path)
        with self._lock:
            return _current(self._entries.get(key), key)

    def borrow(self, path):
        """A read-only SharedRaster of ``path`` if a valid copy is cached, else None."""
        key = os.path.realpath(path)
        with self._lock:
            entry = self._entries.get(key)
            if not _current(entry, key):
                if entry is not None:
                    self._drop(key)
                self.misses += 1
                return None
            self.hits += 1
            self._entries.move_to_end(key)
            entry.borrowers += 1
        return borrow_raster(entry.raster.ref, source=key,
                             on_release=lambda _raster: self._give_back(entry))

    def clear(self):
        """Drop every entry (those in use are freed when given back)."""
        with self._lock:
            for key in list(self._entries):
                self._drop(key)

    def _give_back(self, entry):
        with self._lock:
            entry.borrowers -= 1
            if not entry.borrowers and entry in self._retired:
                self._retired.remove(entry)
                entry.raster.release()
            self._evict()

    def _drop(self, key):
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        if entry.borrowers:  # a running engine's workers may still attach to it by name
            self._retired.append(entry)
        else:
            entry.raster.release()

    def _evict(self):
        total = self.nbytes
        for key in list(self._entries):
            if total <= self.budget:
                break
            entry = self._entries[key]
            if entry.borrowers:
                continue
            total -= entry.raster.nbytes
            self._drop(key)


_default = None
_default_lock = threading.Lock()


def default_cache():
    """The process-wide cache (None when ``TILEWISE_CACHE=0``)."""
    global _default
    if env_choice("TILEWISE_CACHE", "1", ("0", "1")) == "0":
        return None
    with _default_lock:
        if _default is None:
            megabytes = env_number("TILEWISE_CACHE_MB", None, integer=False)
            if megabytes is not None:
                budget = int(megabytes * 2**20)
            else:
                pages = os.sysconf("SC_PHYS_PAGES") if hasattr(os, "sysconf") else 2**21
                budget = int(pages * os.sysconf("SC_PAGE_SIZE") * DEFAULT_FRACTION)
            _default = RasterCache(budget)
            atexit.register(_default.clear)
        return _default


def clear_default_cache():
    """Release what the process-wide cache holds (if it was ever made)."""
    if _default is not None:
        _default.clear()
