"""The same workloads three ways, side by side in one run: the local engine, Dask with 1
worker and Dask with 2 workers (plus the local engine on 1 worker, for reference).

Workloads, file to file (the input is a synthetic DSM from scripts/make_dsm.py, DEFLATE):

* ``median5``: ``filters.median`` size 5 (``Engine.stream``);
* ``seed``: the seed pipeline, mask -> fill (max_distance 100) -> mean 3, fused
  (``Engine.stream_run``, writing the smoothed raster);
* ``stats``: ``band_statistics`` (moments, histogram, exact percentiles); locally on the
  raster read into memory (the read is timed), on Dask from the file.

A ``dask scheduler`` and ``dask worker`` processes (``--nthreads 1``) are started on
127.0.0.1 for the Dask columns, and stopped at the end. Every Dask output is compared with
the local one, byte for byte. Each mode first runs every workload once on a 512 x 512 DSM,
untimed (imports, GDAL, the worker processes' start-up).

Figures: wall time per workload and mode; scaling efficiency ``t(1 worker) / (2 t(2 workers))``;
the Dask tasks' median time (read + compute, measured in the task); the per-task overhead
``(wall x workers - sum of task times) / tasks`` (scheduling, transfer of the cores, the
client's writing when it is the bottleneck, idle workers); the scheduler's own CPU time per
task (``time.process_time`` of the scheduler process, before and after). Printed per run
too: ``task_cpu``, the tasks' own CPU seconds (``time.thread_time`` in the task; against
``task_sum``, their wall time, it shows how long they waited for a core), and
``client_cpu``, this process's CPU seconds (its threads included: the local engine's, and on
Dask the client's receiving and writing).

    /usr/bin/python3 bench/dask_scaling.py --size 3000
"""

import argparse
import json
import os
import signal
import statistics as stats_module
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import import_engine, import_make_dsm, split_options  # noqa: E402

PYTHON = "/usr/bin/python3"
DASK = "/usr/bin/dask"
WORKLOADS = ("median5", "seed", "stats")


class Cluster:
    """A scheduler and worker processes on 127.0.0.1, each in its own session."""

    def __init__(self, folder, pythonpath):
        self.folder, self.procs = folder, []
        self.file = os.path.join(folder, "scheduler.json")
        self.env = dict(os.environ, PYTHONPATH=pythonpath)
        self._start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
                    "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                    "--scheduler-file", self.file)
        deadline = time.monotonic() + 60
        while not (os.path.exists(self.file) and os.path.getsize(self.file)):
            if time.monotonic() > deadline:
                raise SystemExit("the Dask scheduler did not start in 60 s")
            time.sleep(0.1)
        time.sleep(0.2)
        with open(self.file) as handle:
            self.address = json.load(handle)["address"]
        self.workers = 0

    def _start(self, name, *args):
        log = open(os.path.join(self.folder, f"{name}.log"), "w")
        self.procs.append(subprocess.Popen([PYTHON, DASK, *args], env=self.env, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True))
        log.close()

    def add_worker(self):
        import distributed
        self._start(f"worker{self.workers}", "worker", "--scheduler-file", self.file,
                    "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                    "--no-dashboard", "--dashboard-address", "127.0.0.1:0")
        self.workers += 1
        with distributed.Client(self.address, timeout="20s") as client:
            client.wait_for_workers(self.workers, timeout=120)

    def stop(self):
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=20)
            try:  # children a nanny left behind
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def same_file(a, b):
    import rasterio
    with rasterio.open(a) as x, rasterio.open(b) as y:
        return x.read().tobytes() == y.read().tobytes()


def run_workload(engine_module, name, eng, dsm, out, options):
    """Run workload ``name``; returns (seconds, result or output path); this process's CPU
    seconds of the last run are left in ``run_workload.client_cpu``."""
    filters, Pipeline = engine_module.filters, engine_module.Pipeline
    t0, cpu0 = time.perf_counter(), time.process_time()
    if name == "median5":
        eng.stream(filters.median, dsm, out, options=options, size=5)
        result = out
    elif name == "seed":
        p = (Pipeline(["dsm"]).add("mask", filters.nodata_mask, "dsm")
             .add("filled", filters.fill_nodata, ["dsm", "mask"], max_distance=100)
             .add("smooth", filters.mean, "filled", size=3))
        eng.stream_run(p, {"dsm": dsm}, {"smooth": out})
        result = out
    else:
        if eng.scheduler is None:
            raster = eng.open(dsm)
            try:
                result = engine_module.band_statistics(eng, raster)
            finally:
                eng.release(raster)
        else:
            from tilewise.engine.execution.dask_reduce import file_statistics
            result = file_statistics(eng, dsm)
    seconds = time.perf_counter() - t0
    run_workload.client_cpu = time.process_time() - cpu0
    return seconds, result


EMPTY_TASKS = 2000


