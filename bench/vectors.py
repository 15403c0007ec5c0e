#!/usr/bin/python3
"""Rasters meet vectors: Tilewise against QGIS's native algorithms, exactextract and
gdal_rasterize (command line and gdal:rasterize), side by side in one run, through the real
qgis_process.bin (start-up included).

    /usr/bin/python3 bench/vectors.py [--size 6000] [--polygons 20000] [--points 200000]
        [--mask-size 10980] [--mask-polygons 5000] [--workers 2] [--repeat 1]
        [--only zonal,sample,mask] [--exactextract /tmp/benchvenv/bin/python] [--outdir DIR]

Data: a synthetic float32 DSM (scripts/make_dsm.py) with 10 % nodata, uncompressed and tiled;
circles of radius 20-200 px (64 vertices) at random; random points; for the mask, a
10980 x 10980 grid and circles of radius 10-300 px. Zonal statistics: count, sum, mean,
stdev, min, max. exactextract (0.3.0, feature-sequential, in its own venv:
``/usr/bin/python3 -m venv --system-site-packages /tmp/benchvenv && /tmp/benchvenv/bin/pip
install exactextract==0.3.0``) is timed as a whole process, like qgis_process. The outputs are
compared: count/sum/mean/stdev/min/max against native:zonalstatisticsfb (polygons holding at
least two pixel centres), samples against native:rastersampling, the mask against
gdal_rasterize. Ratios are peer time / Tilewise time (median of --repeat runs). Sampling is
also timed in one headless QGIS process (processing.run, QGIS's start-up and a warm-up run
excluded), as bench/streaming.py's fill-qgis case does. The mask
is also compared with gdal:rasterize run through the same qgis_process (the peer a QGIS user
would pick), and the engine API (write_geometry_mask in a Python process) with the
gdal_rasterize command line. In the sampling and mask cases each algorithm is run once
untimed through qgis_process before it is timed (bytecode and page caches warm), Python's
bytecode cached in --outdir.
"""
import argparse
import atexit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))

from _common import import_make_dsm, size_arguments  # noqa: E402

STATS = ["count", "sum", "mean", "stdev", "min", "max"]
STAT_CODES = "0,1,2,4,5,6"


def write_dsm(path, size):
    import rasterio
    make_dsm = import_make_dsm()
    array, profile = make_dsm.make_dsm((size, size), seed=0, holes=0.10)
    profile.update(compress=None, predictor=None)
    profile = {k: v for k, v in profile.items() if v is not None}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array, 1)
    return profile


def _new_layer(path, profile, name, geometry_type, field):
    """A new GeoPackage ``path`` (replacing one there) with one layer in the raster's CRS and
    one integer ``field``, a transaction open: ``(data source, layer)``."""
    from osgeo import ogr, osr
    drv = ogr.GetDriverByName("GPKG")
    if os.path.exists(path):
        drv.DeleteDataSource(path)
    ds = drv.CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromWkt(profile["crs"].to_wkt())
    layer = ds.CreateLayer(name, srs, geometry_type)
    layer.CreateField(ogr.FieldDefn(field, ogr.OFTInteger))
    layer.StartTransaction()
    return ds, layer


def write_circles(path, profile, count, rmin, rmax, seed, vertices=64):
    from osgeo import ogr
    t = profile["transform"]
    rng = np.random.default_rng(seed)
    cx = rng.uniform(0, profile["width"], count)
    cy = rng.uniform(0, profile["height"], count)
    r = rng.uniform(rmin, rmax, count)
    a = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    ds, layer = _new_layer(path, profile, "zones", ogr.wkbPolygon, "zone")
    for i in range(count):
        xs = t.c + t.a * (cx[i] + r[i] * np.cos(a))
        ys = t.f + t.e * (cy[i] + r[i] * np.sin(a))
        ring = ", ".join(f"{x!r} {y!r}" for x, y in zip(xs, ys))
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("zone", i)
        feature.SetGeometry(ogr.CreateGeometryFromWkt(
            f"POLYGON (({ring}, {xs[0]!r} {ys[0]!r}))"))
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    del ds  # closes the GeoPackage


