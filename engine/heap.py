"""Keep the memory of freed tile temporaries in the heap instead of unmapping it.

glibc's malloc maps every block above its mmap threshold (128 KiB at start) afresh and
unmaps it on free, so each temporary of each tile (a megabyte or more of float64) costs
page faults and kernel zeroing: measured, a tiled 3x3 mean on 6000 x 6000 pixels took
0.70 s cold against 0.38 s once the threshold had risen. glibc raises the threshold itself
(up to 32 MiB) when a mapped block is freed; ``keep_freed_tile_memory`` triggers that rise
once, at engine start, instead of waiting for a large enough free. Nothing is set for good:
it is malloc's own heuristic, and an explicit ``mallopt`` or ``MALLOC_MMAP_THRESHOLD_``
(which turn the heuristic off) are left alone. Elsewhere than glibc it does nothing.
"""

import ctypes
import ctypes.util
import sys

# glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit is 32 MiB; a block freed above it does not
# move the threshold, so stay just below (malloc adds a header and rounds to pages).
TARGET_BYTES = 32 * 2**20 - 2 * 4096

_done = False


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (present in glibc only, not musl)
    except (OSError, AttributeError):
        return None
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    return libc


def keep_freed_tile_memory():
    """Raise glibc's dynamic mmap threshold to about 32 MiB (once per process).

    Returns True when it was done here or before, False where it does not apply.
    """
    global _done
    if _done:
        return True
    libc = _glibc()
    if libc is None:
        return False
    block = libc.malloc(TARGET_BYTES)  # above the threshold: mapped, so its free moves it
    if not block:
        return False
    libc.free(block)
    _done = True
    return True
