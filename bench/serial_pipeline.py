#!/usr/bin/python3
"""Serial reference for the seed pipeline: whole image, one process, numpy/rasterio/scipy.

Usage:
    /usr/bin/python3 bench/serial_pipeline.py INPUT OUTDIR [--band 1]
        [--options "COMPRESS=DEFLATE|NUM_THREADS=ALL_CPUS"]

Writes OUTDIR/mask.tif (uint8, 1 = nodata or NaN), OUTDIR/filled.tif
(rasterio.fill.fillnodata, max distance 100, no smoothing) and OUTDIR/smooth.tif
(3x3 nodata-aware mean of filled.tif: uniform_filter of the values with nodata zeroed
divided by uniform_filter of the valid mask, reflect mode; nodata stays nodata), and
prints the wall time of each step and the total. A benchmark, not a test.
"""
import os
import sys

import numpy as np
import rasterio
from rasterio.fill import fillnodata
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (MAX_DISTANCE, SIZE, SMOOTHING, Timer, pipeline_parser,  # noqa: E402
                     split_options)


def nodata_of(values, nodata):
    """Boolean mask of nodata pixels: == nodata, or NaN for float data."""
    bad = np.zeros(values.shape, dtype=bool)
    if np.issubdtype(values.dtype, np.floating):
        bad |= np.isnan(values)
    if nodata is not None and not np.isnan(nodata):
        bad |= values == values.dtype.type(nodata)
    return bad


def nodata_mean(values, nodata, size):
    """Mean over size x size windows of the valid pixels; nodata pixels stay nodata."""
    bad = nodata_of(values, nodata)
    valid = (~bad).astype(np.float64)
    num = ndimage.uniform_filter(np.where(bad, 0.0, values.astype(np.float64)), size, mode="reflect")
    den = ndimage.uniform_filter(valid, size, mode="reflect")
    out_dtype = values.dtype if np.issubdtype(values.dtype, np.floating) else np.float32
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (num / den).astype(out_dtype)
    fill = np.nan if nodata is None else nodata
    out[bad | (den <= 0)] = fill
    return out


def write(path, array, profile, options, nodata, descriptions=None):
    """Write (bands, rows, cols) `array` with `profile`'s georeferencing and `options`."""
    kwargs = dict(driver="GTiff", count=array.shape[0], height=array.shape[1], width=array.shape[2],
                  dtype=array.dtype.name, crs=profile["crs"], transform=profile["transform"],
                  nodata=nodata)
    kwargs.update(dict(o.split("=", 1) for o in options))
    with rasterio.open(path, "w", **kwargs) as dst:
        dst.write(array)
        for i, d in enumerate(descriptions or (), start=1):
            if d:
                dst.set_band_description(i, d)


def run(src_path, outdir, options=(), band=1, verbose=True):
    """Run the serial pipeline; return {step: seconds}."""
    os.makedirs(outdir, exist_ok=True)
    t = Timer(verbose, prefix="serial ")
    with t("read"):
        with rasterio.open(src_path) as src:
            profile, nodata = src.profile, src.nodata
            values = src.read(band)
            desc = src.descriptions[band - 1]
    with t("mask"):
        bad = nodata_of(values, nodata)
        write(os.path.join(outdir, "mask.tif"), bad.astype(np.uint8)[None], profile, options, None)
    with t("fill"):
        filled = fillnodata(values, mask=(~bad).astype(np.uint8),
                            max_search_distance=MAX_DISTANCE, smoothing_iterations=SMOOTHING)
        filled = filled.astype(values.dtype, copy=False)
        write(os.path.join(outdir, "filled.tif"), filled[None], profile, options, nodata, [desc])
    with t("mean"):
        smooth = nodata_mean(filled, nodata, SIZE)
        write(os.path.join(outdir, "smooth.tif"), smooth[None], profile, options, nodata, [desc])
    t.print_total()
    return t.times


def main(argv=None):
    p = pipeline_parser(__doc__)
    a = p.parse_args(argv)
    run(a.input, a.outdir, split_options(a.options), a.band)
    return 0


if __name__ == "__main__":
    sys.exit(main())
