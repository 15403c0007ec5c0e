"""The peers the engine is compared with (not a benchmark itself).

In-memory peers, on numpy arrays (bands, rows, cols):
  * whole-image serial references (numpy / scipy / rasterio on the whole array), one per
    operation; they also serve as the reference outputs for the checks;
  * ``threaded``: a reference function run on tiles with margins by a ThreadPoolExecutor;
  * ``dask_overlap``: the same function through ``dask.array.map_overlap`` (threads).
File-to-file peers are command lines: GDAL's scripts, Orfeo ToolBox 8 and GRASS GIS 8.
"""
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from rasterio.fill import fillnodata
from scipy import ndimage

import serial_pipeline
from _common import MAX_DISTANCE, SIZE

THREADS = 2
CHUNK = 1024  # tile / chunk side for the thread-pool and dask peers


def invalid(values, nodata):
    return serial_pipeline.nodata_of(values, nodata)


def _fill_value(nodata):
    return np.nan if nodata is None else nodata


# -- whole-image references: f(array (bands, rows, cols), nodata) -> array ---------------------
def mean3(a, nodata, size=SIZE):
    return np.stack([serial_pipeline.nodata_mean(b, nodata, size) for b in a])


def gaussian(a, nodata, sigma=2.0):
    out = np.empty(a.shape, np.float32)
    for i, b in enumerate(a):
        bad = invalid(b, nodata)
        kw = dict(sigma=sigma, mode="reflect")
        num = ndimage.gaussian_filter(np.where(bad, 0.0, b.astype(np.float64)), **kw)
        den = ndimage.gaussian_filter((~bad).astype(np.float64), **kw)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = num / den
        out[i][bad] = _fill_value(nodata)
    return out


def median5(a, nodata, size=5):
    """scipy's median (nodata pixels take part in the window); nodata pixels kept."""
    out = np.empty(a.shape, np.float32)
    for i, b in enumerate(a):
        out[i] = ndimage.median_filter(b, size=size, mode="reflect")
        out[i][invalid(b, nodata)] = _fill_value(nodata)
    return out


def disk(radius):
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return dy * dy + dx * dx <= radius * radius


def opening(a, nodata, radius=2):
    """Grey opening with a disk, nodata never read (+inf in the min, -inf in the max)."""
    fp, out = disk(radius), np.empty(a.shape, a.dtype)
    for i, b in enumerate(a):
        bad = invalid(b, nodata)
        v = b.astype(np.float64) + 0.0
        ero = ndimage.minimum_filter(np.where(bad, np.inf, v), footprint=fp, mode="reflect")
        out[i] = ndimage.maximum_filter(np.where(bad, -np.inf, ero), footprint=fp, mode="reflect")
        out[i][bad] = _fill_value(nodata)
    return out


def fill(a, nodata, max_distance=MAX_DISTANCE):
    bad = invalid(a[0], nodata)
    return fillnodata(a[0].copy(), mask=(~bad).astype(np.uint8), max_search_distance=max_distance,
                      smoothing_iterations=0).astype(a.dtype, copy=False)[None]


def seed(a, nodata):
    """Nodata mask -> fill (max distance 100) -> 3x3 nodata-aware mean, as bench/serial_pipeline.py."""
    return mean3(fill(a, nodata), nodata)


def ndvi(a, nodata):
    """(NIR - R) / (NIR + R) of a B, G, R, NIR stack; NaN where R or NIR is nodata or not finite."""
    red, nir = a[2].astype(np.float64), a[3].astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = (nir - red) / (nir + red)
    bad = invalid(a[2], nodata) | invalid(a[3], nodata) | ~np.isfinite(v)
    out = v.astype(np.float32)
    out[bad] = np.nan
    return out[None]


def statistics(a, nodata, bins=256, percentiles=(2, 25, 50, 75, 98)):
    """Per-band statistics with numpy on the whole array (population std)."""
    result = []
    for i, b in enumerate(a, start=1):
        bad = invalid(b, nodata)
        v = b[~bad]
        x = v.astype(np.float64)
        counts, _ = np.histogram(v, bins, range=(v.min(), v.max()))
        result.append({"band": i, "count": int(v.size), "nodata_count": int(bad.sum()),
                       "min": v.min().item(), "max": v.max().item(), "sum": float(x.sum()),
                       "mean": float(x.mean()), "std": float(x.std()), "histogram": counts.tolist(),
                       "percentiles": {format(q, "g"): float(p) for q, p in
                                       zip(percentiles, np.percentile(x, percentiles))}})
    return result


