"""Writing rasters: by windows of rows into a temporary file renamed into place, so that
a failure or a cancel leaves nothing half-written (``RasterWriter``, ``write_raster``)."""

import os
import re
import uuid

import numpy as np

from ..core.errors import InputError
from ..store.segments import owner_alive, owner_token
from .gdal_errors import gdal_failures
from .gdal_lock import GDAL_IO
from .options import adapt_options, check_options, option_dict
from .reading import _rasterio


def refuse_writing_over(sources, target):
    """InputError when ``target`` is one of the files ``sources`` (inputs of the run)."""
    target = os.path.abspath(os.fspath(target))
    if not os.path.exists(target):
        return
    for source in sources:
        if source and os.path.exists(source) and os.path.samefile(source, target):
            raise InputError("output", f"{target} is an input of this run; "
                             "write to another path")


def write_raster(array, profile, path, options=(), driver="GTiff"):
    """Write (bands, rows, cols) ``array`` to ``path`` through a temporary file renamed into place.

    A failure leaves no file at ``path`` and any file already there untouched. When the
    options ask for compression and set no NUM_THREADS, all cores compress.
    """
    with RasterWriter(path, profile, options, driver) as writer:
        writer.write(np.asarray(array), 0)
    return writer.path


TILED_FROM_PIXELS = 2**22  # GeoTIFF outputs of 4 Mpx or more are tiled unless told otherwise
#: creation options a GeoTIFF does not keep: a file reopened to flush would lose them
_CREATION_ONLY = re.compile(r"LEVEL|QUALITY|MAX_Z_ERROR|^JXL_|^LERC_")


def block_rows_for(profile, options=(), driver="GTiff"):
    """Rows of the blocks ``RasterWriter`` gives a file of ``profile`` with these options:
    BLOCKYSIZE (BLOCKSIZE for COG) where given, else GDAL's tiles (256 rows; COG 512),
    fewer for a short raster. For sizing GDAL's block cache, not checked here: the writer
    checks the options."""
    creation = option_dict(options)
    key, default = ("BLOCKSIZE", 512) if driver == "COG" else ("BLOCKYSIZE", 256)
    try:
        rows = int(creation.get(key, default))
    except ValueError:
        rows = default
    return max(1, min(profile.height, rows))


