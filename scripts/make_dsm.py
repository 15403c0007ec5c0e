#!/usr/bin/python3
"""Write a synthetic, realistic-looking DSM GeoTIFF with nodata holes.

Usage:
    /usr/bin/python3 scripts/make_dsm.py OUT.tif [--size 4000] [--seed 0] [--holes 0.02]
        [--nan-nodata | --nodata -9999] [--pixel-size 10] [--uncompressed]
        [--hole-shape blobs|ellipses]

The terrain is multi-octave fractal noise (fBm) built coarse-to-fine and upsampled with
scipy.ndimage.zoom, reshaped so valleys are flatter than peaks, with ridged noise added in
the high ground, in metres (about 200-1500 m), plus a little full-resolution roughness. The raster is float32, EPSG:32631 (UTM 31N),
north-up, tiled 256x256, DEFLATE + floating-point predictor (unless --uncompressed).
Nodata holes (about `holes` of the area): blobs of varied sizes from thresholded smoothed
noise, scattered single pixels and a few partial stripes (rows/columns) (the default,
``--hole-shape blobs``); or, with ``--hole-shape ellipses``, random elliptical holes of
radius 2-60 px (each semi-axis uniform in [2, 60], random orientation, centres uniform over
the image) drawn until ``holes`` of the pixels are nodata (bench/streaming.py; issue 12).
The terrain is the same for both hole shapes and a given seed.

For reuse (tests, benchmarks):
    from make_dsm import make_dsm        # with scripts/ on sys.path
    array, profile = make_dsm((rows, cols), seed=0, holes=0.02, nodata=-9999.0)
    array, profile = make_dsm((rows, cols), seed=0, holes=0.10, hole_shape="ellipses")
    # array: float32 (rows, cols); profile: dict for rasterio.open(path, "w", **profile)
"""
import argparse
import math
import sys
import time

import numpy as np
from scipy import ndimage

DESCRIPTION = "DSM elevation (m)"
EPSG = 32631
ORIGIN = (500000.0, 4800000.0)  # upper-left corner, UTM 31N (southern France)


def _zoom_to(a, shape, order):
    """Resample 2-D `a` to exactly `shape`."""
    factors = (shape[0] / a.shape[0], shape[1] / a.shape[1])
    out = ndimage.zoom(a, factors, order=order, mode="reflect", grid_mode=True)
    return out[: shape[0], : shape[1]]


def _fbm(rng, shape, base=4, persistence=0.5, stop=4):
    """Fractal noise of `shape`: octaves added coarse-to-fine, each level zoomed x2.

    Stops refining once the grid is within a factor `stop` of `shape`; the final
    upsample to `shape` is bilinear. Returns float32, zero mean, unit-ish std.
    """
    rows, cols = shape
    ratio = cols / rows
    field = rng.standard_normal((base, max(2, round(base * ratio))))
    amp = 1.0
    while field.shape[0] * 2 * stop <= rows:
        field = ndimage.zoom(field, 2, order=3, mode="reflect", grid_mode=True)
        amp *= persistence
        field += amp * ndimage.gaussian_filter(rng.standard_normal(field.shape), 0.8)
    field = _zoom_to(field.astype(np.float32), shape, order=1)
    field -= field.mean()
    field /= field.std() or 1.0
    return field


