#!/usr/bin/python3
"""One file-to-file run of one case by one in-process method (run by bench/run.py, measured).

Usage: /usr/bin/python3 bench/child.py CASE METHOD SRC OUT COMPRESSION [--tile-size T]
METHOD: engine (2 workers), tiled-serial (engine, 1 worker, tile T), serial (whole image),
threads (thread pool over tiles), dask (map_overlap). Raster outputs are float32 GeoTIFFs
with COMPRESSION's options (bench/data.py); statistics are written as JSON.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rasterio  # noqa: E402

import cases  # noqa: E402
import data  # noqa: E402
import peers  # noqa: E402
from _common import import_engine  # noqa: E402

METHODS = ("engine", "tiled-serial", "serial", "threads", "dask")


def run_engine(case, src, out, options, workers, tile_size):
    tw = import_engine()
    with tw.Engine(workers=workers, tile_size=tile_size) as eng:
        if case.holds_gil:
            eng.prepare(tw.filters.fill_nodata)  # as the algorithms do: workers boot meanwhile
        raster = eng.open(src)
        result = case.engine(eng, tw, raster)
        eng.release(raster)
        if case.stats:
            with open(out, "w") as f:
                json.dump(result, f)
        else:
            eng.write(result, out, options)


def run_peer(case, method, src, out, options):
    with rasterio.open(src) as ds:
        array, nodata, profile = ds.read(), ds.nodata, ds.profile
    if case.stats:
        with open(out, "w") as f:
            json.dump(case.reference(array, nodata), f)
        return
    if method == "serial":
        result = case.reference(array, nodata)
    else:
        tiled = peers.threaded if method == "threads" else peers.dask_overlap
        result = tiled(case.reference, array, nodata, case.margin, case.out_count, "float32")
    del array
    out_nodata = float("nan") if nodata is None or case.name == "ndvi" else nodata
    profile.update(count=result.shape[0], dtype=result.dtype.name, nodata=out_nodata,
                   num_threads="ALL_CPUS", tiled=False)
    for key in ("blockxsize", "blockysize", "compress", "predictor"):
        profile.pop(key, None)
    profile.update(dict(o.lower().split("=", 1) for o in options))
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(result)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("case", choices=list(cases.BY_NAME))
    p.add_argument("method", choices=METHODS)
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("compression", choices=data.COMPRESSIONS)
    p.add_argument("--tile-size", type=int, default=0)
    a = p.parse_args(argv)
    case = cases.BY_NAME[a.case]
    options = data.creation_options(a.compression, "float32")
    if a.method in ("engine", "tiled-serial"):
        run_engine(case, a.src, a.out, options, 2 if a.method == "engine" else 1, a.tile_size)
    else:
        run_peer(case, a.method, a.src, a.out, options)
    return 0


if __name__ == "__main__":
    sys.exit(main())
