#!/usr/bin/python3
"""The Tilewise benchmark: the engine against its peers, compute-only and file to file.

Usage:
    /usr/bin/python3 bench/run.py [--quick] [--size 10980] [--repeat 3]
        [--cases seed,mean3,...] [--compressions none,deflate,zstd] [--no-compute] [--no-files]
        [--data DIR] [--work DIR]

Cases (bench/cases.py): the seed pipeline, mean 3x3, gaussian sigma 2, median 5x5,
fillnodata, grey opening (disk r=2), NDVI band math, band_statistics; on synthetic
Sentinel-2-like, DSM and 4-band inputs (bench/data.py, cached in --data).

* Compute-only: data already in memory. The engine (2 workers) runs ``apply`` on a
  SharedRaster, twice: "engine" with the default backend (threads for filters that release
  the GIL, worker processes for the others), "engine, processes" with worker processes for
  all (what the default uses once its workers are up); the peers work on numpy arrays: the whole-image serial reference, the
  engine's own filters tiled in one process (1 worker; the best of a few tile sizes: the
  baseline speed-ups are quoted against), a 2-thread pool over tiles, and dask map_overlap.
* File to file, at compression none, deflate and zstd: each method in its own process
  (bench/child.py, or a peer's command line: gdal_fillnodata.py, gdal_calc.py, OTB,
  GRASS), timed with its peak memory summed over all its processes (bench/_measure.py).
Every method runs --repeat times, side by side, alternating the order; figures are
medians, reported as ratios. Each output is checked against the whole-image reference.
Prints the tables and writes bench/results.md and bench/results.png. Nothing asserts on time.
--quick: 2048 x 2048 inputs, 1 repeat, only deflate for file-to-file.
"""
import argparse
import importlib
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import numpy as np  # noqa: E402

import cases  # noqa: E402
import data  # noqa: E402
import peers  # noqa: E402
import report  # noqa: E402
from _common import import_engine  # noqa: E402
from _measure import measure  # noqa: E402

TILE_SIZES = (0, 512, 1024, 2048)  # candidates for the tiled serial baseline (0 = engine auto)
BASELINE = "tiled serial"


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - t0
    if hasattr(out, "release"):  # a SharedRaster: copy out for the check, then free it
        array = np.array(out.array)
        out.release()
        out = array
    return seconds, out


def _row(mode, case, method, **kw):
    return dict(mode=mode, case=case.name, method=method, seconds=[], peak=[], **kw)


def compute_only(case, path, repeat, tw, log):
    """Rows for one case, data in memory."""
    array, nodata = data.read(path)
    engines = {t: tw.Engine(workers=1, tile_size=t) for t in TILE_SIZES}
    try:
        with tw.Engine(workers=2) as eng, tw.Engine(workers=2, backend="processes") as procs:
            raster, in_procs = eng.open(path), procs.open(path)
            eng.release(eng.apply(tw.filters.nodata_mask, raster))  # untimed warm-ups
            procs.release(procs.apply(tw.filters.nodata_mask, in_procs))  # (workers booted)
            singles = {t: e.open(path) for t, e in engines.items()}
            methods = {"engine": lambda: case.engine(eng, tw, raster),
                       "engine, processes": lambda: case.engine(procs, tw, in_procs),
                       "serial": lambda: case.reference(array, nodata)}
            if case.margin is not None:
                importlib.import_module("dask.array")  # import outside the timings
                for name, tiled in (("threads", peers.threaded), ("dask", peers.dask_overlap)):
                    methods[name] = (lambda tiled=tiled: tiled(case.reference, array, nodata,
                                                               case.margin, case.out_count,
                                                               "float32"))
            rows = {m: _row("compute", case, m) for m in list(methods) + [BASELINE]}
            outs, sweep, best = {}, {}, TILE_SIZES[0]
            for i in range(repeat):
                order = [BASELINE] + list(methods)
                for m in (order if i % 2 == 0 else order[::-1]):
                    if m == BASELINE:
                        for t in (TILE_SIZES if i == 0 else [best]):
                            s, outs[m] = _timed(lambda: case.engine(engines[t], tw, singles[t]))
                            sweep.setdefault(t, []).append(s)
                        best = min(sweep, key=lambda t: statistics.median(sweep[t]))
                        rows[m]["seconds"] = sweep[best]
                        rows[m]["tile"] = best
                        continue
                    s, outs[m] = _timed(methods[m])
                    rows[m]["seconds"].append(s)
                log(f"  {case.name} run {i + 1}: " + ", ".join(
                    f"{m} {rows[m]['seconds'][-1]:.2f} s" for m in rows))
            rows[BASELINE]["sweep"] = {t: statistics.median(v) for t, v in sweep.items()}
    finally:
        for e in engines.values():
            e.close()
    ref = outs["serial"]
    for m, row in rows.items():
        if m == "serial":
            row["check"] = (True, "reference")
        elif case.stats:
            row["check"] = cases.compare_stats(ref, outs[m])
        else:
            check = case.check if m.startswith("engine") or m == BASELINE else cases.ROUNDING
            row["check"] = cases.compare(ref, nodata_out(case, nodata), outs[m],
                                         nodata_out(case, nodata), check, array, nodata)
    return list(rows.values())


def nodata_out(case, nodata):
    return float("nan") if nodata is None or case.name == "ndvi" else nodata


def _read_output(case, path):
    if case.stats:
        with open(path) as f:
            return json.load(f), None
    return data.read(path)


