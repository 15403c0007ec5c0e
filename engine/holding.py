"""What an Engine holds: its shared rasters (open, create, write, release) and the
bookkeeping behind them (which are live, their bytes, the workers told to forget them)."""

import os

from .core.docstrings import docfiller
from .core.errors import InputError, TilewiseError
from .execution.exclusive import exclusive
from .io.reading import read_into, read_profile
from .io.writing import refuse_writing_over, write_raster
from .store.raster import SharedRaster, create_raster, view_of


@docfiller
class Holding:
    """The rasters half of ``Engine`` (its base class): every SharedRaster it made or
    borrowed, keyed by segment name, released on ``Engine.close``."""

    @exclusive
    def open(self, path):
        """Read every band of the raster at ``path`` into shared memory.

        Parameters
        ----------
        path : str or os.PathLike
            A raster file or GDAL source. With a cache holding a valid copy of the file,
            that copy is borrowed instead (read-only).

        Returns
        -------
        SharedRaster

        Raises
        ------
        InputError
            The file is missing, not a raster, damaged or truncated (a failed block read
            is an error, never zeros).
        """
        self._check_open()
        if self.cache is not None and os.path.exists(path):
            raster = self.cache.borrow(path)
            if raster is not None:
                self._track(raster)
                self.say(f"{path}: taken from the shared-memory cache, not read again")
                return raster
        profile = read_profile(path)
        path = os.fspath(path)
        source = os.path.abspath(path) if os.path.exists(path) else path  # or a GDAL source
        raster = self.create(profile, source=source)  # starts workers
        try:
            read_into(path, raster.writable_array())
        except BaseException:
            raster.release()
            raise
        return raster

    @exclusive
    def create(self, profile, source=None):
        """A new zero-filled SharedRaster of ``profile`` (a Profile)."""
        self._check_open()
        self.backends.start_for(profile.height * profile.width)  # boot while it is filled
        return self._track(create_raster(profile, source=source))

    @exclusive
    def prepare(self, *ops):
        """Start the worker processes early if any of ``ops`` (Filters, Reducers or Pipelines)
        will need them: at the first raster opened or created that is large enough to run in
        parallel (at once if one is held already), so that they boot while it is read.

        Optional: a run that needs them starts them anyway, and waits.
        """
        self._check_open()
        if self.backends.expect(ops):
            for raster in self._rasters.values():
                self.backends.start_for(raster.profile.height * raster.profile.width)

    def _track(self, raster):
        raster.on_release(self._forget)
        self._rasters[raster.ref.segment.name] = raster
        self._peak_bytes = max(self._peak_bytes, self.shared_bytes)
        return raster

    def disown(self, raster):
        """Hand ``raster``, made by this Engine, to a new owner (the cache): this Engine no
        longer releases it, and its workers unmap it."""
        name = raster.ref.segment.name
        if self._rasters.pop(name, None) is not raster:
            raise TilewiseError(f"{raster!r} is not this Engine's")
        raster.remove_on_release(self._forget)
        self.backends.forget([name])

    def release(self, *rasters):
        """Free rasters that are no longer needed."""
        for raster in rasters:
            raster.release()

    @exclusive
    def write(self, raster, path, options=(), driver="GTiff"):
        """Write ``raster`` to ``path`` through a temporary file renamed into place.

        Parameters
        ----------
        raster : SharedRaster
        path : str or os.PathLike
            Not an input of this Engine's rasters.
        %(options)s
        %(driver)s

        Returns
        -------
        str
            The absolute path written.

        Raises
        ------
        InputError
            Bad options, an unwritable folder, no space left, or ``path`` is an input.
        """
        array = raster.array
        target = os.path.abspath(os.fspath(path))
        refuse_writing_over([other.source for other in self._rasters.values()], target)
        written = write_raster(array, raster.profile, target, options, driver)
        if self.cache is not None:
            self.cache.put(written, raster)
        return written

    @property
    def shared_bytes(self):
        """Bytes of shared memory held by live rasters."""
        return sum(r.nbytes for r in self._rasters.values())

    @property
    def peak_shared_bytes(self):
        return self._peak_bytes

    def _forget(self, raster):
        name = raster._segment.name
        self._rasters.pop(name, None)
        self.backends.forget([name])

    def _open_view(self, ref, writable):
        raster = self._rasters.get(ref.segment.name)
        if raster is None:
            raise TilewiseError(f"raster {ref.segment.name} is not held by this engine")
        return view_of(raster, writable, ref)

    def _check_open(self):
        if self._closed:
            raise TilewiseError("this Engine is closed")

    def _inputs(self, inputs):
        """``inputs`` as a list of this Engine's live SharedRasters (InputError if not)."""
        self._check_open()
        if isinstance(inputs, SharedRaster):
            inputs = [inputs]
        inputs = list(inputs)
        for i, raster in enumerate(inputs):
            if not isinstance(raster, SharedRaster):
                raise InputError("inputs", f"input {i} is a {type(raster).__name__}, "
                                 "not a SharedRaster (open it with Engine.open)")
            raster.ref  # raises ReleasedError if released
            if raster.ref.segment.name not in self._rasters:
                raise InputError("inputs", f"input {i} belongs to another Engine")
        return inputs
