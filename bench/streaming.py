#!/usr/bin/python3
"""Issue 12's targets (streaming execution), measured side by side in one run, as ratios.

Usage:
    /usr/bin/python3 bench/streaming.py [--case seed,fill-qgis,compute-fill,overlap,memory]
        [--quick] [--size N] [--repeat 3] [--workers 2] [--holes 0.10] [--seed 0]
        [--options "KEY=VALUE|..."] [--input FILE] [--tile-sizes 0,512,1024,2048]
        [--memory-mb 256] [--baseline-size 256] [--work DIR] [--keep]

Cases (each runnable alone with --case NAME; several comma-separated; default: all):

  seed          The seed pipeline (mask, fill max distance 100 smoothing 0, mean 3x3) file to
                file, writing mask, filled and smooth (uncompressed unless --options), on a
                --size (default 6000) DSM with --holes (10 %) of its pixels in elliptical
                holes of radius 2-60 px (scripts/make_dsm.py --hole-shape ellipses): the
                whole-image serial script (bench/serial_pipeline.py), the engine in memory
                (bench/seed_pipeline.py), the engine streamed (Engine.stream_run of a
                Pipeline of the three steps) and EOScale 1.0.0 at the same number of workers
                (bench/eoscale_seed.py, run by the bench venv's python, see
                bench/install-peers.sh). Mask and filled must be bit-identical to the serial
                script's, smooth within 1e-6 relative. Target: >= 1.7x serial and EOScale.
  fill-qgis     tilewise:fillnodata against gdal:fillnodata in the same headless QGIS process
                (processing.run timed, start-up excluded: one untimed warm-up run of each
                first, which starts the engine's workers) on a --size (default 10980) DSM
                with 10 % elliptical holes; outputs must be identical. Target: >= 2.4x.
  compute-fill  Compute-only fill (data in memory): the engine (--workers) against the best
                tiled serial run (the engine at 1 worker, several tile sizes, the best
                taken; --tile-sizes), as bench/run.py measures it (its compute_only(), at 2
                workers, on the elliptical DSM; default size 10980). Target: >= 1.8x.
  overlap       A --size (default 10980) uint16 raster (bench/data.py's Sentinel-2-like band,
                uncompressed), mean 3x3 to a DEFLATE GeoTIFF: the streamed wall time
                (Engine.stream) against its own phases measured alone: read only (read_into
                into a buffer), compute only (Engine.apply on the raster in memory), write
                only (RasterWriter of the result, DEFLATE). Target: wall / max(phases) <= 1.25.
  memory        Peak working memory of ``qgis_process.bin run tilewise:meanfilter`` and
                ``tilewise:fillnodata`` with MEMORY=--memory-mb (256) on a --size (default
                20000) float32 raster, minus that of the same command on a
                --baseline-size (256) raster. Memory is sampled every 10 ms over the whole
                process tree: PSS summed (each page, shared memory included, counted once)
                and, for reference, RSS summed (pages mapped by several processes counted
                in each). PSS also splits library pages with processes outside the tree
                (other QGIS runs on the machine), so the baseline moves with the machine's
                load; RSS does not, but counts shared memory once per worker mapping it.
                Target: PSS difference <= 1.1 x budget. The raster is written by strips (no
                whole-image array in this process). The page cache (the output file's dirty
                pages, which a cgroup limit also counts) is not in either figure.

--quick: small sizes (1024 px; memory 2048 px with MEMORY=32), 1 repeat: a smoke run.
Every method runs --repeat times, the order alternating run by run; figures are medians.
Nothing here asserts on time: benchmarks are for people to run. Exits 1 if an output check
fails.
"""
import argparse
import inspect
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402
import rasterio  # noqa: E402

from _common import (MAX_DISTANCE, REPO, SIZE, import_engine, import_make_dsm,  # noqa: E402
                     qgis_process_env, split_options)

