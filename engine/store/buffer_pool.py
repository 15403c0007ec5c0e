"""Buffers reused strip after strip, so that their pages are mapped once per run.

A streamed run reads, computes and writes strip by strip. Each strip's rasters are the
first rows of buffers made once for the tallest strip and handed back when the strip is
done: a fresh shared segment per strip would cost its page faults again (measured 2.5 us
a page, 0.3 s of kernel time per 482 MiB, more than reading those bytes from the page
cache). A reused buffer keeps the last strip's pixels: a strip overwrites every row it
reads or computes, and uses no other.
"""

from .raster import RasterWindow


class BufferPool:
    """Shared rasters of ``profile`` and up to ``rows`` rows, made by ``create(profile)``
    (an Engine's, so that its workers see them) when none is free, reused after ``give``."""

    def __init__(self, create, profile, rows):
        self._create = create
        self._profile = profile.window(0, 0, rows, profile.width)
        self._free, self._made = [], []

    def take(self, profile):
        """A RasterWindow of ``profile`` (this pool's bands and columns, as many rows or
        fewer) over the first rows of a free buffer."""
        if not self._free:
            self._made.append(self._create(self._profile))
            self._free.append(self._made[-1])
        return RasterWindow(self._free.pop(), 0, profile)

    def give(self, window):
        """``window`` (from ``take``) is done with: its buffer serves the next strip."""
        self._free.append(window.raster)

    def release(self):
        """Free every buffer made (windows still held must no longer be used)."""
        for raster in self._made:
            raster.release()
        self._made, self._free = [], []
