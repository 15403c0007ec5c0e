"""Shared rasters: a profile plus pixels in one shared segment, shape (bands, rows, cols)."""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from ..core.errors import ReleasedError
from ..core.profile import Profile
from .segments import Segment, SegmentRef


@dataclass(frozen=True)
class RasterRef:
    """A picklable pointer to a shared raster, for workers."""

    segment: SegmentRef
    profile: Profile

    def view(self, buffer, writable):
        # frombuffer holds a buffer export, so the map cannot be closed under a live view
        # (np.ndarray(buffer=...) does not, and a closed map under a view segfaults).
        count = self.profile.count * self.profile.height * self.profile.width
        array = np.frombuffer(buffer, dtype=self.profile.dtype, count=count)
        array = array.reshape(self.profile.shape)
        if not writable:
            array.flags.writeable = False
        return array


class SharedRaster:
    """A raster held once in shared memory.

    ``array`` is a read-only view; the engine writes through its own views.
    Any use after ``release()`` raises ``ReleasedError``.
    """

    def __init__(self, segment, profile, source=None, on_release=None, writable=True):
        self._segment = segment
        self.profile = profile
        self.source = source
        self._on_release = [on_release] if on_release else []
        self._view = RasterRef(segment.ref, profile).view(segment.buffer, writable=writable)

    def __repr__(self):
        state = "released" if self.released else self._segment.name
        p = self.profile
        return f"<SharedRaster {p.count}x{p.height}x{p.width} {p.dtype} {state}>"

    @property
    def released(self):
        return self._view is None

    @property
    def ref(self):
        self._check()
        return RasterRef(self._segment.ref, self.profile)

    @property
    def array(self):
        """Read-only numpy view (bands, rows, cols)."""
        self._check()
        view = self._view.view()
        view.flags.writeable = False
        return view

    def writable_array(self):
        """Writable numpy view, for code that fills the raster."""
        self._check()
        return self._view

    @property
    def shape(self):
        return self.profile.shape

    @property
    def dtype(self):
        return np.dtype(self.profile.dtype)

    @property
    def nbytes(self):
        return self.profile.nbytes

    def on_release(self, callback):
        """Call ``callback(raster)`` once the raster is released."""
        self._on_release.append(callback)

    def release(self):
        """Free the shared memory. Views still held elsewhere keep their pages alive, safely."""
        if self.released:
            return
        self._view = None
        self._segment.unlink()
        self._segment.close()
        for callback in self._on_release:
            callback(self)

    def _check(self):
        if self._view is None:
            raise ReleasedError(f"{self!r} was released and can no longer be used")


def borrow_raster(ref, source=None, on_release=None):
    """A read-only handle on a raster someone else owns; releasing it only unmaps."""
    return SharedRaster(Segment.attach(ref.segment, writable=False), ref.profile, source=source,
                        on_release=on_release, writable=False)


def create_raster(profile, source=None, on_release=None):
    """A new zero-filled shared raster for ``profile``."""
    segment = Segment.create(profile.nbytes)
    return SharedRaster(segment, profile, source=source, on_release=on_release)


@contextmanager
def view_of(raster, writable):
    """``raster``'s array (writable or read-only) as a context, as a worker's view is."""
    yield raster.writable_array() if writable else raster.array
