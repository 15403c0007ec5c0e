"""Synthetic benchmark inputs, generated once and cached as GeoTIFFs (not a benchmark itself).

Three datasets, all on the same UTM grid (10 m pixels), `size` x `size` pixels:
  s2     a Sentinel-2-like uint16 reflectance band (0 = nodata: the corner outside the
         orbit swath, as in real S2 tiles, plus scattered dropped pixels);
  dsm    a float32 DSM with NaN holes (scripts/make_dsm.py's make_dsm);
  stack  a 4-band uint16 stack B, G, R, NIR (0 = nodata, same swath edge), vegetated
         areas bright in NIR and dark in red, for band math.
Each is written once per compression (none, deflate, zstd; tiled 256, predictor 2 for
integers, 3 for floats) into a cache folder and reused while the size and seed match.
"""
import math
import os

import numpy as np
import rasterio
from scipy import ndimage

from _common import import_make_dsm

COMPRESSIONS = ("none", "deflate", "zstd")
DATASETS = ("s2", "dsm", "stack")


def creation_options(compression, dtype):
    """GDAL creation options for ``compression`` and an output of ``dtype``."""
    if compression == "none":
        return ["COMPRESS=NONE"]
    predictor = 3 if np.dtype(dtype).kind == "f" else 2
    return [f"COMPRESS={compression.upper()}", f"PREDICTOR={predictor}"]


def _swath_nodata(rng, shape):
    """True outside a diagonal orbit-swath edge (~12 % of the tile) plus ~0.05 % dropped pixels."""
    rows, cols = shape
    r = np.arange(rows, dtype=np.float32)[:, None] / rows
    c = np.arange(cols, dtype=np.float32)[None, :] / cols
    edge = 0.35 + 0.03 * np.sin(6 * math.pi * r)          # a slightly wavy swath border
    mask = (c + 0.6 * r) < edge
    mask.flat[rng.integers(0, rows * cols, rows * cols // 2000)] = True
    return mask


def _texture(shape, seed):
    """Fractal noise in [0, 1] (make_dsm's fBm), float32."""
    md = import_make_dsm()
    rng = np.random.default_rng(seed)
    return md._normalise(md._fbm(rng, shape, base=6, persistence=0.6))


def make_s2(shape, seed=1):
    rng = np.random.default_rng(seed)
    land = _texture(shape, seed)
    band = 300.0 + 3500.0 * land ** 1.3
    band += ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), 0.7) * 60
    water = _texture(shape, seed + 100) > 0.8        # lakes and rivers: dark
    band[water] = 120 + 40 * land[water]
    out = np.clip(band, 1, 10000).astype(np.uint16)
    out[_swath_nodata(rng, shape)] = 0
    return out[None], dict(dtype="uint16", count=1, nodata=0, descriptions=("B8 (synthetic)",))


def make_dsm(shape, seed=0):
    array, _ = import_make_dsm().make_dsm(shape, seed=seed, holes=0.02, nodata=float("nan"))
    return array[None], dict(dtype="float32", count=1, nodata=float("nan"),
                             descriptions=("DSM elevation (m)",))


def make_stack(shape, seed=2):
    rng = np.random.default_rng(seed)
    veg = _texture(shape, seed)                       # vegetation density, 0..1
    soil = _texture(shape, seed + 1)
    base = {"B2": 400 + 300 * soil, "B3": 500 + 400 * soil + 300 * veg,
            "B4": 500 + 1400 * soil * (1 - veg), "B8": 1500 + 3500 * veg + 800 * soil}
    bands = np.empty((4,) + tuple(shape), dtype=np.uint16)
    for i, v in enumerate(base.values()):
        noise = rng.standard_normal(shape, dtype=np.float32) * 25
        bands[i] = np.clip(v + noise, 1, 10000).astype(np.uint16)
    bands[:, _swath_nodata(rng, shape)] = 0
    return bands, dict(dtype="uint16", count=4, nodata=0, descriptions=tuple(base))


MAKERS = {"s2": make_s2, "dsm": make_dsm, "stack": make_stack}


def write(path, array, meta, compression):
    from rasterio.crs import CRS
    md = import_make_dsm()
    profile = dict(driver="GTiff", width=array.shape[2], height=array.shape[1], count=meta["count"],
                   dtype=meta["dtype"], nodata=meta["nodata"], crs=CRS.from_epsg(md.EPSG),
                   transform=rasterio.Affine(10.0, 0, md.ORIGIN[0], 0, -10.0, md.ORIGIN[1]),
                   tiled=True, blockxsize=256, blockysize=256, num_threads="ALL_CPUS")
    profile.update(dict(o.lower().split("=", 1) for o in creation_options(compression, meta["dtype"])))
    tmp = path + ".part"
    with rasterio.open(tmp, "w", **profile) as dst:
        dst.write(array)
        for i, d in enumerate(meta["descriptions"], start=1):
            dst.set_band_description(i, d)
    os.replace(tmp, path)


def prepare(folder, size, log=print):
    """{(dataset, compression): path}; generates what the cache folder lacks."""
    os.makedirs(folder, exist_ok=True)
    paths = {}
    for name in DATASETS:
        wanted = {c: os.path.join(folder, f"{name}-{size}-{c}.tif") for c in COMPRESSIONS}
        missing = [c for c, p in wanted.items() if not os.path.exists(p)]
        if missing:
            log(f"generating {name} {size}x{size} ...")
            array, meta = MAKERS[name]((size, size))
            for c in missing:
                write(wanted[c], array, meta, c)
            del array
        paths.update({(name, c): p for c, p in wanted.items()})
    return paths


def read(path):
    """(array (bands, rows, cols), nodata) of a GeoTIFF."""
    with rasterio.open(path) as ds:
        return ds.read(), ds.nodata
