"""Reading rasters: profiles, and pixels straight into (shared) arrays by threads that
each decode their own windows, a failed or signalled read being an InputError."""

import os

from ..core.errors import InputError
from ..core.profile import Profile
from .gdal_errors import gdal_failures
from .gdal_lock import GDAL_IO


def _rasterio():
    """rasterio and the errors it raises, imported on first use (workers never need GDAL)."""
    import rasterio
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError, RasterioIOError
    return rasterio, (RasterioError, RasterioIOError, CPLE_BaseError)


def is_gdal_source(path):
    """True for what GDAL opens that is not a plain file name: ``/vsi*`` paths, URLs and
    subdataset or connection strings (``GPKG:file:table``, ``NETCDF:"file":var``, ...)."""
    path = os.fspath(path)
    if path.startswith("/vsi") or "://" in path:
        return True
    driver, sep, rest = path.partition(":")
    # a driver prefix (letters, digits, _), not a Windows drive letter ("C:\\...")
    return bool(sep) and len(driver) > 1 and driver.replace("_", "").isalnum() and bool(rest)


def read_profile(path):
    """The Profile of the raster at ``path``, from its header only.

    Parameters
    ----------
    path : str or os.PathLike
        A raster file or GDAL source (``/vsi...``, ``GPKG:file:table``, a URL).

    Returns
    -------
    Profile

    Raises
    ------
    InputError
        ``path``: no such file, not a raster GDAL reads, a source GDAL cannot open, or
        bands of different data types.
    """
    path = os.fspath(path)
    if "\x00" in path:
        raise InputError("path", f"the path {path!r} contains a NUL character")
    gdal_source = not os.path.exists(path) and is_gdal_source(path)
    if not os.path.exists(path) and not gdal_source:
        raise InputError("path", f"no such file: {path}")
    rasterio, errors = _rasterio()
    try:
        with rasterio.open(path) as ds:
            return profile_of(ds)
    except errors as exc:
        if gdal_source:
            raise InputError("path", f"GDAL cannot open the source {path} ({exc})") from None
        raise InputError("path", f"{path} is not a raster GDAL can read ({exc})") from None


def block_rows(path):
    """Rows of the blocks of ``path``'s first band (1 for a file without blocks)."""
    rasterio, _ = _rasterio()
    with rasterio.open(os.fspath(path)) as ds:
        return _block_rows(ds)


def _block_rows(ds):
    return max(1, ds.block_shapes[0][0]) if ds.block_shapes else 1


def profile_of(ds):
    """The Profile of an open rasterio dataset."""
    dtypes = set(ds.dtypes)
    if len(dtypes) != 1:
        raise InputError("path", f"{ds.name}: bands have different data types {sorted(dtypes)}")
    try:
        return Profile(count=ds.count, height=ds.height, width=ds.width, dtype=ds.dtypes[0],
                       crs_wkt=ds.crs.to_wkt() if ds.crs else None,
                       transform=tuple(ds.transform)[:6], nodata=ds.nodata,
                       descriptions=tuple(ds.descriptions))
    except InputError as exc:
        raise InputError("path", f"{ds.name}: {exc.message}") from None


def read_into(path, out, threads=None, rows=None, bands=None):
    """Read every band of ``path`` straight into ``out`` (bands, rows, cols); no temporary copy.

    ``rows=(row0, row1)`` reads only those rows (``out`` then has ``row1 - row0`` rows);
    ``bands`` (1-based numbers) only those bands, in that order.
    Compressed rasters are decoded by ``threads`` threads (default: all cores), each
    reading its own strips of rows through its own dataset. GDAL's own multi-threaded
    decoding (``GDAL_NUM_THREADS``) is not used: a block that fails to decode there comes
    back as zeros without an error. Any failed read raises InputError naming the file and
    the window.
    """
    with GDAL_IO:  # see gdal_lock: no write may flush through the cache meanwhile
        _read_into(path, out, threads, rows, bands)


def _read_into(path, out, threads, rows, bands=None):
    rasterio, _ = _rasterio()
    path = os.fspath(path)
    with rasterio.open(path) as ds:
        per_block = _block_rows(ds)
        compressed = ds.compression is not None
        height, width = ds.height, ds.width
    row0, row1 = rows if rows is not None else (0, height)
    if not 0 <= row0 < row1 <= height or (out.shape[1], out.shape[2]) != (row1 - row0, width):
        raise InputError("path", f"{path} is {height} x {width} pixels: rows {row0}:{row1} "
                         f"do not fit a buffer of {out.shape[1]} x {out.shape[2]}")
    threads = threads or os.cpu_count() or 1
    step = max(per_block, (READ_STRIP_BYTES // max(1, width * out.shape[0] * out.itemsize))
               // per_block * per_block)
    # strips aligned on the file's blocks, so that no block is decoded twice
    edges = [row0] + list(range((row0 // step + 1) * step, row1, step)) + [row1]
    strips = list(zip(edges[:-1], edges[1:]))
    if not compressed or threads == 1 or len(strips) == 1:
        _read_strips(path, out, strips, row0, bands)
        return
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(min(threads, len(strips)), thread_name_prefix="tilewise-read") as ex:
        parts = [strips[i::threads] for i in range(min(threads, len(strips)))]
        for future in [ex.submit(_read_strips, path, out, part, row0, bands)
                       for part in parts]:
            future.result()


READ_STRIP_BYTES = 4 * 2**20  # one read call: a few MiB, a whole number of block rows


def _read_strips(path, out, strips, offset=0, bands=None):
    """Read rows ``[r0, r1)`` of every band (or of ``bands``) for each strip into ``out``'s
    rows from ``r0 - offset``, on one dataset of this thread."""
    rasterio, errors = _rasterio()
    from rasterio.windows import Window
    with gdal_failures() as failures, rasterio.Env(GDAL_NUM_THREADS=1), \
            rasterio.open(path) as ds:
        for r0, r1 in strips:
            try:
                ds.read(indexes=None if bands is None else list(bands),
                        out=out[:, r0 - offset:r1 - offset, :],
                        window=Window(0, r0, ds.width, r1 - r0))
            except errors as exc:
                raise InputError("path", _read_failure(path, r0, r1, ds.width, exc)) from None
            if failures:  # signalled without raising: never trust those pixels
                raise InputError("path", _read_failure(path, r0, r1, ds.width, failures[-1]))


def _read_failure(path, r0, r1, width, reason):
    return (f"could not read {path} (rows {r0}:{r1}, columns 0:{width}): "
            f"{str(reason).rstrip('. ')}. The file "
            "is damaged or truncated, or a source it refers to is missing")