# -- tiled peers --------------------------------------------------------------------------
def _tiles(rows, cols, size, margin):
    for r0 in range(0, rows, size):
        for c0 in range(0, cols, size):
            r1, c1 = min(rows, r0 + size), min(cols, c0 + size)
            rr0, cc0 = max(0, r0 - margin), max(0, c0 - margin)
            yield ((slice(r0, r1), slice(c0, c1)),
                   (slice(rr0, min(rows, r1 + margin)), slice(cc0, min(cols, c1 + margin))),
                   (slice(r0 - rr0, r1 - rr0), slice(c0 - cc0, c1 - cc0)))


def threaded(func, a, nodata, margin, out_count, out_dtype, chunk=CHUNK, threads=THREADS):
    """``func`` on margin-grown tiles in a thread pool; cores written into one output."""
    out = np.empty((out_count,) + a.shape[1:], out_dtype)

    def one(tile):
        core, read, crop = tile
        out[(slice(None),) + core] = func(a[(slice(None),) + read], nodata)[(slice(None),) + crop]
    with ThreadPoolExecutor(threads) as pool:
        for _ in pool.map(one, _tiles(a.shape[1], a.shape[2], chunk, margin)):
            pass
    return out


def dask_overlap(func, a, nodata, margin, out_count, out_dtype, chunk=CHUNK, threads=THREADS):
    """``dask.array.map_overlap`` of ``func`` (no extra border: ``func`` handles the image edge)."""
    import dask.array as da
    d = da.from_array(a, chunks=(a.shape[0], chunk, chunk))
    if out_count != a.shape[0]:   # band-reducing function (NDVI): margin 0, plain map_blocks
        r = d.map_blocks(lambda x: func(x, nodata), dtype=out_dtype,
                         chunks=((out_count,),) + d.chunks[1:])
    else:
        r = d.map_overlap(lambda x: func(x, nodata), depth={0: 0, 1: margin, 2: margin},
                          boundary="none", trim=True, dtype=out_dtype)
    return r.compute(scheduler="threads", num_workers=threads)


# -- command-line peers (file to file) -----------------------------------------------------
def have(program):
    return shutil.which(program) is not None


def _co(options, flag="-co"):
    return [x for o in options + ["NUM_THREADS=ALL_CPUS"] for x in (flag, o)]


def otb_out(path, options):
    """OTB output name with GDAL creation options as an extended filename, pixel type float."""
    ext = "&".join(f"gdal:co:{o}" for o in options + ["NUM_THREADS=ALL_CPUS"])
    return [f"{path}?&{ext}", "float"]


OTB_ENV = {"OTB_MAX_RAM_HINT": "1024", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": str(THREADS)}


def otb_smoothing_mean(src, out, options):
    return ["otbcli_Smoothing", "-in", src, "-out", *otb_out(out, options), "-type", "mean",
            "-type.mean.radius", "1"]


def otb_smoothing_gaussian(src, out, options):
    return ["otbcli_Smoothing", "-in", src, "-out", *otb_out(out, options), "-type", "gaussian",
            "-type.gaussian.stdev", "2"]


def otb_opening(src, out, options):
    return ["otbcli_GrayScaleMorphologicalOperation", "-in", src, "-out", *otb_out(out, options),
            "-structype", "ball", "-xradius", "2", "-yradius", "2", "-filter", "opening"]


def otb_ndvi(src, out, options):
    return ["otbcli_BandMath", "-il", src, "-out", *otb_out(out, options),
            "-exp", "(im1b4 - im1b3) / (im1b4 + im1b3)"]


def gdal_fillnodata(src, out, options):
    # sources first: this script's -co takes any number of values
    return ["gdal_fillnodata.py", src, out, "-q", "-md", str(MAX_DISTANCE), "-si", "0",
            "-of", "GTiff", *_co(options)]


def gdal_calc_ndvi(src, out, options):
    return ["gdal_calc.py", "--quiet", "-A", src, "--A_band=4", "-B", src, "--B_band=3",
            "--calc=(A.astype(numpy.float64) - B) / (A.astype(numpy.float64) + B)",
            "--type=Float32", "--NoDataValue=-9999", *_co(options, "--co"), f"--outfile={out}"]


def grass_neighbors(method, size):
    """GRASS r.neighbors nprocs=2 in a temporary location made from the input file."""
    def command(src, out, options):
        co = ",".join(options + ["NUM_THREADS=ALL_CPUS"])
        script = (f"r.in.gdal -o --quiet input={src} output=src && g.region raster=src && "
                  f"r.neighbors --quiet input=src output=res method={method} size={size} nprocs=2 "
                  f"memory=2000 && r.out.gdal --quiet -c -f input=res output={out} format=GTiff "
                  f"type=Float32 nodata=-9999 createopt={co}")
        return ["grass", "--tmp-location", src, "--exec", "sh", "-c", script]
    return command


def tool_env(command):
    env = dict(os.environ)
    if command[0].startswith("otbcli_"):
        env.update(OTB_ENV)
    return env
