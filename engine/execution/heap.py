"""Keep the memory of freed tile temporaries in the heap instead of unmapping it.

glibc's malloc maps every block above its mmap threshold (128 KiB at start) afresh and
unmaps it on free, so each temporary of each tile (a megabyte or more of float64) costs
page faults and kernel zeroing: measured, a tiled 3x3 mean on 6000 x 6000 pixels took
0.70 s cold against 0.38 s once the threshold had risen. glibc raises the threshold itself
(up to 32 MiB) when a mapped block is freed; ``keep_freed_tile_memory`` triggers that rise
once, at engine start, instead of waiting for a large enough free. Nothing is set for good:
it is malloc's own heuristic, and an explicit ``mallopt`` or ``MALLOC_MMAP_THRESHOLD_``
(which turn the heuristic off) are left alone. The price is up to 64 MiB of freed memory
kept per heap between tiles; ``give_back_free_memory`` returns it when a run is over (an
Engine closing, a worker told to forget its segments). Elsewhere than glibc it does nothing.
"""

import ctypes
import functools
import sys

# glibc's DEFAULT_MMAP_THRESHOLD_MAX on 64-bit is 32 MiB; a block freed above it does not
# move the threshold, so stay just below (malloc adds a header and rounds to pages).
TARGET_BYTES = 32 * 2**20 - 2 * 4096

_done = False


@functools.lru_cache(maxsize=None)
def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")  # glibc's name; musl has no gnu_get_libc_version
        libc.gnu_get_libc_version  # noqa: B018  (present in glibc only, not musl)
    except (OSError, AttributeError):
        return None
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
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


def give_back_free_memory():
    """Return the heap's free pages to the system (glibc's ``malloc_trim``), between runs."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)
