"""Pixels of an uncompressed GeoTIFF read straight from the file's bytes.

Sampling 200,000 points of a 6000² raster through GDAL reads every row that holds a point:
the whole file. An uncompressed GeoTIFF stores each block at an offset GDAL reports
(``BLOCK_OFFSET_x_y``), so a pixel's bytes sit at a known place, and a memory map reads just
those pages. ``direct_pixels`` does that where it is exact (plain GeoTIFF, no compression,
whole bytes per sample, every needed block present in the file) and says None otherwise, so
that the caller reads through GDAL.
"""

import os

import numpy as np

from .gdal_lock import GDAL_IO


def _layout(path, bands):
    """``(dtype in the file's byte order, block rows, block cols, pixel-interleaved?, band
    count, offset(k, bx, by) -> (start, bytes) of band ``bands[k]``'s block, (height,
    width), the dataset, kept open for ``offset``)`` of an uncompressed GeoTIFF file, or
    None where the bytes are not plain samples."""
    if not isinstance(path, str) or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        magic = f.read(4)
    order = {b"II*\x00": "<", b"MM\x00*": ">", b"II+\x00": "<", b"MM\x00+": ">"}.get(magic)
    if order is None:
        return None
    from osgeo import gdal
    ds = gdal.OpenEx(path, gdal.OF_RASTER | gdal.OF_READONLY, allowed_drivers=["GTiff"])
    if ds is None:
        return None
    structure = ds.GetMetadata("IMAGE_STRUCTURE") or {}
    if structure.get("COMPRESSION") or structure.get("NBITS") or \
            structure.get("INTERLEAVE") not in ("BAND", "PIXEL"):
        return None
    files = ds.GetFileList() or []
    if not files or os.path.realpath(files[0]) != os.path.realpath(path):
        return None  # the pixels are not in this file (side-car .aux.xml and .ovr are fine)
    first = ds.GetRasterBand(1)
    block_cols, block_rows = first.GetBlockSize()
    from osgeo import gdal_array
    try:
        dtype = np.dtype(gdal_array.GDALTypeCodeToNumericTypeCode(first.DataType))
    except TypeError:
        return None
    if structure.get("PIXELTYPE") == "SIGNEDBYTE" or dtype.kind == "c":
        return None
    pixel = structure["INTERLEAVE"] == "PIXEL"
    handles = [ds.GetRasterBand(b) for b in bands]
    count = ds.RasterCount

    def offset(k, bx, by):
        band = first if pixel else handles[k]
        value = band.GetMetadataItem(f"BLOCK_OFFSET_{bx}_{by}", "TIFF")
        size = band.GetMetadataItem(f"BLOCK_SIZE_{bx}_{by}", "TIFF")
        return (int(value) if value else 0), (int(size) if size else 0)
    return (dtype.newbyteorder(order), block_rows, block_cols, pixel, count, offset,
            (ds.RasterYSize, ds.RasterXSize), ds)


def direct_pixels(path, bands, rows, cols):
    """``(bands, n)`` values of the 1-based ``bands`` of ``path`` at pixels ``(rows, cols)``
    (int arrays inside the raster), read from the file's bytes, or None when the file is not
    a plain uncompressed GeoTIFF whose needed blocks are all there (the caller then reads
    through GDAL)."""
    with GDAL_IO:
        layout = _layout(path, bands)
        if layout is None:
            return None
        dtype, block_rows, block_cols, pixel, count, offset, (height, width), ds = layout
        blocks_across = -(-width // block_cols)
        by, bx = rows // block_rows, cols // block_cols
        block = by * blocks_across + bx
        needed = np.unique(block)
        size = os.path.getsize(path)
        item = dtype.itemsize
        starts = np.empty((len(bands), len(needed)), dtype=np.int64)
        for k in range(len(bands)):
            for i, b in enumerate(needed.tolist()):
                start, length = offset(k, b % blocks_across, b // blocks_across)
                # bytes the block holds: a whole tile, or a strip (the last one may be short)
                block_height = min(block_rows, height - (b // blocks_across) * block_rows)
                least = block_height * block_cols * item * (count if pixel else 1)
                if start <= 0 or length < least or start + length > size:
                    return None  # sparse, short or truncated: GDAL knows what to do
                starts[k, i] = start
        ds = None
    where = np.searchsorted(needed, block)
    inside = ((rows % block_rows) * block_cols + cols % block_cols).astype(np.int64)
    data = np.memmap(path, dtype=np.uint8, mode="r")
    out = np.empty((len(bands), len(rows)), dtype=dtype.newbyteorder("="))
    step = np.arange(item, dtype=np.int64)
    for k, band in enumerate(bands):
        if pixel:
            at = starts[k, where] + (inside * count + (band - 1)) * item
        else:
            at = starts[k, where] + inside * item
        raw = np.ascontiguousarray(data[at[:, None] + step]).view(dtype)[:, 0]
        out[k] = raw.astype(out.dtype, copy=False)
    del data
    return out


__all__ = ["direct_pixels"]
