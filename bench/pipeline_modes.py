#!/usr/bin/python3
"""The seed pipeline chained through files vs fused in memory: time and total peak memory.

Usage:
    /usr/bin/python3 bench/pipeline_modes.py [--size 6000] [--workers 2] [--repeat 3]
        [--input DSM.tif] [--options "COMPRESS=DEFLATE|PREDICTOR=3"]

Modes, each run in its own process, file to file, on the same DSM:
  files        three separate engine runs chained by files, as three Processing algorithm
               runs would be: nodata mask -> mask.tif; fill (with mask.tif) -> filled.tif;
               mean -> smooth.tif. Each run starts its own worker pool and reads its inputs.
  fused        one Engine.run of the same three steps as a fused Pipeline, writing only
               smooth.tif (the final result).
  fused-all    the fused Pipeline keeping and writing mask.tif, filled.tif and smooth.tif.
Repeats each mode, alternating the order, and prints median wall time, median peak memory
summed over all processes (PSS, shared memory included), and ratios against "files".
Outputs are compared: the fused ones must be bit-identical to the chained ones.
A benchmark for people to run: nothing here asserts on time.
"""

import argparse
import os
import sys
import tempfile

import numpy as np
import rasterio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (MAX_DISTANCE, SIZE, alternate, import_engine, input_dsm,  # noqa
                     print_medians, size_arguments, split_options)
from _measure import measure  # noqa: E402

MODES = ("files", "fused", "fused-all")


def run_mode(mode, src, outdir, workers, options):
    """The work of one mode, in this process."""
    engine = import_engine()
    f = engine.filters
    out = {n: os.path.join(outdir, f"{n}.tif") for n in ("mask", "filled", "smooth")}
    if mode == "files":
        with engine.Engine(workers=workers) as eng:
            eng.write(eng.apply(f.nodata_mask, eng.open(src)), out["mask"], options)
        with engine.Engine(workers=workers) as eng:
            filled = eng.apply(f.fill_nodata, [eng.open(src), eng.open(out["mask"])],
                               max_distance=MAX_DISTANCE)
            eng.write(filled, out["filled"], options)
        with engine.Engine(workers=workers) as eng:
            eng.write(eng.apply(f.mean, eng.open(out["filled"]), size=SIZE), out["smooth"],
                      options)
        return
    seed = (engine.Pipeline(["dsm"])
            .add("mask", f.nodata_mask, "dsm")
            .add("filled", f.fill_nodata, ["dsm", "mask"], max_distance=MAX_DISTANCE)
            .add("smooth", f.mean, "filled", size=SIZE))
    keep = ["smooth"] if mode == "fused" else ["mask", "filled", "smooth"]
    with engine.Engine(workers=workers) as eng:
        dsm = eng.open(src)
        results = eng.run(seed, {"dsm": dsm}, keep=keep, fuse=True)
        eng.release(dsm)
        for name, raster in results.items():
            eng.write(raster, out[name], options)
            eng.release(raster)


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_arguments(p)
    p.add_argument("--input")
    p.add_argument("--options", default="COMPRESS=DEFLATE|PREDICTOR=3")
    p.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)   # child process
    p.add_argument("--src", help=argparse.SUPPRESS)
    p.add_argument("--outdir", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    options = split_options(a.options)
    if a.mode:
        run_mode(a.mode, a.src, a.outdir, a.workers, options)
        return 0
    work = tempfile.mkdtemp(prefix="tilewise-modes-")
    src = input_dsm(a.input, work, a.size)

    def run(mode):
        outdir = os.path.join(work, mode)
        os.makedirs(outdir, exist_ok=True)
        return measure([sys.executable, __file__, "--mode", mode, "--src", src, "--outdir",
                        outdir, "--workers", str(a.workers), "--options", a.options])[:2]

    times, peaks = alternate(MODES, a.repeat, run)
    print(f"\nseed pipeline, {a.workers} workers, options {a.options}, input {src}")
    print_medians(MODES, times, peaks)
    same = all(np.array_equal(_read(os.path.join(work, "files", f"{n}.tif")),
                              _read(os.path.join(work, "fused-all", f"{n}.tif")), equal_nan=True)
               for n in ("mask", "filled", "smooth"))
    same &= np.array_equal(_read(os.path.join(work, "files", "smooth.tif")),
                           _read(os.path.join(work, "fused", "smooth.tif")), equal_nan=True)
    print("outputs bit-identical:", same)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