def empty_tasks(address, count):
    """The cluster's own cost per task: ``count`` tasks that do nothing (``abs``), 2 workers.
    Returns (wall seconds per task, scheduler CPU seconds per task)."""
    import distributed
    with distributed.Client(address, timeout="20s") as client:
        client.gather(client.map(abs, range(50), pure=False))  # warm up
        cpu0 = client.run_on_scheduler(time.process_time)
        t0 = time.perf_counter()
        futures = client.map(abs, range(count), pure=False)
        client.gather(futures)
        wall = time.perf_counter() - t0
        cpu = client.run_on_scheduler(time.process_time) - cpu0
        del futures
    return wall / count, cpu / count


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10980, help="DSM side in pixels [10980]")
    parser.add_argument("--workdir", help="folder for the DSM and outputs [a temporary one]")
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--options", default="", help="output creation options, KEY=V|... "
                        "[none: uncompressed, so the client's writing stays small]")
    parser.add_argument("--report", help="also write the markdown table to this file")
    a = parser.parse_args(argv)
    engine_module = import_engine()
    Engine = engine_module.Engine
    workloads = [w for w in a.workloads.split(",") if w]
    options = split_options(a.options)
    workdir = a.workdir or tempfile.mkdtemp(prefix="tilewise-dask-bench-")
    os.makedirs(workdir, exist_ok=True)
    dsm = os.path.join(workdir, f"dsm-{a.size}.tif")
    if not os.path.exists(dsm):
        make_dsm = import_make_dsm()
        t0 = time.perf_counter()
        array, profile = make_dsm.make_dsm((a.size, a.size), seed=0)
        make_dsm.write_dsm(dsm, array, profile)
        del array
        print(f"DSM {a.size} x {a.size} written in {time.perf_counter() - t0:.1f} s: {dsm}")
    warm = os.path.join(workdir, "warm-up.tif")  # imports, GDAL and caches, untimed
    if not os.path.exists(warm):
        make_dsm = import_make_dsm()
        array, profile = make_dsm.make_dsm((512, 512), seed=1)
        make_dsm.write_dsm(warm, array, profile)

    def warm_up(eng):
        for w in workloads:
            run_workload(engine_module, w, eng, warm, os.path.join(workdir, f"warm-{w}.tif"),
                         options)
    rows = {}  # (workload, mode) -> dict
    local_out = {}

    def record(workload, mode, seconds, result, eng=None):
        row = {"seconds": seconds, "client_cpu": run_workload.client_cpu}
        if eng is not None:
            info = eng.dask_last_run  # the last call's figures (stats: the last pass)
            row.update(tasks=info["tasks"], workers=info["workers"],
                       median_task=stats_module.median(info["task_seconds"]),
                       task_sum=sum(info["task_seconds"]), task_cpu=info["task_cpu"],
                       scheduler_cpu=info["scheduler_cpu"],
                       write=info["write"], run_seconds=info["seconds"])
        if workload in local_out and mode != "local, 2 workers":
            want = local_out[workload]
            row["identical"] = (same_file(result, want) if isinstance(result, str)
                                else json.dumps(result) == json.dumps(want))
        rows[(workload, mode)] = row
        print(f"{workload:8s} {mode:18s} {seconds:7.2f} s  "
              + " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in row.items() if k != "seconds"), flush=True)

    for workers in (2, 1):
        mode = f"local, {workers} worker{'s' if workers > 1 else ''}"
        with Engine(workers=workers) as eng:
            warm_up(eng)
            for w in workloads:
                out = os.path.join(workdir, f"{w}-local{workers}.tif")
                seconds, result = run_workload(engine_module, w, eng, dsm, out, options)
                if workers == 2:
                    local_out[w] = result
                record(w, mode, seconds, result)
    import _common
    cluster = Cluster(workdir, _common._pkg_root)  # the workers import the same tilewise
    try:
        for workers in (1, 2):
            cluster.add_worker()
            mode = f"Dask, {workers} worker{'s' if workers > 1 else ''}"
            # workers=2 as the local run: the reducers' tiles (and float sums) are the same
            with Engine(workers=2, scheduler=cluster.address) as eng:
                warm_up(eng)
                for w in workloads:
                    out = os.path.join(workdir, f"{w}-dask{workers}.tif")
                    seconds, result = run_workload(engine_module, w, eng, dsm, out, options)
                    record(w, mode, seconds, result, eng)
        empty = empty_tasks(cluster.address, EMPTY_TASKS)
    finally:
        cluster.stop()
    lines = [f"Dask scaling, {a.size} x {a.size} float32 DSM (DEFLATE input, output options "
             f"{a.options or 'none'}), {os.cpu_count()} cores; `bench/dask_scaling.py "
             f"--size {a.size}`", "",
             "| workload | local 1 | local 2 | Dask 1 | Dask 2 | efficiency 2 vs 1 Dask worker "
             "| Dask 2 / local 2 | tasks | median task | overhead per task | scheduler CPU "
             "per task | identical |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for w in workloads:
        l1, l2 = rows[(w, "local, 1 worker")], rows[(w, "local, 2 workers")]
        d1, d2 = rows[(w, "Dask, 1 worker")], rows[(w, "Dask, 2 workers")]
        eff = d1["seconds"] / (2 * d2["seconds"])
        overhead = (d2["run_seconds"] * d2["workers"] - d2["task_sum"]) / d2["tasks"]
        lines.append(
            f"| {w} | {l1['seconds']:.2f} s | {l2['seconds']:.2f} s | {d1['seconds']:.2f} s | "
            f"{d2['seconds']:.2f} s | {100 * eff:.0f} % | {d2['seconds'] / l2['seconds']:.2f} | "
            f"{d2['tasks']} | {1000 * d2['median_task']:.1f} ms | {1000 * overhead:.1f} ms | "
            f"{1000 * d2['scheduler_cpu'] / d2['tasks']:.2f} ms | "
            f"{'yes' if d1.get('identical') and d2.get('identical') else 'NO'} |")
    lines += ["", "Statistics: tasks, task times and overhead are those of its last pass "
              "(the percentile selection); its wall time is all passes. The scheduler CPU "
              "per task divides all the scheduler's CPU during the run (heartbeats too) by "
              "the run's tasks.", "",
              f"{EMPTY_TASKS} empty tasks (`abs`) on the 2 workers: "
              f"{1000 * empty[0]:.2f} ms wall per task, {1000 * empty[1]:.2f} ms of scheduler "
              "CPU per task."]
    text = "\n".join(lines)
    print()
    print(text)
    if a.report:
        with open(a.report, "w") as handle:
            handle.write(text + "\n")
    return 0 if all(r.get("identical", True) for r in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