def write_points(path, profile, count, seed):
    from osgeo import ogr
    t = profile["transform"]
    rng = np.random.default_rng(seed)
    xs = t.c + t.a * rng.uniform(-10, profile["width"] + 10, count)
    ys = t.f + t.e * rng.uniform(-10, profile["height"] + 10, count)
    ds, layer = _new_layer(path, profile, "points", ogr.wkbPoint, "pid")
    for i in range(count):
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("pid", i)
        point = ogr.Geometry(ogr.wkbPoint)
        point.AddPoint_2D(float(xs[i]), float(ys[i]))
        feature.SetGeometry(point)
        layer.CreateFeature(feature)
    layer.CommitTransaction()
    del ds  # closes the GeoPackage


def read_table(path, key, names):
    """{key value: [field values]} of a vector file's first layer."""
    from osgeo import ogr
    ds = ogr.Open(path)
    layer = ds.GetLayer(0)
    out = {}
    for feature in layer:
        out[feature.GetField(key)] = [feature.GetField(n) for n in names]
    return out


class Runner:
    def __init__(self, outdir):
        import qgis_helpers as qh
        self.qh = qh
        parent = qh.make_plugin_parent_dir(tempfile.mkdtemp(prefix="tw-bench-plugins-"))
        atexit.register(shutil.rmtree, str(parent), True)  # the link, not the checkout
        self.parent = str(parent)
        config = qh.make_qgis_profile(os.path.join(outdir, "qgis-config"))
        self.env = qh.qgis_process_env(config, parent)
        # the sampling and mask cases (warm=True): as an installed plugin (and QGIS's
        # Processing plugin) runs, its bytecode cached; without it (PYTHONDONTWRITEBYTECODE
        # in the environment) every run compiles the sources again, for Tilewise and for
        # Processing alike
        self.warm_env = {k: v for k, v in self.env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.warm_env["PYTHONPYCACHEPREFIX"] = os.path.join(outdir, "pycache")
        self.warmed = set()

    def qgis(self, algorithm, warm=False, **params):
        """Seconds of one qgis_process run of ``algorithm``. With ``warm``, Python's bytecode
        is cached and the first run of each algorithm is a warm-up, not timed (bytecode
        cache, page cache of the inputs)."""
        args = [self.qh.QGIS_PROCESS, "run", algorithm, "--"]
        for name, value in params.items():
            args.append(f"{name}={value}")
        if not warm:
            return self.timed(args, self.env)
        if algorithm not in self.warmed:
            self.warmed.add(algorithm)
            self.timed(args, self.warm_env)
        return self.timed(args, self.warm_env)

    @staticmethod
    def timed(args, env=None):
        start = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(map(str, args))} failed:\n{done.stdout}\n{done.stderr}")
        return seconds


def best_of(repeat, run):
    times = [run() for _ in range(repeat)]
    return statistics.median(times)


def report(rows):
    print()
    print(f"{'case':<44} {'seconds':>9} {'ratio':>8}")
    for name, seconds, ratio in rows:
        r = f"{ratio:7.1f}x" if ratio is not None else ""
        print(f"{name:<44} {seconds:9.2f} {r:>8}")


def versus_native(args, runner, rows, common, ours, native, warm=False):
    """Time the Tilewise algorithm (``ours``: id, what it runs on, output; WORKERS from
    --workers) and, unless --skip-native, QGIS's (``native``: id, output) on the ``common``
    parameters (``warm``: see Runner.qgis); add their rows. Returns the seconds of each
    (native: None when skipped)."""
    ours_id, what, ours_out = ours
    seconds = best_of(args.repeat, lambda: runner.qgis(
        ours_id, warm=warm, **common, WORKERS=args.workers, OUTPUT=ours_out))
    rows.append((f"{ours_id} ({what})", seconds, None))
    print(f"{ours_id} {seconds:.2f} s", flush=True)
    if args.skip_native:
        return seconds, None
    native_id, native_out = native
    native_seconds = best_of(args.repeat, lambda: runner.qgis(
        native_id, warm=warm, **common, OUTPUT=native_out))
    rows.append((native_id, native_seconds, native_seconds / seconds))
    print(f"{native_id} {native_seconds:.2f} s", flush=True)
    return seconds, native_seconds


