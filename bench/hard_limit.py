#!/usr/bin/python3
"""Issue 12's bounded-memory target under a hard limit, by hand (root, cgroup v1).

    sudo /usr/bin/python3 bench/hard_limit.py [--size 20000] [--memory-mb 256]
        [--headroom-mb 700] [--input FILE] [--work DIR]

Runs ``qgis_process.bin`` for ``tilewise:meanfilter``, ``tilewise:fillnodata`` and the seed
pipeline (``tilewise:pipeline`` with resources/pipelines/seed.json) on a --size float32 DSM
with 10 % elliptical holes (written strip by strip; or --input), with MEMORY=--memory-mb, each in a
cgroup v1 memory group limited to the budget + --headroom-mb for all its processes together
(memory and swap), then the same command without a limit, in memory (TILEWISE_STREAM=0),
and compares the outputs byte for byte, strip by strip. Prints each run's exit code,
its group's peak (the written files' page cache counts too: a peak at the limit is that
cache being reclaimed), the limit hits and the seconds. Exits 1 if a limited run fails or an
output differs. Too long for CI at 20000² (about 3 minutes); CI runs the same at 114 MiB
(tests/qgis/test_streaming_qgis_process.py).
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from rasterio.windows import Window  # noqa: E402

from _common import MAX_DISTANCE, REPO, qgis_process_env  # noqa: E402
from streaming import write_big_dsm  # noqa: E402

sys.path.insert(0, os.path.join(REPO, "tests"))
import qgis_helpers  # noqa: E402

QGIS_PROCESS = qgis_helpers.QGIS_PROCESS


def run(name, argv, env, limit_mib=None):
    group = f"tilewise-bench-{os.getpid()}-{name.replace(' ', '-')}"
    with qgis_helpers.memory_group(group, limit_mib) as (wrap, usage):
        t0 = time.perf_counter()
        done = subprocess.run([*wrap, QGIS_PROCESS, "run", *argv], env=env,
                              capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        peak, hits = usage()
    print(f"  {name:<12} exit {done.returncode:>3}, peak {peak / 2**20:6.0f} MiB, "
          f"limit hit {hits} times, {seconds:6.1f} s"
          + (f"   (limit {limit_mib} MiB)" if limit_mib else "   (no limit, in memory)"),
          flush=True)
    if done.returncode != 0:
        print(done.stdout[-1500:], done.stderr[-1500:])
    return done.returncode


def identical(a, b):
    with rasterio.open(a) as x, rasterio.open(b) as y:
        if (x.shape, x.count, x.dtypes, x.nodata) != (y.shape, y.count, y.dtypes, y.nodata):
            return False
        for r in range(0, x.height, 1024):
            w = Window(0, r, x.width, min(1024, x.height - r))
            if not np.array_equal(x.read(window=w).view(np.uint8),
                                  y.read(window=w).view(np.uint8)):
                return False
    return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=int, default=20000)
    p.add_argument("--memory-mb", type=int, default=256)
    p.add_argument("--headroom-mb", type=int, default=700)
    p.add_argument("--input")
    p.add_argument("--work")
    a = p.parse_args()
    if not os.access(qgis_helpers.CGROUP_MEMORY, os.W_OK):
        sys.exit(f"{qgis_helpers.CGROUP_MEMORY} is not writable: run as root on cgroup v1")
    work = a.work or tempfile.mkdtemp(prefix="tilewise-hard-limit-")
    os.makedirs(work, exist_ok=True)
    src = a.input or write_big_dsm(os.path.join(work, f"dsm-{a.size}.tif"), a.size, 0.10, 0)
    env = qgis_process_env(work)
    env["TILEWISE_CACHE"] = "0"
    seed = os.path.join(REPO, "resources", "pipelines", "seed.json")
    jobs = {
        "mean": (["tilewise:meanfilter", "--", f"INPUT={src}", "SIZE=3"], "OUTPUT", ["out.tif"]),
        "fill": (["tilewise:fillnodata", "--", f"INPUT={src}", "BAND=1",
                  f"MAX_DISTANCE={MAX_DISTANCE}", "SMOOTHING_ITERATIONS=0"], "OUTPUT",
                 ["out.tif"]),
        "seed": (["tilewise:pipeline", "--", f"PIPELINE={seed}", f"INPUTS={src}"],
                 "OUTPUT_FOLDER", ["mask.tif", "filled.tif", "smooth.tif"]),
    }
    limit = a.memory_mb + a.headroom_mb
    print(f"{src}: MEMORY={a.memory_mb}, hard limit {limit} MiB, 2 workers")
    failed = False
    for name, (argv, key, files) in jobs.items():
        outs = {}
        for mode in ("limited", "free"):
            folder = os.path.join(work, f"{name}-{mode}")
            os.makedirs(folder, exist_ok=True)
            target = folder if key == "OUTPUT_FOLDER" else os.path.join(folder, files[0])
            args = argv + ["WORKERS=2", f"{key}={target}"]
            if mode == "limited":
                code = run(f"{name} {mode}", args + [f"MEMORY={a.memory_mb}"], env, limit)
            else:
                code = run(f"{name} {mode}", args, dict(env, TILEWISE_STREAM="0"))
            failed |= code != 0
            outs[mode] = [os.path.join(folder, f) for f in files]
        for x, y in zip(outs["limited"], outs["free"]):
            same = os.path.exists(x) and os.path.exists(y) and identical(x, y)
            failed |= not same
            print(f"  {name} {os.path.basename(x)}: "
                  f"{'identical to the run in memory' if same else 'DIFFERS'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