CASES = ("seed", "fill-qgis", "compute-fill", "overlap", "memory")
DEFAULT_SIZE = {"seed": 6000, "fill-qgis": 10980, "compute-fill": 10980, "overlap": 10980,
                "memory": 20000}
QUICK_SIZE = {"seed": 1024, "fill-qgis": 1024, "compute-fill": 1024, "overlap": 1024,
              "memory": 2048}
BENCH_PYTHON = os.environ.get("TILEWISE_BENCH_PYTHON", "/tmp/benchvenv/bin/python")
QGIS_PROCESS = "/usr/bin/qgis_process.bin"
RTOL = 1e-6
FAILED = []


# -- helpers ------------------------------------------------------------------------------------
def log(message):
    print(message, flush=True)


def median(values):
    return statistics.median(values) if values else float("nan")


def interleaved(methods, repeat, on_run=None):
    """Run each of ``methods`` ({name: fn() -> seconds}) ``repeat`` times, the order
    rotating run by run; returns {name: [seconds]}."""
    names = list(methods)
    times = {n: [] for n in names}
    for i in range(repeat):
        shift = i % len(names)
        order = names[shift:] + names[:shift]
        if i % 2:
            order = order[::-1]
        for name in order:
            seconds = methods[name]()
            times[name].append(seconds)
            log(f"  run {i + 1}/{repeat} {name:<22} {seconds:8.2f} s")
    return times


def table(title, times, reference_names, target=None):
    """Print medians and the ratio of each reference to each other method."""
    med = {n: median(v) for n, v in times.items()}
    log(f"\n{title}: median of {len(next(iter(times.values())))} (s)")
    for name, value in med.items():
        log(f"  {name:<24} {value:8.2f}")
    for ref in reference_names:
        for name, value in med.items():
            if name != ref and name.startswith("engine") and value > 0:
                log(f"  {ref} / {name} = {med[ref] / value:.2f}x"
                    + (f"   (target >= {target}x)" if target else ""))
    return med


def ellipse_dsm(path, size, holes, seed, options=()):
    """A DSM with elliptical holes (make_dsm --hole-shape ellipses), uncompressed by default."""
    md = import_make_dsm()
    t0 = time.perf_counter()
    array, profile = md.make_dsm((size, size), seed, holes, -9999.0, hole_shape="ellipses")
    for key in ("compress", "predictor", "num_threads"):
        profile.pop(key)
    profile.update({k.lower(): v for k, v in (o.split("=", 1) for o in options)})
    md.write_dsm(path, array, profile)
    log(f"generated {path}: {size}x{size} float32, {100 * np.mean(array == -9999.0):.2f} % "
        f"elliptical holes, in {time.perf_counter() - t0:.1f} s")
    return path


def input_dsm(a, work, name="dsm"):
    if a.input:
        return a.input
    return ellipse_dsm(os.path.join(work, f"{name}-{a.size}.tif"), a.size, a.holes, a.seed)


