"""Named shared-memory segments: create in the parent, attach in workers, never leak.

A segment is POSIX shared memory (``/dev/shm`` on Linux) when there is room for it,
else a memory-mapped file in a private temporary folder. The parent registers POSIX
segments with multiprocessing's resource tracker, which unlinks them if the parent is
killed. Workers attach without registering (cpython#82300: a tracker would unlink on
exit).

Ownership survives PID namespaces. Names carry the owner's token, random per process
(``tw<token>_<random>``, 21 characters; macOS allows 31). Before its first segment, the
owner creates the lock file ``tw<token>.lock`` next to its segments and holds an
``flock`` on it for as long as it lives; the kernel drops the lock when the process dies,
however it dies. The sweep at start-up removes the segments whose owner's lock can be
taken, and only those: a pid would name another process, or none, in another PID
namespace sharing ``/dev/shm`` (containers run with ``--ipc=host``). Names without a lock
file (earlier versions used the pid as the token) are judged by the pid.
"""

import atexit
import errno
import mmap
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass

from ..core.errors import SharedMemoryError

try:
    import fcntl
except ImportError:  # Windows: no flock; owners are then judged by their pid
    fcntl = None

PREFIX = "tw"
_NAME_RE = re.compile(r"^tw([0-9a-f]+)_[0-9a-f]{10}$")
LOCK_SUFFIX = ".lock"
_POSIX = os.name == "posix"
SHM_DIR = "/dev/shm"  # where POSIX segments are visible on Linux (for space checks and sweeps)

if _POSIX:
    import _posixshmem
    from multiprocessing import resource_tracker


def file_segment_dir():
    """Folder of file-backed segments (private to this user)."""
    base = os.environ.get("TILEWISE_TMPDIR") or tempfile.gettempdir()
    path = os.path.join(base, f"tilewise-shm-{os.getuid() if _POSIX else 'user'}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        where = ("TILEWISE_TMPDIR" if os.environ.get("TILEWISE_TMPDIR")
                 else "the temporary folder")
        raise SharedMemoryError(f"cannot make the folder for file-backed shared rasters "
                                f"{path} ({where}): {exc.strerror or exc}") from None
    return path


@dataclass(frozen=True)
class SegmentRef:
    """What a worker needs to attach to a segment (small and picklable)."""

    name: str
    size: int
    kind: str  # "shm" or "file"
    path: str = None


_owner = {"pid": None, "token": None, "locks": []}  # this process's token and held locks


def owner_token():
    """This process's owner token, with its lock taken (a forked child gets its own)."""
    if _owner["pid"] != os.getpid():
        for fd, _ in _owner["locks"]:  # inherited from the parent: not ours to hold
            try:
                os.close(fd)
            except OSError:
                pass
        # 8 hex digits from 0x80000000 on: never a pid (pid_max is at most 2**22)
        _owner.update(pid=os.getpid(), token=f"{secrets.randbits(31) | 1 << 31:08x}", locks=[])
        for folder in _lock_folders():
            path = os.path.join(folder, PREFIX + _owner["token"] + LOCK_SUFFIX)
            fd = _take_lock(path, create=True)
            if fd is not None:
                _owner["locks"].append((fd, path))
        if not _owner["locks"]:  # nowhere to keep a lock: fall back to the pid
            _owner["token"] = f"{os.getpid():x}"
    return _owner["token"]


def _drop_locks():
    """At exit: remove this process's lock files if no segment of it is left."""
    if _owner["pid"] != os.getpid() or not _owner["locks"]:
        return
    if list_segments(os.getpid()):
        return  # the sweep of a later process removes them with the segments
    for fd, path in _owner["locks"]:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)
    _owner["locks"] = []


def _lock_folders():
    folders = [SHM_DIR] if _POSIX and os.path.isdir(SHM_DIR) else []
    try:
        folders.append(file_segment_dir())
    except SharedMemoryError:
        pass
    return folders


