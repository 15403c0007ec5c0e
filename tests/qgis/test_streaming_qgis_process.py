"""Streaming through qgis_process.bin (the engine's side is tests/engine/test_streaming.py):
a raster larger than the budget under a hard cgroup memory limit, and a 64 MB /dev/shm."""

import os
import shutil
import subprocess

import numpy as np
import pytest

import qgis_helpers as qh
from tilewise.engine import Engine, filters

ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
CGROUP = "/sys/fs/cgroup/memory"
HEADROOM = 420  # MiB: qgis_process, its Python, two workers and the page cache (measured 340)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A float32 DSM of 6000 x 5000 pixels (114 MiB), several times the budgets below."""
    folder = tmp_path_factory.mktemp("big")
    rng = np.random.default_rng(3)
    dem = qh.synthetic_dem(6000, 5000, seed=5)
    dem[rng.random(dem.shape) < 0.02] = -9999.0
    return qh.write_geotiff(folder / "big.tif", dem, nodata=-9999.0)


def _qgis_process(tmp_path, plugin_parent_dir, argv, wrap=(), env=()):
    environ = qh.qgis_process_env(qh.make_qgis_profile(tmp_path / "profile"), plugin_parent_dir)
    environ.update(env)
    return subprocess.run([*wrap, qh.QGIS_PROCESS, "run", *argv], capture_output=True,
                          text=True, env=environ, timeout=600, stdin=subprocess.DEVNULL)


@pytest.mark.skipif(not ROOT or not os.access(CGROUP, os.W_OK), reason="needs a cgroup v1 "
                    "memory controller writable as root")
@pytest.mark.parametrize("algorithm, extra", [("meanfilter", ["SIZE=3"]),
                                              ("fillnodata", ["BAND=1", "MAX_DISTANCE=50"])])
def test_a_raster_larger_than_the_budget_runs_under_a_hard_limit(big, tmp_path,
                                                                 plugin_parent_dir,
                                                                 algorithm, extra):
    """MEMORY=32 on 114 MiB in and 114 MiB out: every process together (QGIS, workers,
    shared memory) under a hard cgroup limit of the budget + HEADROOM; bit for bit the
    unconstrained result. The same run in memory (TILEWISE_STREAM=0) needs the whole input
    and output and is killed under that limit."""
    budget = 32
    group = os.path.join(CGROUP, f"tilewise-test-{os.getpid()}")
    os.makedirs(group, exist_ok=True)
    try:
        with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
            f.write(str((budget + HEADROOM) * 2**20))
        with open(os.path.join(group, "memory.memsw.limit_in_bytes"), "a") as f:
            try:
                f.write(str((budget + HEADROOM) * 2**20))  # no swapping around the limit
            except OSError:
                pass
        out = tmp_path / "o.tif"
        script = f"echo $$ > {group}/cgroup.procs && exec \"$@\""
        result = _qgis_process(tmp_path, plugin_parent_dir,
                               [f"tilewise:{algorithm}", "--", f"INPUT={big}", *extra,
                                "WORKERS=2", f"MEMORY={budget}", f"OUTPUT={out}"],
                               wrap=("sh", "-c", script, "sh"),
                               env={"TILEWISE_CACHE": "0",
                                    "TILEWISE_STREAM": os.environ.get("TILEWISE_TEST_STREAM",
                                                                      "1")})
        with open(os.path.join(group, "memory.max_usage_in_bytes")) as f:
            peak = int(f.read())
        with open(os.path.join(group, "memory.failcnt")) as f:
            failures = int(f.read())
    finally:
        for _ in range(50):
            try:
                os.rmdir(group)
                break
            except OSError:
                import time
                time.sleep(0.1)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    assert "streamed in" in result.stdout
    print(f"peak of every process together: {peak / 2**20:.0f} MiB")
    assert peak <= (budget + HEADROOM) * 2**20 and failures == 0, (peak, failures)
    step = {"meanfilter": (filters.mean, {"size": 3}),
            "fillnodata": (filters.fill_nodata, {"max_distance": 50})}[algorithm]
    with Engine(workers=2) as eng:
        reference = eng.apply(step[0], eng.open(big), **step[1])
        assert qh.read_geotiff(out)[0].tobytes() == reference.array.tobytes()


@pytest.mark.skipif(not ROOT or not shutil.which("unshare"), reason="needs root and unshare")
def test_every_run_works_with_a_64_mb_dev_shm(big, tmp_path, plugin_parent_dir):
    """Docker's default /dev/shm (64 MB) is smaller than the raster (114 MiB): the strips
    live there, or in files when even a strip does not fit."""
    out = tmp_path / "o.tif"
    script = ("mount -t tmpfs -o size=64m tmpfs /dev/shm && exec \"$@\"")
    result = _qgis_process(tmp_path, plugin_parent_dir,
                           ["tilewise:meanfilter", "--", f"INPUT={big}", "SIZE=3", "WORKERS=2",
                            "MEMORY=96", f"OUTPUT={out}"],
                           wrap=("unshare", "-m", "sh", "-c", script, "sh"),
                           env={"TILEWISE_TMPDIR": str(tmp_path / "segments")})
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    with Engine(workers=2) as eng:
        reference = eng.apply(filters.mean, eng.open(big), size=3)
        assert qh.read_geotiff(out)[0].tobytes() == reference.array.tobytes()