def same_bits(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and \
        np.array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


def read_array(path):
    with rasterio.open(path) as ds:
        return ds.read(), ds.nodata


def check(label, ok, detail):
    log(f"  {label:<40} {'OK' if ok else 'MISMATCH'}: {detail}")
    if not ok:
        FAILED.append(label)


def summary_lines(lines):
    return [m for m in lines if "strip" in m or "recomputed" in m]


# -- seed ---------------------------------------------------------------------------------------
def seed_pipeline_of(tw):
    f = tw.filters
    return (tw.Pipeline(["dsm"])
            .add("mask", f.nodata_mask, "dsm")
            .add("filled", f.fill_nodata, ["dsm", "mask"], max_distance=MAX_DISTANCE,
                 smoothing_iterations=0)
            .add("smooth", f.mean, "filled", size=SIZE))


def case_seed(a, work):
    import compare_seed
    import seed_pipeline
    import serial_pipeline
    tw = import_engine()
    src = input_dsm(a, work)
    options = split_options(a.options)
    dirs = {m: os.path.join(work, "seed-" + m) for m in ("serial", "engine", "stream", "eoscale")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    log(f"seed pipeline: workers {a.workers}, options {'|'.join(options) or '(none)'}")
    messages = []

    def stream():
        t0 = time.perf_counter()
        with tw.Engine(workers=a.workers, log=messages.append) as eng:
            targets = {n: os.path.join(dirs["stream"], f"{n}.tif")
                       for n in ("mask", "filled", "smooth")}
            kwargs = {}
            if "options" in inspect.signature(eng.stream_run).parameters:
                kwargs["options"] = options
            elif options:
                raise SystemExit("Engine.stream_run takes no creation options in this checkout")
            eng.stream_run(seed_pipeline_of(tw), [src], targets, **kwargs)
        return time.perf_counter() - t0

    def eoscale():
        out = subprocess.run([BENCH_PYTHON, os.path.join(HERE, "eoscale_seed.py"), src,
                              dirs["eoscale"], "--workers", str(a.workers), "--options",
                              "|".join(options)], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"eoscale_seed.py failed:\n{out.stderr[-2000:]}")
        return float(re.search(r"eoscale total\s+([\d.]+) s", out.stdout).group(1))

    methods = {
        "serial": lambda: sum(serial_pipeline.run(src, dirs["serial"], options,
                                                  verbose=False).values()),
        "engine in memory": lambda: sum(seed_pipeline.run(src, dirs["engine"], a.workers, 0,
                                                          options, verbose=False).values()),
        "engine streamed": stream,
    }
    have_eoscale = subprocess.run([BENCH_PYTHON, "-c", "import eoscale"],
                                  capture_output=True).returncode == 0 \
        if os.path.exists(BENCH_PYTHON) else False
    if have_eoscale:
        methods["eoscale"] = eoscale
    else:
        log(f"  EOScale skipped: no eoscale in {BENCH_PYTHON} (bash bench/install-peers.sh)")
    times = interleaved(methods, a.repeat)
    med = table("seed pipeline, file to file", times, [], None)
    for ref in ("serial", "eoscale"):
        for name in ("engine in memory", "engine streamed"):
            if ref in med:
                log(f"  {ref} / {name} = {med[ref] / med[name]:.2f}x   (target >= 1.7x)")
    for line in summary_lines(messages[-5:]):
        log(f"  streamed run's summary (last run): {line}")
    log("output checks (against serial):")
    for name, d in (("engine in memory", dirs["engine"]), ("engine streamed", dirs["stream"]),
                    ("eoscale", dirs["eoscale"])):
        if name not in med:
            continue
        log(f" {name}:")
        if not compare_seed.compare(d, dirs["serial"]):
            FAILED.append(f"seed {name}")


# -- fill-qgis ----------------------------------------------------------------------------------
def case_fill_qgis(a, work):
    sys.path.insert(0, os.path.join(REPO, "tests"))
    import qgis_helpers
    src = input_dsm(a, work)
    parent = qgis_helpers.make_plugin_parent_dir(tempfile.mkdtemp(dir=work, prefix="plugins-"))
    profile = tempfile.mkdtemp(dir=work, prefix="qgis-profile-")
    t0 = time.perf_counter()
    qgis_helpers.start_qgis(parent, profile)
    import processing
    log(f"QGIS started in {time.perf_counter() - t0:.1f} s (not timed below)")
    outs = {"tilewise:fillnodata": os.path.join(work, "fill-tilewise.tif"),
            "gdal:fillnodata": os.path.join(work, "fill-gdal.tif")}
    params = {
        "tilewise:fillnodata": {"INPUT": src, "BAND": 1, "MAX_DISTANCE": MAX_DISTANCE,
                                "SMOOTHING_ITERATIONS": 0, "WORKERS": a.workers,
                                "OUTPUT": outs["tilewise:fillnodata"]},
        "gdal:fillnodata": {"INPUT": src, "BAND": 1, "DISTANCE": MAX_DISTANCE, "ITERATIONS": 0,
                            "NO_MASK": False, "OUTPUT": outs["gdal:fillnodata"]},
    }
    if a.options:
        params["tilewise:fillnodata"]["OPTIONS"] = a.options
        params["gdal:fillnodata"]["OPTIONS"] = a.options

    def timed(alg):
        def run():
            if os.path.exists(outs[alg]):
                os.unlink(outs[alg])
            t0 = time.perf_counter()
            processing.run(alg, dict(params[alg]))
            return time.perf_counter() - t0
        return run
    for alg in params:  # the first run in a QGIS process starts the engine's workers
        log(f"  warm-up {alg:<22} {timed(alg)():8.2f} s (not counted)")
    times = interleaved({alg: timed(alg) for alg in params}, a.repeat)
    med = table("fill through processing.run, same QGIS process", times, [])
    log(f"  gdal:fillnodata / tilewise:fillnodata = "
        f"{med['gdal:fillnodata'] / med['tilewise:fillnodata']:.2f}x   (target >= 2.4x)")
    (t, tn), (g, gn) = read_array(outs["tilewise:fillnodata"]), read_array(outs["gdal:fillnodata"])
    check("tilewise:fillnodata vs gdal:fillnodata", same_bits(t, g) and tn == gn,
          "bit-identical" if same_bits(t, g) else
          f"dtype {t.dtype}/{g.dtype}, shape {t.shape}/{g.shape}, "
          f"{int(np.count_nonzero(t != g)) if t.shape == g.shape else '?'} pixels differ; "
          f"nodata {tn}/{gn}")


# -- compute-fill -------------------------------------------------------------------------------
def case_compute_fill(a, work):
    import cases
    import run as bench_run
    tw = import_engine()
    src = input_dsm(a, work)
    if a.workers != 2:
        log("  compute-fill: bench/run.py's compute_only runs the engine at 2 workers "
            f"(--workers {a.workers} ignored)")
    if a.tile_sizes:
        bench_run.TILE_SIZES = tuple(int(t) for t in a.tile_sizes.split(","))
    log(f"  tiled serial: tile sizes {', '.join(str(t or 'auto') for t in bench_run.TILE_SIZES)}")
    case = cases.BY_NAME["fill"]
    rows = bench_run.compute_only(case, src, a.repeat, tw, lambda m: log(m))
    by = {r["method"]: r for r in rows}
    log(f"\ncompute-only fill (max distance {MAX_DISTANCE}): median of {a.repeat} (s)")
    for name, r in by.items():
        extra = f"  (tile {r['tile']}; sweep " + ", ".join(
            f"{t or 'auto'}: {s:.2f}" for t, s in r.get("sweep", {}).items()) + ")" \
            if "sweep" in r else ""
        log(f"  {name:<24} {median(r['seconds']):8.2f}{extra}   check: {r['check'][1]}")
        if r["check"][0] is False:
            FAILED.append(f"compute-fill {name}")
    base = median(by[bench_run.BASELINE]["seconds"])
    for name in ("engine", "engine, processes"):
        log(f"  {bench_run.BASELINE} / {name} = {base / median(by[name]['seconds']):.2f}x"
            "   (target >= 1.8x)")


# -- overlap ------------------------------------------------------------------------------------
def case_overlap(a, work):
    import data
    tw = import_engine()
    from tilewise.engine.io.reading import read_into
    from tilewise.engine.io.writing import RasterWriter
    src = a.input
    if not src:
        src = os.path.join(work, f"s2-{a.size}.tif")
        t0 = time.perf_counter()
        array, meta = data.make_s2((a.size, a.size))
        data.write(src, array, meta, "none")
        del array
        log(f"generated {src}: {a.size}x{a.size} uint16, uncompressed, in "
            f"{time.perf_counter() - t0:.1f} s")
    options = split_options(a.options) or ["COMPRESS=DEFLATE"]
    log(f"mean 3x3, workers {a.workers}, output options {'|'.join(options)}")
    with rasterio.open(src) as ds:
        shape, dtype = (ds.count, ds.height, ds.width), ds.dtypes[0]
    out_stream = os.path.join(work, "overlap-stream.tif")
    out_write = os.path.join(work, "overlap-write.tif")
    messages = []
    with tw.Engine(workers=a.workers, log=messages.append) as eng:
        raster = eng.open(src)
        eng.release(eng.apply(tw.filters.mean, raster, size=3))  # warm-up (untimed)
        result = {}

        def read_only():
            buffer = np.empty(shape, dtype)
            t0 = time.perf_counter()
            read_into(src, buffer)
            return time.perf_counter() - t0

        def compute_only():
            t0 = time.perf_counter()
            out = eng.apply(tw.filters.mean, raster, size=3)
            seconds = time.perf_counter() - t0
            if "out" in result:
                eng.release(result["out"])
            result["out"] = out
            return seconds

        def write_only():
            if "out" not in result:
                compute_only()
            out = result["out"]
            t0 = time.perf_counter()
            with RasterWriter(out_write, out.profile, options) as writer:
                writer.write(out.array, 0)
            return time.perf_counter() - t0

        def streamed():
            t0 = time.perf_counter()
            eng.stream(tw.filters.mean, [src], [out_stream], options=options, size=3)
            return time.perf_counter() - t0

        times = interleaved({"streamed": streamed, "read only": read_only,
                             "compute only": compute_only, "write only": write_only}, a.repeat)
        stream_lines = summary_lines(messages)
        reference = np.array(result["out"].array)
        eng.release(result.pop("out"))
    med = {n: median(v) for n, v in times.items()}
    log(f"\noverlap, mean 3x3 to deflate: median of {a.repeat} (s)")
    for name, value in med.items():
        log(f"  {name:<24} {value:8.2f}")
    longest = max(med["read only"], med["compute only"], med["write only"])
    phases = med["read only"] + med["compute only"] + med["write only"]
    log(f"  sum of the phases        {phases:8.2f}")
    log(f"  streamed / max(phases) = {med['streamed'] / longest:.2f}   (target <= 1.25)")
    if stream_lines:
        log(f"  streamed run's summary (last run): {stream_lines[-1]}")
    got, _ = read_array(out_stream)
    check("streamed output vs Engine.apply", same_bits(got, reference),
          "bit-identical" if same_bits(got, reference) else "differs")


# -- memory -------------------------------------------------------------------------------------
def write_big_dsm(path, size, holes, seed, strip=1024):
    """A float32 DSM-like raster with elliptical holes, written strip by strip (bounded memory)."""
    from rasterio.crs import CRS
    md = import_make_dsm()
    rng = np.random.default_rng(seed)
    profile = dict(driver="GTiff", width=size, height=size, count=1, dtype="float32",
                   nodata=-9999.0, crs=CRS.from_epsg(md.EPSG), tiled=True, blockxsize=256,
                   blockysize=256, bigtiff="IF_SAFER",
                   transform=rasterio.Affine(10.0, 0, md.ORIGIN[0], 0, -10.0, md.ORIGIN[1]))
    if size < 16:
        for key in ("tiled", "blockxsize", "blockysize"):
            profile.pop(key)
    t0 = time.perf_counter()
    cols = np.arange(size, dtype=np.float32)[None, :]
    with rasterio.open(path, "w", **profile) as dst:
        for row0 in range(0, size, strip):
            rows = min(strip, size - row0)
            r = np.arange(row0, row0 + rows, dtype=np.float32)[:, None]
            values = (500 + 200 * np.sin(r / 700.0) * np.cos(cols / 900.0)
                      + 30 * np.sin((r + cols) / 61.0)).astype(np.float32)
            values += rng.standard_normal(values.shape, dtype=np.float32)
            values[md._ellipse_mask(rng, values.shape, holes)] = -9999.0
            dst.write(values[None], window=rasterio.windows.Window(0, row0, size, rows))
    log(f"generated {path}: {size}x{size} float32 with {100 * holes:.0f} % elliptical holes, "
        f"by strips, in {time.perf_counter() - t0:.1f} s")
    return path


def _smaps(pid):
    got = {"Rss": 0, "Pss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in got:
                    got[key] = int(line.split()[1]) * 1024
    except OSError:
        pass
    return got


def measure_tree(command, env):
    """(seconds, peak PSS sum, peak RSS sum, stdout+stderr) of ``command`` and its children."""
    from _measure import _tree
    with tempfile.TemporaryFile("w+") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, text=True, env=env)
        pss = rss = 0
        while proc.poll() is None:
            got = [_smaps(p) for p in _tree(proc.pid)]
            pss = max(pss, sum(g["Pss"] for g in got))
            rss = max(rss, sum(g["Rss"] for g in got))
            time.sleep(0.01)
        seconds = time.perf_counter() - t0
        out.seek(0)
        text = out.read()
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{text[-3000:]}")
    return seconds, pss, rss, text


def case_memory(a, work):
    env = qgis_process_env(work)
    budget = a.memory_mb * 2**20
    big = a.input or write_big_dsm(os.path.join(work, f"big-{a.size}.tif"), a.size, a.holes,
                                   a.seed)
    small = write_big_dsm(os.path.join(work, f"small-{a.baseline_size}.tif"), a.baseline_size,
                          a.holes, a.seed)
    algs = {"meanfilter": ["SIZE=3"],
            "fillnodata": ["BAND=1", f"MAX_DISTANCE={MAX_DISTANCE}", "SMOOTHING_ITERATIONS=0"]}
    log(f"memory: MEMORY={a.memory_mb} MiB, workers {a.workers}, {a.size}^2 against "
        f"{a.baseline_size}^2")

    def command(alg, src, out):
        return [QGIS_PROCESS, "run", f"tilewise:{alg}", "--", f"INPUT={src}",
                *algs[alg], f"WORKERS={a.workers}", f"MEMORY={a.memory_mb}", f"OUTPUT={out}"]
    # "workers": the small raster with the big run's processes (the engine starts worker
    # processes from 1 Mpx only): their interpreters and GDAL are a cost of the layout, not
    # of the budget, and this baseline tells the two apart
    labels = ("big", "small", "workers")
    with_workers = dict(env, TILEWISE_MIN_PARALLEL_PIXELS="0")
    results = {(alg, label): [] for alg in algs for label in labels}
    for i in range(a.repeat):
        order = [(alg, label) for alg in algs for label in labels]
        for alg, label in (order if i % 2 == 0 else order[::-1]):
            src = big if label == "big" else small
            out = os.path.join(work, f"mem-{alg}-{label}.tif")
            if os.path.exists(out):
                os.unlink(out)
            got = measure_tree(command(alg, src, out), with_workers if label == "workers" else env)
            results[(alg, label)].append(got)
            log(f"  run {i + 1}/{a.repeat} {alg} {label:<7} {got[0]:7.2f} s, PSS "
                f"{got[1] / 2**20:7.0f} MiB, RSS {got[2] / 2**20:7.0f} MiB")
            os.unlink(out)
    log(f"\npeak working memory (MiB), median of {a.repeat}; budget {a.memory_mb} MiB")
    log(f"  {'':<12} {'big PSS':>8} {'small PSS':>10} {'diff':>8} {'/budget':>8}   "
        f"{'big RSS':>8} {'small RSS':>10} {'diff':>8} {'/budget':>8}   seconds")
    for alg in algs:
        big_r, small_r = results[(alg, "big")], results[(alg, "small")]
        cells = []
        for k in (1, 2):
            b = median([r[k] for r in big_r]) / 2**20
            s = median([r[k] for r in small_r]) / 2**20
            cells.append(f"{b:8.0f} {s:10.0f} {b - s:8.0f} {(b - s) / a.memory_mb:8.2f}")
        log(f"  {alg:<12} {cells[0]}   {cells[1]}   {median([r[0] for r in big_r]):7.2f}")
        diff = (median([r[1] for r in big_r]) - median([r[1] for r in small_r]))
        log(f"  {alg}: PSS difference {'<=' if diff <= 1.1 * budget else '>'} 1.1 x budget "
            f"(target <= 1.1)")
        workers_r = results[(alg, "workers")]
        layout = (median([r[1] for r in big_r]) - median([r[1] for r in workers_r])) / 2**20
        log(f"  {alg}: PSS difference against the small raster with worker processes "
            f"started ({median([r[1] for r in workers_r]) / 2**20:.0f} MiB): {layout:.0f} MiB "
            f"= {layout / a.memory_mb:.2f} x budget")
        lines = [ln for ln in big_r[-1][3].splitlines() if "strip" in ln or "recomputed" in ln]
        if lines:
            log(f"  {alg} summary (big, last run): {lines[-1].strip()}")


RUNNERS = {"seed": case_seed, "fill-qgis": case_fill_qgis, "compute-fill": case_compute_fill,
           "overlap": case_overlap, "memory": case_memory}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", default=",".join(CASES), help=f"comma-separated of {', '.join(CASES)}")
    p.add_argument("--quick", action="store_true", help="small sizes, 1 repeat (a smoke run)")
    p.add_argument("--size", type=int, help="raster side (default: per case, see above)")
    p.add_argument("--repeat", type=int, help="runs per method [3; 1 with --quick]")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--holes", type=float, default=0.10, help="nodata fraction [0.10]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--options", default="",
                   help="output creation options, KEY=VALUE|... [none; overlap: COMPRESS=DEFLATE]")
    p.add_argument("--input", help="use this raster instead of generating one")
    p.add_argument("--tile-sizes", help="compute-fill: tile sizes of the tiled serial runs, "
                   "comma-separated, 0 = the engine's auto [bench/run.py's: 0,512,1024,2048]")
    p.add_argument("--memory-mb", type=int, help="memory case: MEMORY [256; 32 with --quick]")
    p.add_argument("--baseline-size", type=int, default=256, help="memory case [256]")
    p.add_argument("--work", help="work folder (default: a temporary one, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work folder")
    a = p.parse_args(argv)
    selected = [c.strip() for c in a.case.split(",") if c.strip()]
    unknown = [c for c in selected if c not in CASES]
    if unknown:
        p.error(f"unknown case {unknown[0]!r}; choose from {', '.join(CASES)}")
    repeat = a.repeat or (1 if a.quick else 3)
    memory_mb = a.memory_mb or (32 if a.quick else 256)
    work = a.work or tempfile.mkdtemp(prefix="tilewise-streaming-")
    os.makedirs(work, exist_ok=True)
    log(f"bench/streaming.py: cases {', '.join(selected)}; {os.cpu_count()} CPUs, load "
        f"{os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    try:
        for name in selected:
            size = a.size or (QUICK_SIZE if a.quick else DEFAULT_SIZE)[name]
            args = argparse.Namespace(**{**vars(a), "size": size, "repeat": repeat,
                                         "memory_mb": memory_mb})
            log(f"\n== {name} ({size} px) ==")
            case_dir = os.path.join(work, name)
            os.makedirs(case_dir, exist_ok=True)
            RUNNERS[name](args, case_dir)
            if not a.work and not a.keep:
                shutil.rmtree(case_dir, ignore_errors=True)
    finally:
        if not a.work and not a.keep:
            shutil.rmtree(work, ignore_errors=True)
        elif not a.work:
            log(f"kept {work}")
    if FAILED:
        log(f"\nOUTPUT CHECKS FAILED: {', '.join(FAILED)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