def _take_lock(path, create=False):
    """An fd holding an exclusive flock on ``path``, or None (held elsewhere, or no file)."""
    if fcntl is None:
        return None
    flags = os.O_RDWR | (os.O_CREAT if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def owner_alive(token, unknown=False):
    """Is the process that owns ``token`` alive, in whatever PID namespace it runs?

    A lock token whose lock file is on none of this machine's lock folders gives
    ``unknown`` (its owner may run on another machine sharing the folder); a pid token
    (names from versions without lock files) is judged by the pid.
    """
    if token == _owner["token"] and _owner["pid"] == os.getpid():
        return True
    lock_files = [os.path.join(f, PREFIX + token + LOCK_SUFFIX) for f in _lock_folders()]
    present = [path for path in lock_files if os.path.exists(path)]
    if not present:
        try:
            number = int(token, 16)
        except (ValueError, OverflowError):
            return unknown
        return unknown if number >= 1 << 31 else pid_alive(number)
    for path in present:
        fd = _take_lock(path)
        if fd is None:
            return True  # the owner holds it
        try:
            os.unlink(path)  # we hold it now: the owner is gone
        except OSError:
            pass
        os.close(fd)
    return False


def new_name():
    return f"{PREFIX}{owner_token()}_{secrets.token_hex(5)}"


def free_bytes(path):
    """Bytes available to this user under ``path``, or None if unknown."""
    try:
        st = os.statvfs(path)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


class Segment:
    """A mapped segment. ``create`` in the owner, ``attach`` elsewhere."""

    def __init__(self, ref, mm, owner):
        self.ref = ref
        self._mmap = mm
        self._owner = owner
        self._unlinked = not owner

    @property
    def name(self):
        return self.ref.name

    @property
    def buffer(self):
        return self._mmap

    @classmethod
    def create(cls, size, prefer_shm=True):
        """Allocate ``size`` bytes; fall back to a file-backed map when /dev/shm is too small."""
        size = max(int(size), 1)
        if prefer_shm and _POSIX:
            free = free_bytes(SHM_DIR) if os.path.isdir(SHM_DIR) else None
            if free is None or free >= size:
                try:
                    return cls._create_shm(size)
                except OSError as exc:
                    # full, or not ours to write (a read-only or foreign /dev/shm): use a file
                    if exc.errno not in (errno.ENOSPC, errno.ENOMEM, errno.EACCES, errno.EPERM,
                                         errno.EROFS):
                        raise
        return cls._create_file(size)

    @classmethod
    def _create_shm(cls, size):
        name = new_name()
        fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
        try:
            try:
                _reserve(fd, size)
                mm = mmap.mmap(fd, size)
            except BaseException:
                _posixshmem.shm_unlink("/" + name)
                raise
        finally:
            os.close(fd)
        resource_tracker.register("/" + name, "shared_memory")
        return cls(SegmentRef(name, size, "shm"), mm, owner=True)

    @classmethod
    def _create_file(cls, size):
        folder = file_segment_dir()
        free = free_bytes(folder)
        if free is not None and free < size:
            raise SharedMemoryError(
                f"not enough memory for a {_mib(size)} raster: {_mib(free_bytes(SHM_DIR) or 0)} "
                f"free in {SHM_DIR} and {_mib(free)} free in {folder} (set TILEWISE_TMPDIR "
                "to a larger folder, or release rasters you no longer need)")
        name = new_name()
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            try:
                _reserve(fd, size)
                mm = mmap.mmap(fd, size)
            except BaseException:
                os.unlink(path)
                raise
        finally:
            os.close(fd)
        return cls(SegmentRef(name, size, "file", path), mm, owner=True)

    @classmethod
    def attach(cls, ref, writable):
        """Map an existing segment; read-only maps make numpy views truly read-only."""
        flags = os.O_RDWR if writable else os.O_RDONLY
        if ref.kind == "shm":
            fd = _posixshmem.shm_open("/" + ref.name, flags, mode=0o600)
        else:
            fd = os.open(ref.path, flags)
        try:
            access = mmap.ACCESS_WRITE if writable else mmap.ACCESS_READ
            mm = mmap.mmap(fd, ref.size, access=access)
        finally:
            os.close(fd)
        return cls(ref, mm, owner=False)

    def unlink(self):
        """Remove the name (owner only); memory is freed once every map is closed."""
        if self._unlinked:
            return
        self._unlinked = True
        if self.ref.kind == "shm":
            try:
                _posixshmem.shm_unlink("/" + self.ref.name)
            except FileNotFoundError:
                pass
            resource_tracker.unregister("/" + self.ref.name, "shared_memory")
        else:
            try:
                os.unlink(self.ref.path)
            except FileNotFoundError:
                pass

    def close(self):
        """Unmap. Returns False when numpy views still use the map (it then dies with them)."""
        try:
            self._mmap.close()
        except BufferError:
            return False
        return True


def _reserve(fd, size):
    """Give the segment its size, reserving the pages where the OS allows it.

    Reserving turns a later SIGBUS on a full tmpfs into an ENOSPC here.
    """
    if hasattr(os, "posix_fallocate") and sys.platform.startswith("linux"):
        try:
            os.posix_fallocate(fd, 0, size)
            return
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
    os.ftruncate(fd, size)


def _mib(nbytes):
    return f"{nbytes / 2**20:.1f} MiB"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_orphans():
    """Remove segments whose owning process is gone (see the module docstring). Returns
    the names removed."""
    removed = []
    alive = {}
    for folder, kind, name, token in _entries():
        if token is None:
            if name.startswith(PREFIX) and name.endswith(LOCK_SUFFIX):
                owner_alive(name[len(PREFIX):-len(LOCK_SUFFIX)])  # removes it if free
            continue
        if token not in alive:
            alive[token] = owner_alive(token)
        if alive[token]:
            continue
        try:
            if kind == "shm" and _POSIX:
                _posixshmem.shm_unlink("/" + name)
            else:
                os.unlink(os.path.join(folder, name))
            removed.append(name)
        except OSError:
            pass
    return removed


def _entries():
    """(folder, kind, name, owner token or None if not a segment) of every entry in the
    places segments live in."""
    for folder, kind in _segment_folders():
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            match = _NAME_RE.match(name)
            yield folder, kind, name, match.group(1) if match else None


def _segment_folders():
    """(folder, kind) of the places segments live in."""
    folders = [(SHM_DIR, "shm")]
    try:
        folders.append((file_segment_dir(), "file"))
    except SharedMemoryError:
        pass
    return folders


def list_segments(pid=None):
    """Names of Tilewise segments present now (of ``pid`` only, if given: this process's
    own, or, for another pid, names from versions whose token was the pid)."""
    token = None
    if pid is not None:
        token = owner_token() if pid == os.getpid() else f"{pid:x}"
    return sorted(name for _, _, name, owner in _entries()
                  if owner is not None and (token is None or owner == token))


atexit.register(_drop_locks)

__all__ = ["Segment", "SegmentRef", "free_bytes", "list_segments", "owner_alive", "owner_token",
           "sweep_orphans"]
