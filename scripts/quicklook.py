#!/usr/bin/python3
"""Side-by-side before/after quicklook PNG of two single-band rasters (e.g. DSMs).

Usage:
    /usr/bin/python3 scripts/quicklook.py BEFORE.tif AFTER.tif OUT.png [--width 1200] [--band 1]

Each panel is the band read at reduced resolution (nearest neighbour), colour-ramped
(green - yellow - brown - white) on the BEFORE image's value range and shaded with a
hillshade (sun from the north-west). Nodata (the band's nodata value or NaN) is magenta.
Written with rasterio's PNG driver; no matplotlib needed.
"""
import argparse
import sys
import warnings

import numpy as np
import rasterio
import rasterio.errors
from rasterio.enums import Resampling

NODATA_RGB = (255, 0, 255)
GAP = 8  # px of white between panels
# Hypsometric ramp: (position 0-1, R, G, B)
RAMP = np.array([
    (0.00, 40, 110, 60), (0.25, 120, 170, 80), (0.50, 230, 215, 120),
    (0.75, 160, 110, 70), (0.92, 200, 190, 185), (1.00, 255, 255, 255),
], dtype=float)


def read_small(path, band, width):
    """Return (values float64, valid bool, pixel size in map units) at about `width` columns."""
    with rasterio.open(path) as src:
        scale = max(1.0, src.width / width)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        a = src.read(band, out_shape=shape, resampling=Resampling.nearest).astype(np.float64)
        valid = np.isfinite(a)
        if src.nodata is not None and not np.isnan(src.nodata):
            valid &= a != src.nodata
        res = abs(src.transform.a) * src.width / shape[1] if src.crs else float(scale)
    return a, valid, res


def hillshade(z, res, azimuth=315.0, altitude=45.0):
    dy, dx = np.gradient(z, res)
    slope = np.arctan(np.hypot(dx, dy))
    aspect = np.arctan2(-dx, dy)
    az, alt = np.radians(360.0 - azimuth + 90.0), np.radians(altitude)
    shade = np.sin(alt) * np.cos(slope) + np.cos(alt) * np.sin(slope) * np.cos(az - aspect)
    return np.clip(shade, 0.0, 1.0)


def render(a, valid, res, vmin, vmax):
    z = np.where(valid, a, a[valid].mean() if valid.any() else 0.0)
    t = np.clip((z - vmin) / ((vmax - vmin) or 1.0), 0.0, 1.0)
    rgb = np.stack([np.interp(t, RAMP[:, 0], RAMP[:, i]) for i in (1, 2, 3)])
    rgb *= 0.35 + 0.65 * hillshade(z, res)
    rgb[:, ~valid] = np.array(NODATA_RGB, dtype=float)[:, None]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("before")
    p.add_argument("after")
    p.add_argument("out", help="output PNG path")
    p.add_argument("--width", type=int, default=1200, help="total PNG width, about [1200]")
    p.add_argument("--band", type=int, default=1)
    a = p.parse_args(argv)

    panel_w = max(1, (a.width - GAP) // 2)
    b, bvalid, bres = read_small(a.before, a.band, panel_w)
    f, fvalid, fres = read_small(a.after, a.band, panel_w)
    ref = b[bvalid] if bvalid.any() else f[fvalid]
    vmin, vmax = (float(ref.min()), float(ref.max())) if ref.size else (0.0, 1.0)
    left, right = render(b, bvalid, bres, vmin, vmax), render(f, fvalid, fres, vmin, vmax)

    h = max(left.shape[1], right.shape[1])
    img = np.full((3, h, left.shape[2] + GAP + right.shape[2]), 255, dtype=np.uint8)
    img[:, : left.shape[1], : left.shape[2]] = left
    img[:, : right.shape[1], left.shape[2] + GAP:] = right
    warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
    with rasterio.open(a.out, "w", driver="PNG", width=img.shape[2], height=img.shape[1],
                       count=3, dtype="uint8") as dst:
        dst.write(img)
    print(f"quicklook: {a.out} {img.shape[2]}x{img.shape[1]} "
          f"(nodata before {100 * (1 - bvalid.mean()):.2f}%, after {100 * (1 - fvalid.mean()):.2f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
