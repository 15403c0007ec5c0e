#!/usr/bin/python3
"""The seed model through qgis_process, with and without the shared-memory cache, and the
tilewise:pipeline algorithm (fused): median wall time and total peak memory, side by side.

Usage:
    /usr/bin/python3 bench/model_cache.py [--size 6000] [--repeat 3] [--input DSM.tif]
        [--options "COMPRESS=DEFLATE|PREDICTOR=3"]

Modes, each one ``qgis_process.bin run`` (a fresh QGIS process), file to file, on the same
DSM, every mode writing mask.tif, filled.tif and smooth.tif:
  model-nocache   resources/models/seed_pipeline.model3 with TILEWISE_CACHE=0: each of the
                  three algorithms reads its inputs from the files the previous one wrote.
  model-cache     the same model, cache on (the default): fillnodata takes the mask and
                  meanfilter the filled DSM from shared memory instead of decoding the files.
  pipeline-fused  tilewise:pipeline on resources/pipelines/seed.json with FUSE=always: one
                  pass over the tiles, the DSM read once, nothing read back.
The model's algorithms use WORKERS=0 (all cores; a model parameter does not set it), so the
pipeline does too. OPTIONS apply to the pipeline's outputs only: the model writes plain
GeoTIFFs, so the default here is no options (same work in every mode).
Repeats each mode, alternating the order, and prints the median wall time, the median peak
memory summed over all processes (PSS, shared memory included; bench/_measure.py) and ratios
against model-nocache. Outputs are compared: all modes must be bit-identical.
QGIS start-up (about a second) is inside every time. Nothing here asserts on time.
"""

import argparse
import os
import shutil
import sys
import tempfile

import numpy as np
import rasterio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _common import (REPO, alternate, input_dsm, print_medians,  # noqa: E402
                     qgis_process_env, size_arguments)
from _measure import measure  # noqa: E402

QGIS_PROCESS = "/usr/bin/qgis_process.bin"
MODEL = os.path.join(REPO, "resources", "models", "seed_pipeline.model3")
PIPELINE = os.path.join(REPO, "resources", "pipelines", "seed.json")
MODES = ("model-nocache", "model-cache", "pipeline-fused")
NAMES = ("mask", "filled", "smooth")


def command(mode, src, outdir, options):
    out = {n: os.path.join(outdir, f"{n}.tif") for n in NAMES}
    if mode.startswith("model"):
        return [QGIS_PROCESS, "run", MODEL, "--", f"DSM={src}",
                f"nodatamask:Nodata mask={out['mask']}", f"fillnodata:Filled DSM={out['filled']}",
                f"meanfilter:Smoothed DSM={out['smooth']}"]
    return [QGIS_PROCESS, "run", "tilewise:pipeline", "--", f"PIPELINE={PIPELINE}",
            f"INPUTS={src}", "FUSE=1", "WORKERS=0", f"OPTIONS={options}",
            f"OUTPUT_FOLDER={outdir}"]


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size_arguments(p, workers=None)
    p.add_argument("--input")
    p.add_argument("--options", default="")
    p.add_argument("--keep", action="store_true", help="keep the work folder")
    a = p.parse_args(argv)
    if not os.access(QGIS_PROCESS, os.X_OK):
        raise SystemExit(f"{QGIS_PROCESS} not found")
    work = tempfile.mkdtemp(prefix="tilewise-model-cache-")
    try:
        env = qgis_process_env(work)
        src = input_dsm(a.input, work, a.size)

        def run(mode):
            outdir = os.path.join(work, mode)
            shutil.rmtree(outdir, ignore_errors=True)
            os.makedirs(outdir)
            mode_env = dict(env, TILEWISE_CACHE="0") if mode == "model-nocache" else env
            return measure(command(mode, src, outdir, a.options), env=mode_env)[:2]

        times, peaks = alternate(MODES, a.repeat, run)
        with rasterio.open(src) as ds:
            shape = f"{ds.width} x {ds.height} {ds.dtypes[0]}"
        print(f"\nseed pipeline through qgis_process.bin, WORKERS=0 ({os.cpu_count()} cores), "
              f"input {src} ({shape}), {a.repeat} runs per mode")
        print_medians(MODES, times, peaks)
        same = all(np.array_equal(_read(os.path.join(work, MODES[0], f"{n}.tif")),
                                  _read(os.path.join(work, mode, f"{n}.tif")), equal_nan=True)
                   for mode in MODES[1:] for n in NAMES)
        print("outputs bit-identical:", same)
        return 0 if same else 1
    finally:
        if a.keep:
            print("work folder:", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
