#!/usr/bin/python3
"""Engine vs serial seed pipeline: wall times side by side, and an output check.

Usage:
    /usr/bin/python3 bench/compare_seed.py [--size 6000] [--workers 2] [--repeat 3]
        [--input DSM.tif] [--tile-size 0] [--options "COMPRESS=DEFLATE|NUM_THREADS=ALL_CPUS"]
        [--seed 0] [--holes 0.02] [--outdir DIR] [--keep]

Generates a synthetic DSM with scripts/make_dsm.py (unless --input is given), then runs
bench/seed_pipeline.py's and bench/serial_pipeline.py's pipelines in this one process,
--repeat times each, alternating which goes first, and prints the median time of each step,
the median totals and their ratio. Then it compares the last outputs: mask.tif and
filled.tif must be bit-identical, smooth.tif equal within float rounding (same nodata
pixels, relative difference <= 1e-6). Exits 1 if the outputs differ. A benchmark for people
to run, not a test: nothing here asserts on time.
"""
import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np
import rasterio

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_pipeline  # noqa: E402
import serial_pipeline  # noqa: E402
from _common import (DEFAULT_OPTIONS, OUTPUTS, import_make_dsm, size_arguments,  # noqa: E402
                     split_options)

RTOL = 1e-6


def read(path):
    with rasterio.open(path) as src:
        meta = dict(dtype=src.dtypes[0], count=src.count, nodata=src.nodata, crs=src.crs,
                    transform=src.transform, shape=(src.height, src.width))
        return src.read(), meta


def same_nodata(a, b):
    return (a is None and b is None) or (a is not None and b is not None
                                         and (a == b or (np.isnan(a) and np.isnan(b))))


def compare(engine_dir, serial_dir):
    """Print a check per output; return True if all match."""
    ok = True
    for name in OUTPUTS:
        (e, em), (s, sm) = read(os.path.join(engine_dir, name)), read(os.path.join(serial_dir, name))
        notes = [f"{k} {em[k]} vs {sm[k]}" for k in ("dtype", "count", "shape", "crs", "transform")
                 if em[k] != sm[k]]
        if not same_nodata(em["nodata"], sm["nodata"]):
            notes.append(f"nodata {em['nodata']} vs {sm['nodata']}")
        if e.shape != s.shape or e.dtype != s.dtype:
            print(f"  {name:<11} MISMATCH: {'; '.join(notes)}")
            ok = False
            continue
        if name != "smooth.tif":
            diff = int(np.count_nonzero(e.view(f"u{e.itemsize}") != s.view(f"u{s.itemsize}")))
            good = diff == 0
            detail = "bit-identical" if good else f"{diff} pixels differ"
        else:
            nd = em["nodata"]
            e_bad = serial_pipeline.nodata_of(e, nd)
            s_bad = serial_pipeline.nodata_of(s, nd)
            bad_diff = int(np.count_nonzero(e_bad != s_bad))
            both = ~(e_bad | s_bad)
            ev, sv = e[both].astype(np.float64), s[both].astype(np.float64)
            absdiff = np.abs(ev - sv)
            rel = float((absdiff / np.maximum(np.abs(sv), 1e-30)).max()) if ev.size else 0.0
            ndiff = int(np.count_nonzero(absdiff))
            good = bad_diff == 0 and rel <= RTOL
            detail = (f"{ndiff} of {ev.size} values differ, max abs {absdiff.max() if ev.size else 0:.3g}, "
                      f"max rel {rel:.3g}; nodata pixels differing: {bad_diff}")
        print(f"  {name:<11} {'OK' if good else 'MISMATCH'}: {detail}"
              + (f"  (metadata: {'; '.join(notes)})" if notes else ""))
        ok &= good
    return ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--input", help="DSM to use instead of generating one")
    size_arguments(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holes", type=float, default=0.02)
    p.add_argument("--tile-size", type=int, default=0)
    p.add_argument("--options", default=DEFAULT_OPTIONS)
    p.add_argument("--outdir", help="work folder (default: a temporary one)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    a = p.parse_args(argv)
    options = split_options(a.options)

    outdir = a.outdir or tempfile.mkdtemp(prefix="tilewise-bench-")
    os.makedirs(outdir, exist_ok=True)
    try:
        src = a.input
        if not src:
            md = import_make_dsm()
            src = os.path.join(outdir, "dsm.tif")
            t0 = time.perf_counter()
            md.write_dsm(src, *md.make_dsm((a.size, a.size), a.seed, a.holes))
            print(f"generated {src} ({a.size}x{a.size}) in {time.perf_counter() - t0:.1f} s")
        with rasterio.open(src) as ds:
            print(f"input {src}: {ds.width}x{ds.height} {ds.dtypes[0]}, nodata {ds.nodata}")
        print(f"engine: workers={a.workers} tile_size={a.tile_size}; options {'|'.join(options)}; "
              f"cpus {os.cpu_count()}")

        runs = {"engine": [], "serial": []}
        pipelines = {
            "engine": lambda: seed_pipeline.run(src, os.path.join(outdir, "engine"), a.workers,
                                                a.tile_size, options, verbose=False),
            "serial": lambda: serial_pipeline.run(src, os.path.join(outdir, "serial"), options,
                                                  verbose=False),
        }
        for i in range(a.repeat):
            for name in (("engine", "serial") if i % 2 == 0 else ("serial", "engine")):
                times = pipelines[name]()
                runs[name].append(times)
                print(f"run {i + 1}/{a.repeat} {name:<6} {sum(times.values()):7.2f} s", flush=True)

        steps = list(dict.fromkeys(k for r in runs["engine"] + runs["serial"] for k in r))
        med = {n: {k: statistics.median(r.get(k, 0.0) for r in runs[n]) for k in steps} for n in runs}
        tot = {n: statistics.median(sum(r.values()) for r in runs[n]) for n in runs}
        print(f"\nmedian of {a.repeat} (s)   engine   serial")
        for k in steps:
            print(f"  {k:<18} {med['engine'][k]:7.2f}  {med['serial'][k]:7.2f}")
        print(f"  {'total':<18} {tot['engine']:7.2f}  {tot['serial']:7.2f}")
        print(f"serial / engine = {tot['serial'] / tot['engine']:.2f}x "
              f"(> 1: the engine is faster)\n")

        print("output check (engine vs serial):")
        ok = compare(os.path.join(outdir, "engine"), os.path.join(outdir, "serial"))
        print("outputs match" if ok else "OUTPUTS DIFFER")
        return 0 if ok else 1
    finally:
        if not a.outdir and not a.keep:
            shutil.rmtree(outdir, ignore_errors=True)
        elif not a.outdir:
            print(f"kept {outdir}")


if __name__ == "__main__":
    sys.exit(main())