def _normalise(a):
    """Map `a` in place to [0, 1] using robust (0.5 %, 99.5 %) percentiles of a subsample."""
    step = max(1, max(a.shape) // 512)
    lo, hi = np.percentile(a[::step, ::step], [0.5, 99.5])
    a -= lo
    a /= (hi - lo) or 1.0
    return np.clip(a, 0.0, 1.0, out=a)


def _hole_mask(rng, shape, fraction):
    """Boolean mask (True = nodata) covering roughly `fraction` of `shape`."""
    rows, cols = shape
    mask = np.zeros(shape, dtype=bool)
    if fraction <= 0:
        return mask
    # Blobs (~75 % of the holes): large + small scale noise, thresholded at a low-res quantile.
    lo_shape = (max(8, rows // 8), max(8, cols // 8))
    coarse = rng.standard_normal((max(4, rows // 256), max(4, cols // 256)))
    coarse = _zoom_to(ndimage.gaussian_filter(coarse, 1.0), lo_shape, order=3)
    fine = ndimage.gaussian_filter(rng.standard_normal(lo_shape), 1.5)
    blob = coarse / (coarse.std() or 1.0) + 0.8 * fine / (fine.std() or 1.0)
    thresh = np.quantile(blob, 1.0 - 0.75 * fraction)
    mask |= _zoom_to(blob.astype(np.float32), shape, order=1) > thresh
    # Scattered single pixels (~15 %).
    n = int(0.15 * fraction * rows * cols)
    mask.flat[rng.integers(0, rows * cols, n)] = True
    # A few partial stripes, 1-3 px wide (scan-line / seam artefacts).
    for _ in range(int(rng.integers(2, 6))):
        width = int(rng.integers(1, 4))
        if rng.random() < 0.5:
            width = min(width, rows)
            r = int(rng.integers(0, rows - width + 1))
            length = int(cols * rng.uniform(0.2, 1.0))
            c = int(rng.integers(0, cols - length + 1))
            mask[r:r + width, c:c + length] = True
        else:
            width = min(width, cols)
            c = int(rng.integers(0, cols - width + 1))
            length = int(rows * rng.uniform(0.2, 1.0))
            r = int(rng.integers(0, rows - length + 1))
            mask[r:r + length, c:c + width] = True
    return mask


ELLIPSE_RADII = (2.0, 60.0)  # semi-axes of the elliptical holes, pixels
HOLE_SHAPES = ("blobs", "ellipses")


def _ellipse_mask(rng, shape, fraction, radii=ELLIPSE_RADII):
    """Boolean mask (True = nodata): random ellipses until ``fraction`` of ``shape`` is covered.

    Each ellipse has semi-axes uniform in ``radii`` and a uniform orientation; it is drawn
    into the mask within its bounding box only, so the cost is the holes' area, not the
    image's. Ellipses are drawn in batches sized from the remaining deficit; the last
    batch stops at the first ellipse that reaches the target.
    """
    rows, cols = shape
    mask = np.zeros(shape, dtype=bool)
    target = int(round(fraction * rows * cols))
    if target <= 0:
        return mask
    lo, hi = radii
    mean_area = math.pi * ((lo + hi) / 2) ** 2
    covered = 0
    while covered < target:
        n = max(1, int(math.ceil((target - covered) / mean_area)))
        a = rng.uniform(lo, hi, n)
        b = rng.uniform(lo, hi, n)
        theta = rng.uniform(0.0, math.pi, n)
        cy = rng.uniform(0, rows, n)
        cx = rng.uniform(0, cols, n)
        cos, sin = np.cos(theta), np.sin(theta)
        hy = np.sqrt((a * sin) ** 2 + (b * cos) ** 2)  # bounding box half-extents
        hx = np.sqrt((a * cos) ** 2 + (b * sin) ** 2)
        for i in range(n):
            r0, r1 = max(0, int(cy[i] - hy[i])), min(rows, int(cy[i] + hy[i]) + 2)
            c0, c1 = max(0, int(cx[i] - hx[i])), min(cols, int(cx[i] + hx[i]) + 2)
            if r0 >= r1 or c0 >= c1:
                continue
            y = np.arange(r0, r1, dtype=np.float64)[:, None] + 0.5 - cy[i]
            x = np.arange(c0, c1, dtype=np.float64)[None, :] + 0.5 - cx[i]
            u = (x * cos[i] + y * sin[i]) / a[i]
            v = (y * cos[i] - x * sin[i]) / b[i]
            inside = u * u + v * v <= 1.0
            box = mask[r0:r1, c0:c1]
            covered += int(np.count_nonzero(inside & ~box))
            box |= inside
            if covered >= target:
                break
    return mask


def make_dsm(shape, seed=0, holes=0.02, nodata=-9999.0, pixel_size=10.0, hole_shape="blobs"):
    """Return (array float32 (rows, cols), rasterio profile dict) for a synthetic DSM.

    nodata: a number, or float('nan') for NaN nodata. Holes are set to it.
    hole_shape: "blobs" (default: blobs, single pixels, stripes) or "ellipses" (random
    ellipses of radius 2-60 px until ``holes`` of the pixels are nodata).
    The profile has driver/dtype/size/CRS/transform/nodata, tiled 256x256, DEFLATE+PREDICTOR=3.
    """
    from rasterio.crs import CRS
    from rasterio.transform import Affine

    rows, cols = int(shape[0]), int(shape[1])
    if rows < 1 or cols < 1:
        raise ValueError("shape must be positive")
    rng = np.random.default_rng(seed)
    base = _normalise(_fbm(rng, (rows, cols), base=4, persistence=0.55))
    ridged = _fbm(rng, (rows, cols), base=5, persistence=0.55)  # -> ridge lines where ~0
    np.abs(ridged, out=ridged)
    ridged /= -2.5
    ridged += 1.0
    np.clip(ridged, 0.0, 1.0, out=ridged)
    ridged **= 3
    ridged *= base  # ridges mostly in the high ground
    ridged *= 0.35
    base **= 1.4  # flatter valleys
    base *= 0.7
    base += ridged
    del ridged
    dsm = _normalise(base)
    dsm *= 1300.0
    dsm += 200.0
    # Surface roughness (vegetation, rocks): ~0.5 m, full resolution.
    rough = ndimage.gaussian_filter(rng.standard_normal((rows, cols), dtype=np.float32), 1.0)
    rough *= 1.5
    dsm += rough
    del rough
    dsm = dsm.astype(np.float32, copy=False)
    if hole_shape == "blobs":
        holes_mask = _hole_mask(rng, (rows, cols), holes)
    elif hole_shape == "ellipses":
        holes_mask = _ellipse_mask(rng, (rows, cols), holes)
    else:
        raise ValueError(f"hole_shape must be one of {HOLE_SHAPES}, got {hole_shape!r}")
    dsm[holes_mask] = np.float32(nodata)
    del holes_mask

    profile = dict(
        driver="GTiff", dtype="float32", count=1, height=rows, width=cols,
        crs=CRS.from_wkt(CRS.from_epsg(EPSG).to_wkt()),
        transform=Affine(pixel_size, 0.0, ORIGIN[0], 0.0, -pixel_size, ORIGIN[1]),
        nodata=float(nodata),
        tiled=True, blockxsize=256, blockysize=256,
        compress="deflate", predictor=3, num_threads="ALL_CPUS",
    )
    return dsm, profile


def write_dsm(path, array, profile, description=DESCRIPTION):
    """Write a make_dsm() result with rasterio, setting the band description and unit."""
    import rasterio
    if array.shape[0] < 16 or array.shape[1] < 16:  # GTiff tiles need >= 16 px blocks
        profile = {k: v for k, v in profile.items() if k not in ("tiled", "blockxsize", "blockysize")}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
        dst.set_band_description(1, description)
        dst.units = ("metre",)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="output GeoTIFF path")
    p.add_argument("--size", type=int, default=4000, help="columns (and rows) [4000]")
    p.add_argument("--rows", type=int, help="rows, if different from --size")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holes", type=float, default=0.02, help="nodata fraction, about [0.02]")
    p.add_argument("--nodata", type=float, default=-9999.0, help="nodata value [-9999]")
    p.add_argument("--nan-nodata", action="store_true", help="use NaN as nodata")
    p.add_argument("--pixel-size", type=float, default=10.0, help="metres [10]")
    p.add_argument("--uncompressed", action="store_true", help="no DEFLATE compression")
    p.add_argument("--hole-shape", choices=HOLE_SHAPES, default="blobs",
                   help="blobs, single pixels and stripes, or ellipses of radius 2-60 px "
                        "[blobs]")
    a = p.parse_args(argv)
    if a.size < 1 or (a.rows is not None and a.rows < 1) or not 0 <= a.holes < 1:
        p.error("--size/--rows must be >= 1 and 0 <= --holes < 1")

    t0 = time.perf_counter()
    nodata = math.nan if a.nan_nodata else a.nodata
    arr, profile = make_dsm((a.rows or a.size, a.size), a.seed, a.holes, nodata, a.pixel_size,
                            a.hole_shape)
    if a.uncompressed:
        for k in ("compress", "predictor", "num_threads"):
            profile.pop(k)
    t1 = time.perf_counter()
    write_dsm(a.out, arr, profile)
    t2 = time.perf_counter()
    bad = np.isnan(arr) if a.nan_nodata else arr == np.float32(nodata)
    print(f"make_dsm: {a.out} {arr.shape[1]}x{arr.shape[0]} float32, nodata {nodata}, "
          f"{100 * bad.mean():.2f}% holes; generate {t1 - t0:.1f} s, write {t2 - t1:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
