"""The Dask backend against real processes: a ``dask scheduler`` and two ``dask worker``
processes on 127.0.0.1 (random ports), used through the Python API and qgis_process.bin,
plus a LocalCluster for ``scheduler="local"``. Every result is compared with a local run of
the same engine, byte for byte. Every process started here is stopped at the end, and the
module checks that none is left.
"""

import json
import os
import signal
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import rasterio

import qgis_helpers as qh
from tilewise.engine import (Cancelled, Engine, InputError, Pipeline, TilewiseError,
                             WorkerCrashed, WorkerError, filters, load_filter, reducers,
                             statistics)
from tilewise.engine.execution.dask_reduce import file_statistics, reduce_files
from tilewise.engine.ops.filters.bandmath import band_math

import filters_for_tests as tf

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
DASK = "/usr/bin/dask"
NODATA = -9999.0
START_SECONDS = 60   # the processes' start-up on a loaded 2-core machine, at most


def _wait(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {seconds} s")
        time.sleep(0.1)


def _gone(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def _stop(procs):
    for proc in procs:  # each in its own session: the group is the process and its children
        if not _gone(proc.pid):
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    for proc in procs:  # children of a nanny that outlived it
        if not _gone(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        _wait(lambda: _gone(proc.pid), 15, f"process group {proc.pid} stopped")


@contextmanager
def mini_cluster(folder, env, workers=1, worker_args=()):
    """A scheduler and ``workers`` workers of our own (for the tests that break them);
    yields ``(address, procs)``; all are stopped on the way out."""
    scheduler_file = folder / "mini-scheduler.json"
    procs = []
    try:
        for args in (["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                      "--dashboard-address", "127.0.0.1:0"],
                     *[["worker", "--nthreads", "1", "--host", "127.0.0.1", "--no-dashboard",
                        "--dashboard-address", "127.0.0.1:0", *worker_args]] * workers):
            procs.append(subprocess.Popen(
                [PYTHON, DASK, *args, "--scheduler-file", str(scheduler_file)], env=env,
                cwd="/", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, start_new_session=True))
            if args[0] == "scheduler":
                _wait(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0,
                      START_SECONDS, "the scheduler file")
                time.sleep(0.2)
        yield json.loads(scheduler_file.read_text())["address"], procs
    finally:
        _stop(procs)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, plugin_parent_dir):
    """``(address, env, pgids)`` of a scheduler and two single-threaded workers."""
    folder = tmp_path_factory.mktemp("dask")
    scheduler_file = folder / "scheduler.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(plugin_parent_dir),
                                                       str(REPO / "tests")]),
               DASK_DISTRIBUTED__WORKER__DAEMON="False")
    logs = []
    procs = []

    def start(name, *args):
        log = open(folder / f"{name}.log", "w")
        logs.append(log)
        procs.append(subprocess.Popen([PYTHON, DASK, *args], env=env, stdout=log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True, cwd=folder))
    try:
        start("scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0",
              "--no-dashboard", "--dashboard-address", "127.0.0.1:0",  # its HTTP server too
              "--scheduler-file", str(scheduler_file))
        _wait(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0,
              START_SECONDS, "the scheduler file")
        time.sleep(0.2)  # written in one go, but be sure it is complete
        address = json.loads(scheduler_file.read_text())["address"]
        for i in range(2):
            start(f"worker{i}", "worker", "--scheduler-file", str(scheduler_file),
                  "--nthreads", "1", "--nworkers", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--dashboard-address", "127.0.0.1:0", "--name", f"tw{i}")
        import distributed
        with distributed.Client(address, timeout="20s") as client:
            client.wait_for_workers(2, timeout=START_SECONDS)
        yield address, env, [p.pid for p in procs]
    finally:
        _stop(procs)
        for log in logs:
            log.close()
    for pgid in [p.pid for p in procs]:
        assert _gone(pgid), f"process group {pgid} is still alive"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask-data")
    dem = qh.punch_holes(qh.synthetic_dem(530, 610, seed=3), NODATA, seed=4)
    other = qh.synthetic_dem(530, 610, seed=9) * 0.5
    ints = (qh.synthetic_dem(530, 610, seed=5) * 10).astype("int16")
    return {"dem": qh.write_geotiff(folder / "dem.tif", dem, nodata=NODATA),
            "other": qh.write_geotiff(folder / "other.tif", other),
            "ints": qh.write_geotiff(folder / "ints.tif", ints, nodata=-1)}


@pytest.fixture(scope="module")
def remote(cluster):
    """An Engine on the cluster: small tiles (many tasks), logs kept."""
    logs = []
    eng = Engine(workers=2, tile_size=128, scheduler=cluster[0], log=logs.append)
    eng.logs = logs
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def local():
    eng = Engine(workers=2, tile_size=128)
    yield eng
    eng.close()


def _bytes(path):
    with rasterio.open(path) as src:
        return src.read().tobytes(), src.profile["dtype"], repr(src.profile["nodata"]), src.shape


def _same_file(a, b):
    got, want = _bytes(a), _bytes(b)
    assert got[1:] == want[1:]
    assert got[0] == want[0], f"{a} and {b} differ"


CASES = [
    ("median5", filters.median, ["dem"], dict(size=5)),
    ("mean3", filters.mean, ["dem"], dict(size=3)),
    ("gaussian", filters.gaussian, ["dem"], dict(sigma=1.5)),
    ("fill", filters.fill_nodata, ["dem"], dict(max_distance=30)),
    ("mask", filters.nodata_mask, ["dem"], {}),
    ("slope", filters.slope, ["dem"], {}),
    ("hillshade", filters.hillshade, ["ints"], {}),
    ("opening", filters.morphology, ["ints"], dict(operation="opening", radius=2)),
    ("percentile", filters.focal_statistics, ["dem"],
     dict(statistic="percentile", q=30, shape="circle", radius=2)),
    ("sobel", filters.sobel, ["dem"], {}),
    ("bandmath", band_math, ["dem", "other"], dict(expression="(A - B) / (A + B)")),
    ("two_outputs", tf.sum_and_difference, ["dem", "other"], {}),
]


@pytest.mark.parametrize("name, op, inputs, params", CASES, ids=[c[0] for c in CASES])
def test_filters_identical_to_a_local_run(remote, local, data, tmp_path, name, op, inputs,
                                          params):
    sources = [data[n] for n in inputs]
    outputs = 2 if name == "two_outputs" else 1
    mine = [str(tmp_path / f"local{i}.tif") for i in range(outputs)]
    theirs = [str(tmp_path / f"dask{i}.tif") for i in range(outputs)]
    local.stream(op, sources, mine, **params)
    before = len(remote.logs)
    remote.stream(op, sources, theirs, **params)
    for a, b in zip(mine, theirs):
        _same_file(a, b)
    summary = [line for line in remote.logs[before:] if " on Dask at " in line]
    assert summary and f"on Dask at {remote._dask.address} (2 workers)" in summary[-1]


def test_fused_pipeline_identical(remote, local, data, tmp_path):
    p = (Pipeline(["dsm"]).add("mask", filters.nodata_mask, "dsm")
         .add("filled", filters.fill_nodata, ["dsm", "mask"], max_distance=100)
         .add("smooth", filters.mean, "filled", size=3))
    targets = {"smooth": str(tmp_path / "smooth.tif"), "mask": str(tmp_path / "mask.tif")}
    local_targets = {k: v.replace(".tif", "-local.tif") for k, v in targets.items()}
    remote.stream_run(p, {"dsm": data["dem"]}, targets)
    assert any(line.startswith("fused(") and " on Dask at " in line for line in remote.logs)
    local.stream_run(p, {"dsm": data["dem"]}, local_targets)
    for name in targets:
        _same_file(targets[name], local_targets[name])
    # and the steps one by one, in memory
    with Engine(workers=1) as eng:
        steps = eng.run(p, [eng.open(data["dem"])], keep=["smooth"], fuse=False)
        assert eng.write(steps["smooth"], tmp_path / "steps.tif")
    _same_file(targets["smooth"], tmp_path / "steps.tif")


@pytest.mark.parametrize("reducer", [reducers.count, reducers.minmax, reducers.sum,
                                     statistics.moments], ids=lambda r: r.name)
def test_reducers_identical(remote, local, data, reducer):
    raster = local.open(data["dem"])
    try:
        want = local.reduce(reducer, raster)
    finally:
        local.release(raster)
    got = reduce_files(remote, reducer, data["dem"])
    assert got == want  # the same tiles, merged in the same order: exact


def test_band_statistics_identical(remote, local, data):
    raster = local.open(data["ints"])
    try:
        want = statistics.band_statistics(local, raster, percentiles=(2, 50, 98))
    finally:
        local.release(raster)
    got = file_statistics(remote, data["ints"], percentiles=(2, 50, 98))
    assert json.dumps(got) == json.dumps(want)


def test_tasks_in_flight_follow_the_memory_budget(cluster, local, data, tmp_path):
    """Tasks submitted and not yet written stay within a bound, smaller for a small budget
    (never below one band of tiles' tasks plus one, or the band could never be written)."""
    ran = {}
    for budget in (None, 200 * 2**10):
        with Engine(workers=2, tile_size=100, scheduler=cluster[0], memory_budget=budget) as eng:
            eng.stream(filters.median, data["dem"], tmp_path / f"dask-{budget}.tif", size=5)
            ran[budget] = eng.dask_last_run
        assert 1 <= ran[budget]["most_unwritten"] <= ran[budget]["limit"]
        _same_file(tmp_path / f"dask-{budget}.tif", tmp_path / "dask-None.tif")
    assert ran[200 * 2**10]["limit"] < ran[None]["limit"]
    assert ran[200 * 2**10]["tasks"] == ran[None]["tasks"] > ran[None]["limit"]
    local.stream(filters.median, data["dem"], tmp_path / "local.tif", size=5)
    _same_file(tmp_path / "dask-None.tif", tmp_path / "local.tif")


def test_filter_error_carries_worker_traceback_and_tile(remote, data, tmp_path):
    out = tmp_path / "never.tif"
    plain = qh.write_geotiff(tmp_path / "plain.tif", qh.synthetic_dem(530, 610),
                             transform=rasterio.Affine.identity(), crs=None)  # as the filter needs
    with pytest.raises(WorkerError) as caught:
        remote.stream(tf.fail_on_tile, plain, out, pixel=(300, 400))
    error = caught.value
    assert "boom from the test filter" in str(error)
    assert "filters_for_tests.py" in error.worker_traceback
    assert error.tile.row0 <= 300 < error.tile.row1 and error.tile.col0 <= 400 < error.tile.col1
    assert "Dask worker" in str(error)
    assert sorted(os.listdir(tmp_path)) == ["plain.tif"]  # no output, no temporary file


def test_custom_script_refused(remote, data, tmp_path):
    script = load_filter(str(REPO / "resources" / "scripts" / "local_contrast.py"))
    with pytest.raises(InputError, match="custom Python script"):
        remote.stream(script, data["dem"], tmp_path / "never.tif", size=3)
    assert not (tmp_path / "never.tif").exists()


def test_version_mismatch_is_a_clear_error(remote):
    from tilewise.engine.execution.dask_cluster import cluster_of
    cluster = cluster_of(remote)
    cluster.check_versions()  # the same engine: fine
    with pytest.raises(TilewiseError, match="another version of the Tilewise engine"):
        cluster.check_versions(mine=("0" * 64, "/elsewhere/engine", "elsewhere"))
    from tilewise.engine.execution.dask_tasks import engine_digest
    digest, folder, host, versions = engine_digest()
    with pytest.raises(TilewiseError,
                       match=r"other library versions .*numpy \S+ there, 0\.0 here"):
        cluster.check_versions(mine=(digest, folder, host, dict(versions, numpy="0.0")))


def _tilewise_tasks(client):
    return client.run_on_scheduler(
        lambda dask_scheduler: [str(k) for k in dask_scheduler.tasks
                                if str(k).startswith("tilewise-")])


def test_cancel_cancels_the_futures(cluster, data, tmp_path):
    seen = []
    eng = Engine(workers=2, tile_size=64, scheduler=cluster[0], progress=seen.append,
                 cancel=lambda: bool(seen) and seen[-1] > 0)
    try:
        with pytest.raises(Cancelled):
            eng.stream(filters.median, data["dem"], tmp_path / "never.tif", size=7)
        assert 0 < seen[-1] < 1  # cancelled mid-run
        client = eng._dask.client
        _wait(lambda: not _tilewise_tasks(client), 10, "the cancelled tasks gone")
    finally:
        eng.close()
    assert not (tmp_path / "never.tif").exists()


def test_unreachable_scheduler_is_a_clear_error(data, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with Engine(workers=2, scheduler=f"tcp://127.0.0.1:{port}") as eng:
        with pytest.raises(TilewiseError, match="cannot be reached") as caught:
            eng.stream(filters.median, data["dem"], tmp_path / "never.tif", size=3)
    print(f"unreachable scheduler reported after {time.monotonic() - started:.1f} s")
    assert "after 5 s" in str(caught.value)  # the connect timeout we set, not a default
    assert os.listdir(tmp_path) == []


def test_environment_variable_turns_it_on(cluster, data, tmp_path, monkeypatch):
    monkeypatch.setenv("TILEWISE_DASK_SCHEDULER", cluster[0])
    logs = []
    with Engine(workers=2, log=logs.append) as eng:
        eng.stream(filters.mean, data["dem"], tmp_path / "dask.tif", size=3)
    monkeypatch.delenv("TILEWISE_DASK_SCHEDULER")
    with Engine(workers=2) as eng:
        eng.stream(filters.mean, data["dem"], tmp_path / "local.tif", size=3)
    assert any(f"on Dask at {cluster[0]}" in line for line in logs)
    _same_file(tmp_path / "dask.tif", tmp_path / "local.tif")


def _qgis_process_run(env, algorithm, *parameters):
    """``qgis_process.bin --json run tilewise:ALGORITHM -- PARAMETERS``, which must succeed;
    returns (its JSON result, its info log as one string)."""
    done = subprocess.run([qh.QGIS_PROCESS, "--json", "run", f"tilewise:{algorithm}", "--",
                           *parameters], env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    return result, "\n".join(result["log"].get("info", []))


def _scheduler_env(tmp_path, plugin_parent_dir, cluster):
    """qgis_process's environment, TILEWISE_DASK_SCHEDULER set to the cluster's."""
    env = qh.qgis_process_env(qh.make_qgis_profile(tmp_path / "qgis-config"), plugin_parent_dir)
    env["TILEWISE_DASK_SCHEDULER"] = cluster[0]
    return env


def test_qgis_process_with_the_environment_variable(cluster, data, tmp_path, plugin_parent_dir):
    out = tmp_path / "median.tif"
    _, info = _qgis_process_run(_scheduler_env(tmp_path, plugin_parent_dir, cluster),
                                "medianfilter", f"INPUT={data['dem']}", "SIZE=5", "BAND=1",
                                f"OUTPUT={out}")
    assert f"on Dask at {cluster[0]} (2 workers)" in info, info
    with Engine(workers=2) as eng:
        eng.stream(filters.median, data["dem"], tmp_path / "local.tif", size=5, band=1)
    _same_file(out, tmp_path / "local.tif")


def test_qgis_process_pipeline_on_dask(cluster, data, tmp_path, plugin_parent_dir):
    """tilewise:pipeline (the seed pipeline, fused) through qgis_process on the cluster."""
    folder = tmp_path / "out"
    result, info = _qgis_process_run(
        _scheduler_env(tmp_path, plugin_parent_dir, cluster), "pipeline",
        f"PIPELINE={REPO / 'resources' / 'pipelines' / 'seed.json'}", f"INPUTS={data['dem']}",
        "FUSE=1", f"OUTPUT_FOLDER={folder}")  # FUSE 1 = always
    assert f"on Dask at {cluster[0]} (2 workers)" in info, info
    outputs = {Path(p).stem: p for p in result["results"]["OUTPUTS"]}
    assert set(outputs) == {"mask", "filled", "smooth"}
    p = (Pipeline(["dsm"]).add("mask", filters.nodata_mask, "dsm", band=1)
         .add("filled", filters.fill_nodata, ["dsm", "mask"], band=1, max_distance=100,
              smoothing_iterations=0)
         .add("smooth", filters.mean, "filled", size=3))
    with Engine(workers=2) as eng:
        mine = eng.stream_run(p, {"dsm": data["dem"]},
                              {n: str(tmp_path / f"local-{n}.tif") for n in outputs})
    for name, path in outputs.items():
        _same_file(path, mine[name])


def test_qgis_process_with_the_provider_setting(cluster, data, tmp_path, plugin_parent_dir):
    """The provider setting "Dask scheduler address", stored in the profile as QGIS stores
    it, reaches the engine (no environment variable set)."""
    config_dir = qh.make_qgis_profile(tmp_path / "qgis-config")
    ini = config_dir / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    with open(ini, "a") as handle:
        handle.write(f"\n[Processing]\nConfiguration\\TILEWISE_DASK_SCHEDULER={cluster[0]}\n")
    env = qh.qgis_process_env(config_dir, plugin_parent_dir)
    env.pop("TILEWISE_DASK_SCHEDULER", None)
    out = tmp_path / "slope.tif"
    _, info = _qgis_process_run(env, "slope", f"INPUT={data['dem']}", "BAND=1", f"OUTPUT={out}")
    assert f"on Dask at {cluster[0]} (2 workers)" in info, info
    with Engine(workers=2) as eng:
        eng.stream(filters.slope, data["dem"], tmp_path / "local.tif", band=1)
    _same_file(out, tmp_path / "local.tif")


def test_no_distributed_import_without_a_scheduler(plugin_parent_dir, data, tmp_path):
    code = ("import sys; from tilewise.engine import Engine, filters\n"
            "with Engine(workers=2) as eng:\n"
            f"    eng.stream(filters.mean, {data['dem']!r}, {str(tmp_path / 'm.tif')!r})\n"
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules\n")
    env = dict(os.environ, PYTHONPATH=str(plugin_parent_dir))
    env.pop("TILEWISE_DASK_SCHEDULER", None)
    done = subprocess.run([PYTHON, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr


def test_local_cluster(data, tmp_path):
    logs = []
    environ = dict(os.environ)
    with Engine(workers=2, scheduler="local", log=logs.append) as eng:
        eng.stream(filters.median, data["dem"], tmp_path / "dask.tif", size=5)
        address = eng._dask.address
        cluster = eng._dask._cluster
        pids = list(eng._dask.client.run(os.getpid).values())
    assert cluster.status.name == "closed" and len(pids) == 2
    # the nannies' MALLOC_TRIM_THRESHOLD_ / OMP_NUM_THREADS stay theirs, not this process's
    assert dict(os.environ) == environ
    _wait(lambda: not any(os.path.exists(f"/proc/{pid}") for pid in pids), 15,
          "the LocalCluster's worker processes stopped")
    with Engine(workers=2) as eng:
        eng.stream(filters.median, data["dem"], tmp_path / "local.tif", size=5)
    assert any(f"on Dask at {address} (2 workers)" in line for line in logs), logs
    _same_file(tmp_path / "dask.tif", tmp_path / "local.tif")


def test_worker_killed_mid_run_is_survived(cluster, data, tmp_path, monkeypatch):
    """Last: a worker is killed while tasks are queued on it; its nanny starts a new one."""
    import distributed
    monkeypatch.setenv("TILEWISE_DASK_TASK_PIXELS", "4096")  # one 64 x 64 tile per task
    killed = []
    with distributed.Client(cluster[0], timeout="10s") as client:
        pids = client.run(os.getpid)

    def kill_one(fraction):
        if not killed and fraction >= 0.25:
            assert fraction < 1
            pid = sorted(pids.values())[0]
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, fraction))
    with Engine(workers=2, tile_size=64, scheduler=cluster[0], progress=kill_one) as eng:
        eng.stream(filters.median, data["dem"], tmp_path / "dask.tif", size=5)
        ran = eng.dask_last_run
    assert killed, "no worker was killed"
    _wait(lambda: not os.path.exists(f"/proc/{killed[0][0]}"), 10, "the killed worker gone")
    assert ran["tasks"] == ran["tiles"] > 50
    with Engine(workers=2, tile_size=64) as eng:
        eng.stream(filters.median, data["dem"], tmp_path / "local.tif", size=5)
    _same_file(tmp_path / "dask.tif", tmp_path / "local.tif")
    with distributed.Client(cluster[0], timeout="10s") as client:
        client.wait_for_workers(2, timeout=START_SECONDS)  # the nanny replaced it


def test_worker_without_tilewise_then_upload_file(tmp_path, data, plugin_parent_dir):
    """A worker that cannot import tilewise is a clear error; ``Client.upload_file`` of a zip
    holding ``tilewise/engine`` makes it run (docs/scale-out.md), with the same digest."""
    import zipfile

    import distributed
    archive = tmp_path / "tilewise-engine.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(REPO / "__init__.py", "tilewise/__init__.py")
        for path in sorted((REPO / "engine").rglob("*.py")):
            if "__pycache__" not in path.parts:
                zf.write(path, "tilewise/" + str(path.relative_to(REPO)))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with mini_cluster(tmp_path, env) as (address, procs):
        with distributed.Client(address, timeout="20s") as client:
            client.wait_for_workers(1, timeout=START_SECONDS)
            with Engine(workers=2, scheduler=client) as eng:
                with pytest.raises(TilewiseError, match="cannot import tilewise.engine"):
                    eng.stream(filters.median, data["dem"], tmp_path / "a.tif", size=5)
                assert not (tmp_path / "a.tif").exists()
                client.upload_file(str(archive))
                eng.stream(filters.median, data["dem"], tmp_path / "a.tif", size=5)
            where = client.run(lambda: __import__("tilewise").__file__)
        assert all("tilewise-engine.zip" in w for w in where.values()), where
        with Engine(workers=2) as eng:
            eng.stream(filters.median, data["dem"], tmp_path / "b.tif", size=5)
        _same_file(tmp_path / "a.tif", tmp_path / "b.tif")


def test_scheduler_killed_mid_run_is_a_clear_error(tmp_path, data, cluster, monkeypatch):
    """No hang: the lost connection is an error (Dask's 5 s reconnect), nothing written."""
    killed = []
    with mini_cluster(tmp_path, cluster[1]) as (address, procs):
        def kill_scheduler(fraction):
            if fraction > 0.2 and not killed:
                os.killpg(procs[0].pid, signal.SIGKILL)
                killed.append(fraction)
        monkeypatch.setenv("TILEWISE_DASK_TASK_PIXELS", "4096")  # many small tasks
        with Engine(workers=2, tile_size=64, scheduler=address, progress=kill_scheduler) as eng:
            with pytest.raises(WorkerCrashed, match="connection to the Dask scheduler"):
                eng.stream(filters.median, data["dem"], tmp_path / "never.tif", size=7)
    assert killed and not (tmp_path / "never.tif").exists()


def test_scheduler_without_workers_is_a_clear_error(tmp_path, data, cluster, monkeypatch):
    from tilewise.engine.execution import dask_cluster
    monkeypatch.setattr(dask_cluster, "WORKERS_SECONDS", 1)  # 10 s in real use
    with mini_cluster(tmp_path, cluster[1], workers=0) as (address, procs):
        with Engine(workers=2, scheduler=address) as eng:
            with pytest.raises(TilewiseError, match="has no worker"):
                eng.stream(filters.median, data["dem"], tmp_path / "never.tif", size=3)
    assert not (tmp_path / "never.tif").exists()


def test_every_worker_gone_is_a_clear_error(tmp_path, data, cluster, monkeypatch):
    """No nanny to restart it: the only worker killed mid-run is an error, not a hang."""
    from tilewise.engine.execution import dask_backend
    monkeypatch.setattr(dask_backend, "NO_WORKER_SECONDS", 1)  # 30 s in real use
    monkeypatch.setenv("TILEWISE_DASK_TASK_PIXELS", "4096")
    killed = []
    with mini_cluster(tmp_path, cluster[1], worker_args=["--no-nanny"]) as (address, procs):
        def kill_worker(fraction):
            if fraction > 0.2 and not killed:
                os.killpg(procs[1].pid, signal.SIGKILL)
                killed.append(fraction)
        with Engine(workers=2, tile_size=64, scheduler=address, progress=kill_worker) as eng:
            with pytest.raises(WorkerCrashed, match="every Dask worker .* is gone"):
                eng.stream(filters.median, data["dem"], tmp_path / "never.tif", size=7)
    assert killed and not (tmp_path / "never.tif").exists()
