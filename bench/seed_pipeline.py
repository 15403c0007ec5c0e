#!/usr/bin/python3
"""The seed pipeline with the Tilewise engine's Python API, file to file.

Usage:
    /usr/bin/python3 bench/seed_pipeline.py INPUT OUTDIR --workers N [--tile-size T]
        [--band 1] [--options "COMPRESS=DEFLATE|NUM_THREADS=ALL_CPUS"] [--start-method spawn]

Writes OUTDIR/mask.tif (nodata_mask), OUTDIR/filled.tif (fill_nodata, max distance 100,
smoothing 0) and OUTDIR/smooth.tif (mean, size 3, all bands of filled), and prints the wall
time of each step (each includes writing its output) and the total (including starting and
stopping the worker pool). The engine is imported as `tilewise.engine` whatever the checkout
folder is called (see bench/_common.py). A benchmark, not a test.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (MAX_DISTANCE, SIZE, SMOOTHING, Timer, import_engine,  # noqa: E402
                     pipeline_parser, split_options)


def run(src_path, outdir, workers, tile_size=0, options=(), band=1, start_method="spawn",
        verbose=True):
    """Run the pipeline through the engine; return {step: seconds}."""
    engine = import_engine()
    filters = engine.filters
    os.makedirs(outdir, exist_ok=True)
    out = {name: os.path.join(outdir, f"{name}.tif") for name in ("mask", "filled", "smooth")}
    t = Timer(verbose, prefix="engine ")
    t0 = time.perf_counter()
    with engine.Engine(workers=workers, tile_size=tile_size, start_method=start_method) as eng:
        t.record("start", time.perf_counter() - t0)
        with t("read"):
            dsm = eng.open(src_path)
        with t("mask"):
            mask = eng.apply(filters.nodata_mask, dsm, band=band)
            eng.write(mask, out["mask"], options=list(options))
            eng.release(mask)
        with t("fill"):
            filled = eng.apply(filters.fill_nodata, dsm, band=band, max_distance=MAX_DISTANCE,
                               smoothing_iterations=SMOOTHING)
            eng.write(filled, out["filled"], options=list(options))
            eng.release(dsm)
        with t("mean"):
            smooth = eng.apply(filters.mean, filled, size=SIZE, band=None)
            eng.write(smooth, out["smooth"], options=list(options))
            eng.release(filled, smooth)
        t1 = time.perf_counter()
    t.record("stop", time.perf_counter() - t1)
    t.print_total()
    return t.times


def main(argv=None):
    p = pipeline_parser(__doc__)
    p.add_argument("--workers", type=int, required=True, help="0 = all cores, 1 = no pool")
    p.add_argument("--tile-size", type=int, default=0, help="0 = auto [0]")
    p.add_argument("--start-method", default="spawn", choices=("spawn", "forkserver", "fork"))
    a = p.parse_args(argv)
    run(a.input, a.outdir, a.workers, a.tile_size, split_options(a.options), a.band, a.start_method)
    return 0


if __name__ == "__main__":
    sys.exit(main())
