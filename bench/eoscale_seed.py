#!/usr/bin/env python3
"""The seed pipeline with EOScale 1.0.0 (https://github.com/CNES/eoscale), file to file.

Usage (in the bench-only venv that has EOScale, see bench/install-peers.sh):
    /tmp/benchvenv/bin/python bench/eoscale_seed.py INPUT OUTDIR --workers N
        [--band 1] [--options "COMPRESS=DEFLATE|NUM_THREADS=ALL_CPUS"] [--tile-mode]

The same pipeline as bench/serial_pipeline.py, written with EOScale's own API: the input is
read into EOScale's shared memory by ``EOContextManager.open_raster``; each step is an
``eo_executors.n_images_to_m_images_filter`` with its stable margin (mask 0, fill 100, mean
1); each output is written by ``EOContextManager.write``. The per-tile functions are the
serial script's own (``nodata_of``, ``rasterio.fill.fillnodata``, ``nodata_mean``), so
EOScale's results differ from the serial ones only where its tiling does. EOScale's default
tiling is used (one horizontal strip per worker) unless ``--tile-mode`` (square tiles).

Writes OUTDIR/mask.tif, OUTDIR/filled.tif, OUTDIR/smooth.tif and prints one line per step
and ``eoscale total  S s`` (from opening the input to the last write; imports excluded, as
for the other pipelines). A benchmark, not a test.
"""
import contextlib
import copy
import io
import os
import sys
import time

import numpy as np
from rasterio.fill import fillnodata

import eoscale.eo_executors as eoexe
import eoscale.manager as eom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (MAX_DISTANCE, SIZE, SMOOTHING, pipeline_parser,  # noqa: E402
                     split_options)
from serial_pipeline import nodata_mean, nodata_of  # noqa: E402

LAYOUT_KEYS = ("tiled", "blockxsize", "blockysize", "compress", "predictor", "interleave",
               "num_threads", "zlevel", "zstd_level", "bigtiff", "photometric")


# -- tile functions: (input buffers, input profiles, parameters) -> output buffer(s) -----------
def mask_filter(inputs, profiles, params):
    band = inputs[0][params["band"] - 1]
    return nodata_of(band, profiles[0]["nodata"]).astype(np.uint8)[None]


def fill_filter(inputs, profiles, params):
    band = inputs[0][params["band"] - 1]
    bad = nodata_of(band, profiles[0]["nodata"])
    filled = fillnodata(band.copy(), mask=(~bad).astype(np.uint8),
                        max_search_distance=MAX_DISTANCE, smoothing_iterations=SMOOTHING)
    return filled.astype(band.dtype, copy=False)[None]


def mean_filter(inputs, profiles, params):
    values = inputs[0]
    return np.stack([nodata_mean(b, profiles[0]["nodata"], SIZE) for b in values])


def output_profile(dtype, nodata, options):
    """The output profile from the input's: one band, ``dtype``, the creation ``options``."""
    def make(profiles, params):
        p = copy.deepcopy(dict(profiles[0]))
        for key in LAYOUT_KEYS:
            p.pop(key, None)
        p.update(driver="GTiff", count=1, dtype=dtype, nodata=nodata)
        p.update({k.lower(): v for k, v in (o.split("=", 1) for o in options)})
        return [p]
    return make


def run(src, outdir, workers, options=(), band=1, tile_mode=False, verbose=True):
    os.makedirs(outdir, exist_ok=True)
    times = {}
    quiet = io.StringIO()  # EOScale prints a line and a tqdm bar per step

    def step(name, t0):
        times[name] = time.perf_counter() - t0
        if verbose:
            print(f"eoscale {name:<8} {times[name]:7.2f} s", flush=True)

    t0 = time.perf_counter()
    with eom.EOContextManager(nb_workers=workers, tile_mode=tile_mode) as ctx:
        dsm = ctx.open_raster(raster_path=src)
        nodata = ctx.get_profile(dsm)["nodata"]
        dtype = ctx.get_profile(dsm)["dtype"]
        step("read", t0)
        params = {"band": band}

        def stage(name, source, image_filter, profile, margin, output):
            """One EOScale filter over ``source`` with its stable margin, written to
            OUTDIR/``output``.tif; timed as ``name``; returns its key."""
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                key = eoexe.n_images_to_m_images_filter(
                    inputs=[source], image_filter=image_filter, filter_parameters=params,
                    generate_output_profiles=profile, stable_margin=margin,
                    context_manager=ctx, filter_desc=name)[0]
                ctx.write(key=key, img_path=os.path.join(outdir, f"{output}.tif"))
            step(name, t0)
            return key

        stage("mask", dsm, mask_filter, output_profile("uint8", None, options), 0, "mask")
        filled = stage("fill", dsm, fill_filter, output_profile(dtype, nodata, options),
                       MAX_DISTANCE, "filled")
        stage("mean", filled, mean_filter, output_profile(dtype, nodata, options), SIZE // 2,
              "smooth")
        t0 = time.perf_counter()
    step("stop", t0)  # releasing EOScale's shared memory
    if verbose:
        print(f"eoscale total   {sum(times.values()):7.2f} s", flush=True)
    return times


def main(argv=None):
    p = pipeline_parser(__doc__)
    p.add_argument("--workers", type=int, required=True)
    p.add_argument("--tile-mode", action="store_true", help="EOScale's square tiles, not strips")
    a = p.parse_args(argv)
    run(a.input, a.outdir, a.workers, split_options(a.options), a.band, a.tile_mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