class RasterWriter:
    """A raster file written by windows of rows, then renamed into place atomically.

    ``write(array, row0)`` writes (bands, rows, cols) ``array`` at row ``row0``, from any
    one thread at a time. Leaving the ``with`` block normally closes and renames the file;
    an exception (or ``abort()``) removes it, leaving any older file at ``path`` untouched.
    COG cannot be written by windows: the rows go to a temporary tiled GeoTIFF, copied to
    a COG at the end.
    """

    def __init__(self, path, profile, options=(), driver="GTiff"):
        self.path = os.path.abspath(os.fspath(path))
        self.profile = profile
        self.driver = driver
        folder = self.folder = os.path.dirname(self.path)
        if not os.path.isdir(folder):
            raise InputError("output", f"folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError("output", f"folder {folder} is not writable")
        if os.path.isdir(self.path):
            raise InputError("output", f"{self.path} is a folder")
        creation = adapt_options(check_options(options, driver), profile.dtype)
        if "COMPRESS" in creation and creation["COMPRESS"].upper() != "NONE":
            creation.setdefault("NUM_THREADS", "ALL_CPUS")
        if driver == "GTiff":
            creation.setdefault("BIGTIFF", "IF_SAFER")
            if profile.height * profile.width >= TILED_FROM_PIXELS and \
                    not any(k in creation for k in ("TILED", "BLOCKYSIZE", "BLOCKXSIZE")):
                creation["TILED"] = "YES"  # large rasters: tiled, read fast by windows
        self.creation = creation
        _check_room(folder, profile, creation)
        _remove_stale_temporaries(folder)
        # unique names that GDAL creates itself, so the file gets the usual permissions
        # (mkstemp's 0600 would survive the rename)
        stem = os.path.join(folder, f".tilewise-{owner_token()}-{uuid.uuid4().hex}")
        self._tmp = stem + (os.path.splitext(self.path)[1] or ".tif")
        self._rows_file = stem + "-rows.tif" if driver == "COG" else self._tmp
        self._dst = None
        self._failures = None
        self._scope = None
        self._carry = None  # (row0, rows) written but not yet a whole row of blocks
        self._flushing = False

    def __enter__(self):
        with GDAL_IO:
            return self._open()

    def _open(self):
        rasterio, errors = _rasterio()
        from contextlib import ExitStack
        profile = self.profile
        creation = self.creation if self.driver != "COG" else {"TILED": "YES",
                                                                "BIGTIFF": "IF_SAFER"}
        self._scope = ExitStack()
        try:
            self._failures = self._scope.enter_context(gdal_failures())
            self._dst = rasterio.open(
                self._rows_file, "w", driver="GTiff", width=profile.width,
                height=profile.height, count=profile.count, dtype=profile.dtype,
                crs=(rasterio.crs.CRS.from_wkt(profile.crs_wkt) if profile.crs_wkt else None),
                transform=rasterio.Affine(*profile.transform), nodata=profile.nodata,
                **creation)
            for band, text in enumerate(profile.descriptions, start=1):
                if text:
                    self._dst.set_band_description(band, text)
            self._block_rows = self._dst.block_shapes[0][0]
            compress = creation.get("COMPRESS", "NONE").upper()
            # worth flushing: compressed, large (small files stay byte for byte as a
            # whole-array write makes them) and more than one row of blocks
            self._flushing = (compress != "NONE" and self._block_rows > 1
                              and profile.height * profile.width >= TILED_FROM_PIXELS
                              and profile.height > self._block_rows
                              # a reopened file would compress at GDAL's default level
                              and not any(_CREATION_ONLY.search(key) for key in creation))
            self._open_options = ({"NUM_THREADS": creation["NUM_THREADS"]}
                                  if "NUM_THREADS" in creation else {})
        except BaseException as exc:
            self._discard()
            self._raise(exc)
        return self

    def write(self, array, row0):
        """Write ``array`` (bands, rows, cols) at rows ``row0:row0 + rows``.

        Rows written in order, from the top, are flushed to the file a whole row of
        blocks at a time: compressed blocks are then compressed here, as the rows come,
        not all at the end (the rows of an unfinished row of blocks wait for the next
        call, copied).
        """
        with GDAL_IO:
            self._write(array, row0)

    def _write(self, array, row0):
        try:
            if self._carry is not None and self._carry[0] + self._carry[1].shape[1] == row0:
                row0, array = self._carry[0], np.concatenate([self._carry[1], array], axis=1)
            elif self._carry is not None:  # out of order: write what waited as it is
                self._write_rows(*self._carry)
            self._carry = None
            rows = array.shape[1]
            if self._flushing and row0 + rows < self.profile.height:
                whole = (row0 + rows) // self._block_rows * self._block_rows - row0
                if whole <= 0:
                    self._carry = (row0, np.array(array))
                    return
                if whole < rows:
                    self._carry = (row0 + whole, np.array(array[:, whole:]))
                    array, rows = array[:, :whole], whole
            self._write_rows(row0, array)
            if self._flushing:
                self._flush()
        except BaseException as exc:
            self.abort()
            self._raise(exc)

    def _write_rows(self, row0, array):
        from rasterio.windows import Window
        self._dst.write(array, window=Window(0, row0, self.profile.width, array.shape[1]))

    def _flush(self):
        """Close and reopen the file: GDAL writes (and compresses, on NUM_THREADS threads)
        the blocks it holds."""
        rasterio, _ = _rasterio()
        with gdal_failures() as failures, rasterio.Env():
            self._dst.close()
            self._dst = None
            self._dst = rasterio.open(self._rows_file, "r+", **self._open_options)
        self._failures.extend(failures)

    def __exit__(self, kind, value, tb):
        if kind is not None:
            self.abort()
            return False
        self.commit()
        return False

    def commit(self):
        """Close the file and rename it into place (once; later calls do nothing)."""
        if self._scope is None:
            return
        with GDAL_IO:
            self._commit()

    def _commit(self):
        rasterio, _ = _rasterio()
        try:
            if self._carry is not None:
                carry, self._carry = self._carry, None
                self._write_rows(*carry)
            with rasterio.Env():  # GDAL's errors while flushing reach the failure log
                self._dst.close()
            self._dst = None
            if self.driver == "COG":
                from rasterio.shutil import copy
                copy(self._rows_file, self._tmp, driver="COG", **self.creation)
                os.unlink(self._rows_file)
            if self._failures:
                # GDAL reports errors while flushing at close without raising them
                raise InputError("output", _write_failure(
                    self.path, self.folder, self.profile,
                    self._failures[-1].replace(self._tmp, self.path)))
            os.replace(self._tmp, self.path)
            if os.path.exists(self._tmp + ".aux.xml"):
                os.replace(self._tmp + ".aux.xml", self.path + ".aux.xml")
        except BaseException as exc:
            self.abort()
            self._raise(exc)
        finally:
            self._close_scope()

    def abort(self):
        """Close and remove the temporary file(s): nothing is left at or beside ``path``."""
        self._discard()
        self._close_scope()

    def _discard(self):
        if self._dst is not None:
            try:
                with GDAL_IO:
                    self._dst.close()
            except Exception:  # noqa: BLE001 - the file is removed anyway
                pass
            self._dst = None
        for leftover in {self._tmp, self._tmp + ".aux.xml", self._rows_file,
                         self._rows_file + ".aux.xml"}:
            if os.path.exists(leftover):
                os.unlink(leftover)

    def _close_scope(self):
        if self._scope is not None:
            scope, self._scope = self._scope, None
            scope.close()

    def _raise(self, exc):
        _, errors = _rasterio()
        if isinstance(exc, errors + (OSError,)):
            raise InputError("output", _write_failure(
                self.path, self.folder, self.profile,
                str(exc).replace(self._tmp, self.path).replace(self._rows_file, self.path))
            ) from None
        raise exc


def _write_failure(path, folder, profile, reason):
    """The message for a failed write; says so when the disk is (nearly) full."""
    try:
        st = os.statvfs(folder)
        free = st.f_bavail * st.f_frsize
    except (OSError, AttributeError):
        free = None
    if free is not None and free < profile.nbytes:
        return (f"could not write {path}: no space left in {folder} ({free / 2**20:.1f} MiB "
                f"free, the raster is {profile.nbytes / 2**20:.1f} MiB uncompressed; "
                f"GDAL said: {reason})")
    return f"could not write {path}: {reason}"


def _remove_stale_temporaries(folder):
    """Delete temporary files that writers killed mid-write left in ``folder``."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(".tilewise-")]
    except OSError:
        return
    for name in names:
        owner = name[len(".tilewise-"):].split("-", 1)[0]
        try:
            if not owner_alive(owner, unknown=True):  # another machine's: kept
                os.unlink(os.path.join(folder, name))
        except (ValueError, OSError):
            pass


def _check_room(folder, profile, creation):
    """Fail early when an uncompressed file cannot fit in the folder's free space."""
    if creation.get("COMPRESS", "NONE").upper() != "NONE":
        return
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):
        return
    free = st.f_bavail * st.f_frsize
    if free < profile.nbytes:
        raise InputError("output", f"not enough free space in {folder}: the raster needs "
                         f"{profile.nbytes / 2**20:.1f} MiB, {free / 2**20:.1f} MiB are free")
