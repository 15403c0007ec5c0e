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
CGROUP = qh.CGROUP_MEMORY
HEADROOM = 420  # MiB: qgis_process, its Python, two workers and the page cache (measured 340)
SEED_HEADROOM = 340  # MiB: the seed pipeline in memory needs more (input and outputs ~370)
ZONAL_HEADROOM = 200  # MiB: qgis_process and its Python, no worker processes (peak 171-174 in all)


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


def _under_limit(budget, tmp_path, plugin_parent_dir, argv, headroom=HEADROOM):
    """qgis_process run ``argv`` in a cgroup of its own limited to ``budget`` + ``headroom``
    MiB: ``(result, peak bytes of every process together, times the limit was hit)``."""
    with qh.memory_group(f"tilewise-test-{os.getpid()}", budget + headroom) as (wrap, usage):
        result = _qgis_process(tmp_path, plugin_parent_dir, argv, wrap=wrap,
                               env={"TILEWISE_CACHE": "0",
                                    "TILEWISE_STREAM": os.environ.get("TILEWISE_TEST_STREAM",
                                                                      "1")})
        peak, failures = usage()
    return result, peak, failures


CGROUP_V1 = pytest.mark.skipif(not ROOT or not os.access(CGROUP, os.W_OK),
                               reason="needs a cgroup v1 memory controller writable as root")


@CGROUP_V1
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
    out = tmp_path / "o.tif"
    result, peak, failures = _under_limit(
        budget, tmp_path, plugin_parent_dir,
        [f"tilewise:{algorithm}", "--", f"INPUT={big}", *extra, "WORKERS=2",
         f"MEMORY={budget}", f"OUTPUT={out}"])
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


@CGROUP_V1
def test_zonal_statistics_of_polygons_spanning_the_raster_run_within_the_budget(
        big, tmp_path, plugin_parent_dir):
    """Multipolygons whose bounding boxes cover the whole 114 MiB raster (parts in opposite
    corners and a band across it), with the median and a percentile (the pixels of each
    polygon gathered): MEMORY=32 under a hard limit of the budget + ZONAL_HEADROOM, results
    equal to the engine's on the array in memory. Held whole (TILEWISE_STREAM=0), the raster
    does not fit (measured: 394 MiB, against 171 MiB streamed)."""
    import rasterio
    from osgeo import ogr, osr

    from tilewise.engine.vector import from_wkb, zonal_statistics
    with rasterio.open(big) as ds:
        band, transform, (h, w) = ds.read(1), ds.transform, ds.shape
    x0, y0, px = transform.c, transform.f, transform.a
    gpkg = str(tmp_path / "zones.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(gpkg)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32631)
    layer = ds.CreateLayer("zones", srs, ogr.wkbMultiPolygon)
    layer.CreateField(ogr.FieldDefn("name", ogr.OFTString))
    wkbs = []
    for k in range(8):
        a, b = px * (10 + 40 * k), px * (300 + 50 * k)
        right, bottom = x0 + w * px, y0 - h * px
        wkt = ("MULTIPOLYGON ((({x0a} {y0a}, {x0b} {y0a}, {x0b} {y0b}, {x0a} {y0a})), "
               "(({rb} {ba}, {ra} {ba}, {ra} {bb}, {rb} {ba})), "
               "(({x0} {m0}, {right} {m0}, {right} {m1}, {x0} {m0})))").format(
            x0a=x0 + a, x0b=x0 + b, y0a=y0 - a, y0b=y0 - b, rb=right - b, ra=right - a,
            ba=bottom + a, bb=bottom + b, x0=x0, right=right, m0=y0 - h * px / 2 - a,
            m1=y0 - h * px / 2 - b)
        feature = ogr.Feature(layer.GetLayerDefn())
        feature.SetField("name", f"zone {k}")
        geometry = ogr.CreateGeometryFromWkt(wkt)
        feature.SetGeometry(geometry)
        layer.CreateFeature(feature)
        wkbs.append(bytes(geometry.ExportToIsoWkb()))
    ds = None
    budget = 32
    out = str(tmp_path / "stats.gpkg")
    result, peak, failures = _under_limit(
        budget, tmp_path, plugin_parent_dir,
        ["tilewise:zonalstatistics", "--", f"INPUT={gpkg}", f"INPUT_RASTER={big}",
         "RASTER_BAND=1", "STATISTICS=0", "STATISTICS=1", "STATISTICS=2", "STATISTICS=3",
         "STATISTICS=4", "STATISTICS=5", "STATISTICS=6", "PERCENTILES=90", "WORKERS=2",
         f"MEMORY={budget}", f"OUTPUT={out}"], headroom=ZONAL_HEADROOM)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    print(f"peak of every process together: {peak / 2**20:.0f} MiB")
    assert peak <= (budget + ZONAL_HEADROOM) * 2**20 and failures == 0, (peak, failures)
    keys = ["count", "sum", "mean", "median", "stdev", "min", "max"]
    expected = zonal_statistics(band, from_wkb(wkbs), tuple(transform)[:6], nodata=-9999.0,
                                stats=keys, percentiles=[90])
    written = ogr.Open(out)  # held: its layer would dangle without it
    rows = sorted(((f.GetField("name"), f) for f in written.GetLayer(0)),
                  key=lambda item: item[0])
    assert len(rows) == 8
    for i, (_, feature) in enumerate(rows):
        assert feature.GetField("_count") > 100000
        for key in keys + ["p90"]:
            assert feature.GetField("_" + key) == expected[key][i], (i, key)


@CGROUP_V1
def test_the_seed_pipeline_streams_under_a_hard_limit(big, tmp_path, plugin_parent_dir):
    """tilewise:pipeline with the seed document (mask -> fill -> mean, fused) on the 114 MiB
    raster, MEMORY=64 (its 101-px margin needs 24 MiB: three strips of 203 rows of the input
    and one core row of the outputs in half the budget, the tiles beside them in the other
    half): its three outputs (256 MiB)
    and the input never held whole, under a hard limit of the budget + SEED_HEADROOM for
    every process together, below what the run in memory needs (TILEWISE_TEST_STREAM=0: it
    was killed); bit for bit the run without a limit, in memory. The page cache of the
    written files counts against the limit and is reclaimed when it is reached, so the
    limit may be hit (failcnt), but nothing is killed."""
    budget = 64
    seed = os.path.join(os.path.dirname(qh.__file__), os.pardir, "resources", "pipelines",
                        "seed.json")
    args = ["tilewise:pipeline", "--", f"PIPELINE={os.path.abspath(seed)}", f"INPUTS={big}",
            "WORKERS=2", f"MEMORY={budget}"]
    result, peak, failures = _under_limit(budget, tmp_path, plugin_parent_dir,
                                          args + [f"OUTPUT_FOLDER={tmp_path / 'limited'}"],
                                          headroom=SEED_HEADROOM)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-2000:])
    print(f"peak of every process together: {peak / 2**20:.0f} MiB, limit hit {failures} "
          "times")
    assert peak <= (budget + SEED_HEADROOM) * 2**20
    reference = _qgis_process(tmp_path, plugin_parent_dir,
                              args + [f"OUTPUT_FOLDER={tmp_path / 'free'}"],
                              env={"TILEWISE_STREAM": "0", "TILEWISE_CACHE": "0"})
    assert reference.returncode == 0, reference.stderr[-2000:]
    for name in ("mask", "filled", "smooth"):
        a = qh.read_geotiff(tmp_path / "limited" / f"{name}.tif")[0]
        b = qh.read_geotiff(tmp_path / "free" / f"{name}.tif")[0]
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), name