def bench_zonal(args, runner, dsm, profile, rows):
    polys = os.path.join(args.outdir, "zones.gpkg")
    write_circles(polys, profile, args.polygons, 20, 200, seed=1)
    ours_out = os.path.join(args.outdir, "zonal_tilewise.gpkg")
    native_out = os.path.join(args.outdir, "zonal_native.gpkg")
    common = dict(INPUT=polys, INPUT_RASTER=dsm, RASTER_BAND=1, COLUMN_PREFIX="_",
                  STATISTICS=STAT_CODES)
    ours, native = versus_native(
        args, runner, rows, common,
        ("tilewise:zonalstatistics", f"{args.polygons} polygons", ours_out),
        ("native:zonalstatisticsfb", native_out))
    if native is not None:
        names = ["_" + s for s in STATS]
        a = read_table(native_out, "zone", names)
        b = read_table(ours_out, "zone", names)
        worst, compared = {s: 0.0 for s in STATS}, 0
        for zone, va in a.items():
            vb = b[zone]
            if va[0] is None or va[0] < 2:
                continue
            compared += 1
            for s, x, y in zip(STATS, va, vb):
                worst[s] = max(worst[s], abs(x - y) / max(abs(x), 1e-300))
        print(f"  compared {compared} zones with native; worst relative differences: " +
              ", ".join(f"{s} {v:.1e}" for s, v in worst.items()), flush=True)
    if args.exactextract and os.path.exists(args.exactextract):
        code = ("import json\nfrom exactextract import exact_extract\n"
                f"r = exact_extract({dsm!r}, {polys!r}, {STATS!r}, include_cols=['zone'])\n"
                f"json.dump(r, open({os.path.join(args.outdir, 'zonal_exactextract.json')!r}, "
                "'w'))\n")
        ee = best_of(args.repeat, lambda: runner.timed([args.exactextract, "-c", code]))
        rows.append(("exactextract 0.3.0 (feature-sequential)", ee, ee / ours))
        print(f"exactextract {ee:.2f} s", flush=True)


def bench_sample(args, runner, dsm, profile, rows):
    points = os.path.join(args.outdir, "points.gpkg")
    write_points(points, profile, args.points, seed=2)
    ours_out = os.path.join(args.outdir, "sample_tilewise.gpkg")
    native_out = os.path.join(args.outdir, "sample_native.gpkg")
    common = dict(INPUT=points, RASTERCOPY=dsm, COLUMN_PREFIX="SAMPLE_")
    _, native = versus_native(args, runner, rows, common,
                              ("tilewise:samplepoints", f"{args.points} points", ours_out),
                              ("native:rastersampling", native_out), warm=True)
    if native is not None:
        a = read_table(native_out, "pid", ["SAMPLE_1"])
        b = read_table(ours_out, "pid", ["SAMPLE_1"])
        same = sum(a[k] == b[k] for k in a)
        print(f"  identical samples: {same} of {len(a)} "
              f"({sum(v[0] is None for v in a.values())} NULL)", flush=True)
        # the same two algorithms in one QGIS process (processing.run timed, QGIS's
        # start-up and a warm-up run of each excluded), as bench/streaming.py's fill-qgis
        params = {"tilewise:samplepoints": dict(common, WORKERS=args.workers,
                                                OUTPUT=ours_out),
                  "native:rastersampling": dict(common, OUTPUT=native_out)}
        times = in_one_qgis(args, runner, params)
        ours_s, native_s = (statistics.median(times[k]) for k in params)
        rows.append(("  tilewise:samplepoints, processing.run in one QGIS", ours_s, None))
        rows.append(("  native:rastersampling, processing.run in one QGIS", native_s,
                     native_s / ours_s))
        print(f"in one QGIS process: tilewise {ours_s:.2f} s, native {native_s:.2f} s",
              flush=True)


