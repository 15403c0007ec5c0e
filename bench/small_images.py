#!/usr/bin/env python3
"""Small images (<= 1 Mpx) against an earlier revision, side by side in one run.

    /usr/bin/python3 bench/small_images.py [--rev b294aa9] [--size 1000] [--repeat 7]

The issue of streaming asks that images of 1 Mpx or less be no slower than before it.
This runs the same work with this checkout and with the engine of ``--rev`` (a git
revision, exported with ``git archive`` into a temporary folder), in turn, each in its own
process, on the same files:

* ``mean file``: mean 3x3, file to file, the way a QGIS algorithm runs it in each
  version: ``Engine.stream`` here where the algorithms stream by default, and
  ``open`` + ``apply`` + ``write`` in a revision without ``Engine.stream``;
* ``fill file``: fillnodata (max distance 100), file to file, likewise;
* ``seed memory``: the seed pipeline (mask, fill 100, mean 3x3) fused, in memory.

Input: a synthetic float32 DSM with 10 % elliptical holes (scripts/make_dsm.py), 1 worker
count as the algorithms' default (all cores). Prints each median and the ratio
revision / this checkout (> 1: this checkout is faster). A benchmark, not a test.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

CHILD = r"""
import os, sys, time, json
sys.path.insert(0, sys.argv[1])
os.environ.pop("TILEWISE_MIN_PARALLEL_PIXELS", None)
import tilewise.engine as tw
src, work, case, repeat = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
filters = tw.filters
times = []
with tw.Engine() as eng:
    def file_to_file(filt, params):
        dst = os.path.join(work, case + ".tif")
        if os.path.exists(dst):
            os.unlink(dst)
        if hasattr(eng, "stream"):
            eng.stream(filt, [src], [dst], **params)
        else:
            raster = eng.open(src)
            out = eng.apply(filt, raster, **params)
            eng.write(out, dst)
            eng.release(raster, out)
    def seed_memory():
        p = tw.Pipeline(["dsm"])
        p.add("mask", filters.nodata_mask, "dsm")
        p.add("filled", filters.fill_nodata, ["dsm", "mask"], max_distance=100)
        p.add("smooth", filters.mean, "filled", size=3)
        raster = eng.open(src)
        out = eng.run(p, {"dsm": raster}, keep=["mask", "smooth"])
        eng.release(raster, *out.values())
    run = {"mean file": lambda: file_to_file(filters.mean, {"size": 3}),
           "fill file": lambda: file_to_file(filters.fill_nodata, {"max_distance": 100}),
           "seed memory": seed_memory}[case]
    run()  # warm-up: imports, worker start-up, GDAL
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""

CASES = ("mean file", "fill file", "seed memory")


def export(rev, folder):
    """The tree of ``rev`` in ``folder``/tilewise (git archive)."""
    target = os.path.join(folder, "tilewise")
    os.makedirs(target)
    archive = subprocess.run(["git", "-C", REPO, "archive", rev], check=True,
                             capture_output=True).stdout
    with tempfile.TemporaryFile() as handle:
        handle.write(archive)
        handle.seek(0)
        with tarfile.open(fileobj=handle) as tar:
            tar.extractall(target)
    return folder


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", default="b294aa9", help="the earlier revision [b294aa9: before "
                   "the streaming issue's work]")
    p.add_argument("--size", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=7, help="timed runs per process [7]")
    p.add_argument("--rounds", type=int, default=3, help="processes per version, in turn [3]")
    a = p.parse_args(argv)
    sys.path.insert(0, os.path.join(REPO, "scripts"))
    import make_dsm
    import numpy as np
    import rasterio
    with tempfile.TemporaryDirectory(prefix="tilewise-small-") as work:
        here = os.path.join(work, "here")
        os.makedirs(here)
        os.symlink(REPO, os.path.join(here, "tilewise"))
        there = export(a.rev, os.path.join(work, "rev"))
        dsm, _ = make_dsm.make_dsm((a.size, a.size), seed=0, holes=0.10, nodata=-9999.0,
                                   hole_shape="ellipses")
        src = os.path.join(work, "dsm.tif")
        with rasterio.open(src, "w", driver="GTiff", count=1, height=a.size, width=a.size,
                           dtype="float32", nodata=-9999.0,
                           transform=rasterio.Affine(1, 0, 0, 0, -1, a.size)) as dst:
            dst.write(np.asarray(dsm, dtype="float32")[None])
        print(f"bench/small_images.py: {a.size}^2 float32, 10 % holes; this checkout against "
              f"{a.rev}; {a.rounds} processes x {a.repeat} runs each; {os.cpu_count()} CPUs")
        got = {(case, v): [] for case in CASES for v in ("here", "rev")}
        for r in range(a.rounds):
            for case in CASES:
                order = ("here", "rev") if r % 2 == 0 else ("rev", "here")
                for version in order:
                    root = here if version == "here" else there
                    out = subprocess.run([sys.executable, "-c", CHILD, root, src, work, case,
                                          str(a.repeat)], capture_output=True, text=True)
                    if out.returncode:
                        raise SystemExit(f"{version} {case} failed:\n{out.stderr[-2000:]}")
                    got[(case, version)] += __import__("json").loads(out.stdout.splitlines()[-1])
        print(f"\n{'case':<12} {'this (s)':>9} {a.rev + ' (s)':>12} {'ratio':>7}")
        for case in CASES:
            mine = statistics.median(got[(case, "here")])
            theirs = statistics.median(got[(case, "rev")])
            print(f"{case:<12} {mine:9.3f} {theirs:12.3f} {theirs / mine:6.2f}x")
        print("ratio = revision / this checkout: >= 1.00 means no slower (target)")


if __name__ == "__main__":
    main()