def file_to_file(case, compression, src, work, repeat, tile, log):
    """Rows for one case and compression: every method in its own measured process."""
    child = [sys.executable, os.path.join(HERE, "child.py"), case.name]
    ext = ".json" if case.stats else ".tif"
    commands, checks = {}, {}
    for m in ("engine", BASELINE, "serial") + (("threads", "dask") if case.margin is not None
                                                 else ()):
        extra = ["--tile-size", str(tile)] if m == BASELINE else []
        name = "tiled-serial" if m == BASELINE else m
        commands[m] = lambda out, name=name, extra=extra: child + [name, src, out, compression] + extra
        checks[m] = case.check if m in ("engine", BASELINE) else cases.ROUNDING
    skipped = []
    for tool, (build, check) in case.tools.items():
        program = build("in", "out", [])[0]
        if peers.have(program):
            commands[tool] = (lambda out, build=build:
                              build(src, out, data.creation_options(compression, "float32")))
            checks[tool] = check
        else:
            skipped.append(f"{tool} ({program} not installed: bash bench/install-peers.sh)")
    rows = {m: _row("file", case, m, compression=compression) for m in commands}
    outputs = {m: os.path.join(work, f"{case.name}-{compression}-{m.split()[0]}{ext}")
               for m in commands}
    for i in range(repeat):
        for m in (list(commands) if i % 2 == 0 else list(commands)[::-1]):
            if os.path.exists(outputs[m]):
                os.unlink(outputs[m])
            command = commands[m](outputs[m])
            try:
                seconds, peak, _ = measure(command, env=peers.tool_env(command), cwd=work)
            except SystemExit as exc:  # a peer that fails is reported, not fatal
                rows[m]["check"] = (False, "failed: " + str(exc).strip().splitlines()[-1][:120])
                continue
            rows[m]["seconds"].append(seconds)
            rows[m]["peak"].append(peak)
        log(f"  {case.name} {compression} run {i + 1}: " + ", ".join(
            f"{m} {r['seconds'][-1]:.2f} s" for m, r in rows.items() if r["seconds"]))
    ref, ref_nodata = _read_output(case, outputs["serial"])
    src_array, src_nodata = data.read(src)
    for m, row in rows.items():
        row["tile"] = tile if m == BASELINE else None
        row["in_bytes"] = os.path.getsize(src)
        if not row["seconds"]:
            continue
        row["out_bytes"] = os.path.getsize(outputs[m])
        if m == "serial":
            row["check"] = (True, "reference")
            continue
        got, got_nodata = _read_output(case, outputs[m])
        row["check"] = cases.compare_stats(ref, got) if case.stats else \
            cases.compare(ref, ref_nodata, got, got_nodata, checks[m], src_array, src_nodata)
    return list(rows.values()), skipped


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2048 px, 1 repeat, deflate only")
    p.add_argument("--size", type=int, help="raster side in pixels [10980; 2048 with --quick]")
    p.add_argument("--repeat", type=int, help="runs per method [3; 1 with --quick]")
    p.add_argument("--cases", default=",".join(cases.BY_NAME), help="comma-separated")
    p.add_argument("--compressions", help="comma-separated [none,deflate,zstd; deflate with --quick]")
    p.add_argument("--no-compute", action="store_true")
    p.add_argument("--no-files", action="store_true")
    p.add_argument("--data", default=os.path.join(tempfile.gettempdir(), "tilewise-bench-data"),
                   help="cache of generated inputs [%(default)s]")
    p.add_argument("--work", help="folder for outputs (default: temporary, removed)")
    p.add_argument("--out", default=os.path.join(HERE, "results"),
                   help="writes OUT.md and OUT.png [bench/results]")
    a = p.parse_args(argv)
    size = a.size or (2048 if a.quick else 10980)
    repeat = a.repeat or (1 if a.quick else 3)
    compressions = (a.compressions or ("deflate" if a.quick else ",".join(data.COMPRESSIONS))).split(",")
    selected = [cases.BY_NAME[n] for n in a.cases.split(",")]

    def log(msg):
        print(msg, file=sys.stderr, flush=True)
    paths = data.prepare(a.data, size, log)
    tw = import_engine()
    work = a.work or tempfile.mkdtemp(prefix="tilewise-bench-")
    os.makedirs(work, exist_ok=True)
    rows, skipped = [], set()
    try:
        best_tile = {}
        if not a.no_compute:
            for case in selected:
                log(f"compute-only: {case.title}")
                got = compute_only(case, paths[(case.data, "none")], repeat, tw, log)
                best_tile[case.name] = next(r["tile"] for r in got if r["method"] == BASELINE)
                rows += got
        if not a.no_files:
            for case in selected:
                for c in compressions:
                    log(f"file to file: {case.title}, {c}")
                    got, skip = file_to_file(case, c, paths[(case.data, c)], work, repeat,
                                             best_tile.get(case.name, 0), log)
                    rows += got
                    skipped.update(skip)
    finally:
        if not a.work:
            shutil.rmtree(work, ignore_errors=True)
    info = {"size": size, "repeat": repeat, "cpus": os.cpu_count(), "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d %H:%M"), "load": os.getloadavg()[0],
            "skipped": sorted(skipped)}
    text = report.markdown(rows, info)
    print(text)
    with open(a.out + ".md", "w") as f:
        f.write(text)
    report.chart(rows, info, a.out + ".png")
    print(f"wrote {a.out}.md and {a.out}.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