def in_one_qgis(args, runner, params):
    """``{algorithm: [seconds]}``: ``processing.run`` of each algorithm of ``params`` in one
    headless QGIS process, each run once untimed first, then ``--repeat`` times in turn."""
    import json
    profile = tempfile.mkdtemp(dir=args.outdir, prefix="qgis-profile-")
    code = f"""
import json, os, sys, time
sys.path.insert(0, {os.path.join(REPO, "tests")!r})
import qgis_helpers as qh
qh.start_qgis(qh.make_plugin_parent_dir({runner.parent!r}), {profile!r})
import processing
params = json.loads({json.dumps(params)!r})
def run(alg):
    out = params[alg]["OUTPUT"]
    if os.path.exists(out):
        os.remove(out)
    t = time.perf_counter()
    processing.run(alg, dict(params[alg]))
    return time.perf_counter() - t
for alg in params:
    run(alg)
times = {{alg: [] for alg in params}}
for i in range({args.repeat}):
    for alg in (list(params) if i % 2 == 0 else list(params)[::-1]):
        times[alg].append(run(alg))
print("TIMES " + json.dumps(times))
"""
    env = dict(runner.warm_env, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("TIMES ")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the in-process runs failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(lines[-1][len("TIMES "):])


def bench_mask(args, runner, rows):
    import rasterio
    import rasterio.crs
    from rasterio.transform import from_origin
    size = args.mask_size
    grid = os.path.join(args.outdir, "grid.tif")
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="uint8",
                   crs=rasterio.crs.CRS.from_epsg(32631),
                   transform=from_origin(300000.0, 5000040.0, 10.0, 10.0),
                   tiled=True, sparse_ok=True)
    with rasterio.open(grid, "w", **profile) as dst:
        pass
    polys = os.path.join(args.outdir, "mask_polygons.gpkg")
    write_circles(polys, profile, args.mask_polygons, 10, 300, seed=3)
    ours_out = os.path.join(args.outdir, "mask_tilewise.tif")
    ref_out = os.path.join(args.outdir, "mask_gdal.tif")
    ours = best_of(args.repeat, lambda: runner.qgis(
        "tilewise:geometrymask", warm=True, INPUT=grid, VALID=polys, VALID_VALUE=1,
        INVALID_VALUE=0, WORKERS=args.workers, OUTPUT=ours_out))
    rows.append((f"tilewise:geometrymask ({size}^2, {args.mask_polygons} polygons)", ours,
                 None))
    print(f"tilewise:geometrymask {ours:.2f} s", flush=True)
    t = profile["transform"]
    extent = [str(v) for v in (t.c, t.f + t.e * size, t.c + t.a * size, t.f)]

    def gdal():
        if os.path.exists(ref_out):
            os.remove(ref_out)
        return runner.timed(["gdal_rasterize", "-q", "-burn", "1", "-init", "0", "-ot", "Byte",
                             "-te", *extent, "-ts", str(size), str(size), polys, ref_out])
    api_out = os.path.join(args.outdir, "mask_api.tif")
    code = (f"import sys\nsys.path.insert(0, {runner.parent!r})\n"
            "from osgeo import ogr\n"
            "from tilewise.engine import read_profile\n"
            "from tilewise.engine.vector import write_geometry_mask\n"
            f"ds = ogr.Open({polys!r}); layer = ds.GetLayer(0)\n"
            "wkbs = [bytes(g) for b in layer.GetArrowStreamAsNumPy("
            "options=['USE_MASKED_ARRAYS=NO']) for g in b[layer.GetGeometryColumn()]]\n"
            f"write_geometry_mask({api_out!r}, read_profile({grid!r}), valid=wkbs, "
            f"workers={args.workers})\n")
    api = best_of(args.repeat, lambda: runner.timed([sys.executable, "-c", code]))
    rows.append(("  engine API in a Python process", api, None))
    print(f"engine API {api:.2f} s", flush=True)
    # the burn alone, in this process (polygons already decoded, no file written)
    sys.path.insert(0, runner.parent)
    from osgeo import ogr
    from tilewise.engine.vector import from_wkb, geometry_mask
    ds = ogr.Open(polys)
    layer = ds.GetLayer(0)
    rings = from_wkb([bytes(g) for b in layer.GetArrowStreamAsNumPy(
        options=["USE_MASKED_ARRAYS=NO"]) for g in b[layer.GetGeometryColumn()]])
    ds = layer = None

    def burn_only():
        start = time.perf_counter()
        geometry_mask((size, size), profile["transform"], valid=rings, workers=args.workers)
        return time.perf_counter() - start
    compute = best_of(args.repeat, burn_only)
    rows.append(("  engine burn only (in this process)", compute, None))
    print(f"engine burn only {compute:.2f} s", flush=True)
    ref = best_of(args.repeat, gdal)
    rows.append(("gdal_rasterize command line (one run)", ref, ref / ours))
    rows.append(("  gdal_rasterize CLI / engine burn only", ref, ref / compute))
    rows.append(("  gdal_rasterize CLI / engine API", ref, ref / api))
    print(f"gdal_rasterize {ref:.2f} s", flush=True)
    # the peer a QGIS user would pick: GDAL's rasterize through the same qgis_process
    qgis_out = os.path.join(args.outdir, "mask_gdal_qgis.tif")
    peer = best_of(args.repeat, lambda: runner.qgis(
        "gdal:rasterize", warm=True, INPUT=polys, BURN=1, UNITS=0, WIDTH=size, HEIGHT=size,
        EXTENT=f"{extent[0]},{extent[2]},{extent[1]},{extent[3]} [EPSG:32631]", INIT=0,
        DATA_TYPE=0, OUTPUT=qgis_out))
    rows.append(("gdal:rasterize through qgis_process", peer, peer / ours))
    print(f"gdal:rasterize (qgis_process) {peer:.2f} s", flush=True)
    with rasterio.open(ref_out) as b:
        ref_mask = b.read(1)
    for name, path in (("tilewise:geometrymask", ours_out), ("engine API", api_out),
                       ("gdal:rasterize (qgis_process)", qgis_out)):
        with rasterio.open(path) as a:
            differ = int((a.read(1) != ref_mask).sum())
        print(f"  {name}: pixels that differ from gdal_rasterize: {differ}", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size_arguments(p, repeat=1)
    p.add_argument("--polygons", type=int, default=20000)
    p.add_argument("--points", type=int, default=200000)
    p.add_argument("--mask-size", type=int, default=10980)
    p.add_argument("--mask-polygons", type=int, default=5000)
    p.add_argument("--only", default="zonal,sample,mask")
    p.add_argument("--skip-native", action="store_true")
    p.add_argument("--exactextract", default="/tmp/benchvenv/bin/python")
    p.add_argument("--outdir", default=None)
    args = p.parse_args()
    args.outdir = args.outdir or tempfile.mkdtemp(prefix="tilewise-vectors-")
    os.makedirs(args.outdir, exist_ok=True)
    only = set(args.only.split(","))
    runner = Runner(args.outdir)
    rows = []
    dsm = os.path.join(args.outdir, "dsm.tif")
    profile = None
    if only & {"zonal", "sample"}:
        profile = write_dsm(dsm, args.size)
        print(f"data in {args.outdir}", flush=True)
    if "zonal" in only:
        bench_zonal(args, runner, dsm, profile, rows)
    if "sample" in only:
        bench_sample(args, runner, dsm, profile, rows)
    if "mask" in only:
        bench_mask(args, runner, rows)
    report(rows)


if __name__ == "__main__":
    main()
