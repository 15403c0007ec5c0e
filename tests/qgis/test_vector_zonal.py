"""Zonal statistics: the engine against a rasterize-based reference (every statistic, both
pixel rules, holes, multipolygons, polygons outside, nodata and NaN, any worker count), and
tilewise:zonalstatistics against native:zonalstatisticsfb through Processing."""

import math

import numpy as np
import pytest
from rasterio.transform import from_origin

import qgis_helpers as qh
import vector_helpers as vh
from tilewise.engine import InputError
from tilewise.engine.vector import Rings, from_wkb, zonal_statistics
from tilewise.engine.vector.zonal import STATISTICS, percentile_name

NODATA = -9999.0
H, W = 90, 110
TRANSFORM = from_origin(500000.0, 4600000.0, 10.0, 10.0)
EXACT = ("count", "min", "max", "range", "median", "minority", "majority", "variety", "nodata")


def rings_of(geoms):
    polygons = []
    for g in geoms:
        parts = [g["coordinates"]] if g["type"] == "Polygon" else g["coordinates"]
        polygons.append([ring[:-1] for part in parts for ring in part])
    return Rings.from_lists(polygons)


@pytest.fixture(scope="module")
def band():
    rng = np.random.default_rng(5)
    values = rng.integers(0, 12, (H, W)).astype(np.float32) + 100  # ties for majority
    values[rng.random((H, W)) < 0.1] = NODATA
    values[10:14, 20:60] = np.nan
    return values


@pytest.fixture(scope="module")
def geoms():
    return vh.random_polygons(np.random.default_rng(6), 120, H, W, TRANSFORM)


def check_against_reference(band, geoms, result, all_touched, qs=()):
    for i, geom in enumerate(geoms):
        pixels = band[vh.reference_pixels(geom, (H, W), TRANSFORM, all_touched)]
        bad = np.isnan(pixels) | (pixels == NODATA)
        values = pixels[~bad].astype(np.float64)
        ref = vh.reference_stats(values)
        ref["nodata"] = int(bad.sum())
        for q in qs:
            if len(values):
                ref[percentile_name(q)] = np.percentile(values, q)
        for key, got in result.items():
            if key not in ref:
                assert math.isnan(got[i]), (i, key, got[i])
            elif key in EXACT or key.startswith("p"):
                assert got[i] == ref[key], (i, key, got[i], ref[key])
            else:
                assert got[i] == pytest.approx(ref[key], rel=1e-12, abs=1e-9), (i, key)


@pytest.mark.parametrize("all_touched", [False, True])
def test_every_statistic_equals_rasterize_reference(band, geoms, all_touched):
    qs = (0, 10, 50, 97.5, 100)
    result = zonal_statistics(band, rings_of(geoms), TRANSFORM, nodata=NODATA,
                              stats=STATISTICS, percentiles=qs, all_touched=all_touched,
                              workers=1)
    assert set(result) == set(STATISTICS) | {percentile_name(q) for q in qs}
    check_against_reference(band, geoms, result, all_touched, qs)
    assert (result["count"] == 0).any() and (result["count"] > 50).any()


def test_results_do_not_depend_on_workers_or_batches(band, geoms, monkeypatch):
    from tilewise.engine.vector import zonal

    one = zonal_statistics(band, rings_of(geoms), TRANSFORM, nodata=NODATA, stats=STATISTICS,
                           workers=1)
    monkeypatch.setattr(zonal, "BATCH_FEATURES", 7)
    monkeypatch.setattr(zonal, "STRIP_ROWS", 5)
    two = zonal_statistics(band, rings_of(geoms), TRANSFORM, nodata=NODATA, stats=STATISTICS,
                           workers=2)
    for key in one:
        np.testing.assert_array_equal(one[key], two[key], err_msg=key)


def test_wkb_input_equals_rings(band, geoms):
    from osgeo import ogr

    wkbs = [bytes(ogr.CreateGeometryFromWkt(vh.to_wkt(g)).ExportToIsoWkb()) for g in geoms]
    wkbs[3] = None  # a null geometry: no pixel
    a = zonal_statistics(band, from_wkb(wkbs), TRANSFORM, nodata=NODATA, stats=["count", "sum"])
    b = zonal_statistics(band, rings_of(geoms), TRANSFORM, nodata=NODATA, stats=["count", "sum"])
    assert a["count"][3] == 0
    keep = np.arange(len(geoms)) != 3
    np.testing.assert_array_equal(a["sum"][keep], b["sum"][keep])


def test_sums_and_spread_stay_accurate_far_from_zero():
    """Values 1e6 + small noise, and constant zones: the prefix sums alone would lose the
    variance to cancellation; the rounding check recomputes such zones two-pass."""
    rng = np.random.default_rng(8)
    band = (1e6 + np.linspace(0, 5000, W)[None, :] + rng.normal(0, 1e-3, (H, W)))
    band[:, :30] = 7.25  # constant zones
    geoms = vh.random_polygons(np.random.default_rng(9), 60, H, W, TRANSFORM, margin=0)
    result = zonal_statistics(band, rings_of(geoms), TRANSFORM, stats=["sum", "mean", "stdev"])
    for i, geom in enumerate(geoms):
        v = band[vh.reference_pixels(geom, (H, W), TRANSFORM)]
        if not len(v):
            continue
        assert result["sum"][i] == pytest.approx(v.sum(), rel=1e-12)
        assert result["mean"][i] == pytest.approx(v.mean(), rel=1e-12)
        assert result["stdev"][i] == pytest.approx(v.std(), rel=1e-9, abs=1e-12), i


def test_integer_band_and_no_nodata():
    band = np.arange(H * W, dtype=np.int32).reshape(H, W) % 17
    geoms = vh.random_polygons(np.random.default_rng(10), 30, H, W, TRANSFORM)
    result = zonal_statistics(band, rings_of(geoms), TRANSFORM, stats=STATISTICS)
    check_against_reference(band.astype(np.float32), geoms, result, False)


def test_bad_input_names_the_parameter(band, geoms):
    with pytest.raises(InputError) as info:
        zonal_statistics(band, rings_of(geoms), TRANSFORM, stats=["mode"])
    assert info.value.param == "statistics" and "mode" in info.value.message
    with pytest.raises(InputError) as info:
        zonal_statistics(band, rings_of(geoms), TRANSFORM, percentiles=[101])
    assert info.value.param == "percentiles"
    with pytest.raises(InputError) as info:
        zonal_statistics(band[None, None], rings_of(geoms), TRANSFORM)
    assert info.value.param == "band"
    with pytest.raises(InputError) as info:
        from_wkb([b"\x01\x01\x00\x00\x00" + b"\x00" * 16])  # a point
    assert info.value.param == "geometry" and "not a polygon" in info.value.message


# --- through Processing, against QGIS's own algorithm ---------------------------------------

def polygon_layer(geoms, crs="EPSG:32631", transform=None, name="name"):
    return vh.memory_layer(f"MultiPolygon?crs={crs}&field=id:integer&field={name}:string",
                           "zones", [([i, f"zone {i}"], vh.to_wkt(geom))
                                     for i, geom in enumerate(geoms)], transform)


@pytest.mark.parametrize("reproject", [False, True])
def test_processing_equals_native_zonalstatisticsfb(processing, band, geoms, tmp_path,
                                                    reproject):
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform,
                           QgsProject)

    raster = qh.write_geotiff(tmp_path / "band.tif", band, nodata=NODATA, transform=TRANSFORM)
    if reproject:  # the layer in WGS 84: both algorithms reproject it to the raster's CRS
        to_wgs84 = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32631"),
                                          QgsCoordinateReferenceSystem("EPSG:4326"),
                                          QgsProject.instance())
        layer = polygon_layer(geoms, "EPSG:4326", to_wgs84)
    else:
        layer = polygon_layer(geoms)
    params = {"INPUT": layer, "INPUT_RASTER": raster, "RASTER_BAND": 1, "COLUMN_PREFIX": "z_",
              "STATISTICS": list(range(12)), "OUTPUT": "memory:"}
    native = vh.rows_of(processing.run("native:zonalstatisticsfb", params)["OUTPUT"])
    ours_layer = processing.run("tilewise:zonalstatistics", {**params, "WORKERS": 2})["OUTPUT"]
    ours = vh.rows_of(ours_layer)
    names = [f.name() for f in ours_layer.fields()]
    assert names == ["id", "name"] + ["z_" + s for s in STATISTICS[:12]]
    compared = 0
    for n, o in zip(native, ours):
        assert n[:2] == o[:2]
        if n[2] is None or n[2] < 2:
            # QGIS measures polygons holding at most one pixel centre by area of
            # intersection; its NULLs (bounding box off the raster) are ours too
            assert n[2] is not None or all(v is None for v in o[2:]), o
            continue
        compared += 1
        for key, a, b in zip(STATISTICS, n[2:], o[2:]):
            if key in EXACT:
                assert a == b, (o[0], key, a, b)
            else:
                assert b == pytest.approx(a, rel=1e-9, abs=1e-12), (o[0], key, a, b)
    assert compared > 60


def test_processing_all_touched_and_percentiles(processing, band, geoms, tmp_path):
    raster = qh.write_geotiff(tmp_path / "band.tif", band, nodata=NODATA, transform=TRANSFORM)
    layer = polygon_layer(geoms)
    out = processing.run("tilewise:zonalstatistics", {
        "INPUT": layer, "INPUT_RASTER": raster, "STATISTICS": [0, 12], "PERCENTILES": "25,2.5",
        "ALL_TOUCHED": True, "WORKERS": 1, "OUTPUT": "memory:"})["OUTPUT"]
    assert [f.name() for f in out.fields()][2:] == ["_count", "_nodata", "_p25", "_p2_5"]
    for row in vh.rows_of(out):
        geom = geoms[row[0]]
        pixels = band[vh.reference_pixels(geom, (H, W), TRANSFORM, all_touched=True)]
        bad = np.isnan(pixels) | (pixels == NODATA)
        values = pixels[~bad].astype(np.float64)
        if row[2] is None:  # bounding box off the raster
            assert not len(pixels)
            continue
        assert row[2] == len(values) and row[3] == bad.sum()
        if len(values):
            assert row[4] == np.percentile(values, 25) and row[5] == np.percentile(values, 2.5)
        else:
            assert row[4] is None


def test_processing_bad_parameters_are_named(processing, band, geoms, tmp_path):
    from qgis.core import QgsProcessingException

    raster = qh.write_geotiff(tmp_path / "band.tif", band, nodata=NODATA, transform=TRANSFORM)
    layer = polygon_layer(geoms, name="_mean")
    base = {"INPUT": layer, "INPUT_RASTER": raster, "OUTPUT": "memory:"}
    cases = [({"STATISTICS": [0, 2]}, "COLUMN_PREFIX", "'_mean'"),
             ({"PERCENTILES": "50, 120"}, "PERCENTILES", "120"),
             ({"STATISTICS": [], "PERCENTILES": ""}, "STATISTICS", "STATISTICS"),  # QGIS says it
             ({"RASTER_BAND": 3}, "RASTER_BAND", "does not exist")]
    for extra, name, text in cases:
        with pytest.raises(QgsProcessingException) as info:
            processing.run("tilewise:zonalstatistics", {**base, **extra})
        assert name in str(info.value) and text in str(info.value), str(info.value)


def test_geopackage_fast_path_equals_sink_path(processing, band, geoms, tmp_path):
    """A .gpkg path in and out takes GDAL's Arrow stream and an SQL update; same values as
    the QGIS feature-sink path (memory output)."""
    raster = qh.write_geotiff(tmp_path / "band.tif", band, nodata=NODATA, transform=TRANSFORM)
    path = vh.save_gpkg(polygon_layer(geoms), tmp_path / "zones.gpkg")
    params = {"INPUT": path, "INPUT_RASTER": raster, "STATISTICS": list(range(13)),
              "PERCENTILES": "50", "WORKERS": 2}
    slow = processing.run("tilewise:zonalstatistics", {**params, "OUTPUT": "memory:"})
    out = str(tmp_path / "stats.gpkg")
    fast = processing.run("tilewise:zonalstatistics", {**params, "OUTPUT": out})
    assert fast["OUTPUT"] == out
    from osgeo import ogr
    assert ogr.Open(out).GetLayer(0).GetName() == "zones"  # a copy of the input file
    a = vh.rows_of(slow["OUTPUT"], key=1)
    b = vh.rows_of(out, key=1)
    assert [r[1:] for r in a] == [r[1:] for r in b]
    assert sum(r[3] is None for r in b) > 0 and sum(r[3] == 0 for r in b) > 0


def test_every_band_at_once_equals_band_by_band(band, geoms):
    bands = np.stack([band, band * 2, np.where(np.isnan(band), 5, band - 100)])
    rings = rings_of(geoms)
    both = zonal_statistics(bands, rings, TRANSFORM, nodata=NODATA, stats=STATISTICS,
                            percentiles=(50,))
    for k in range(3):
        one = zonal_statistics(bands[k], rings, TRANSFORM, nodata=NODATA, stats=STATISTICS,
                               percentiles=(50,))
        for key in one:
            np.testing.assert_array_equal(both[key][:, k], one[key], err_msg=key)
    with pytest.raises(InputError) as info:
        zonal_statistics(bands, rings, TRANSFORM, nodata=[NODATA, NODATA])
    assert info.value.param == "nodata"


def test_processing_every_band(processing, band, geoms, tmp_path):
    bands = np.stack([band, np.where(band == NODATA, NODATA, band * 3)])
    raster = qh.write_geotiff(tmp_path / "bands.tif", bands, nodata=NODATA, transform=TRANSFORM)
    layer = polygon_layer(geoms)
    params = {"INPUT": layer, "INPUT_RASTER": raster, "STATISTICS": [0, 2, 6],
              "OUTPUT": "memory:"}
    every = processing.run("tilewise:zonalstatistics", {**params, "RASTER_BAND": 0})["OUTPUT"]
    names = [f.name() for f in every.fields()][2:]
    assert names == ["_b1_count", "_b1_mean", "_b1_max", "_b2_count", "_b2_mean", "_b2_max"]
    rows = vh.rows_of(every)
    for k in (1, 2):
        single = vh.rows_of(processing.run("tilewise:zonalstatistics",
                                           {**params, "RASTER_BAND": k})["OUTPUT"])
        assert [r[2 + 3 * (k - 1):5 + 3 * (k - 1)] for r in rows] == [r[2:] for r in single]


def test_percentile_of_sorted_is_numpy_bit_for_bit():
    from tilewise.engine.vector.zonal_values import percentile_of_sorted

    rng = np.random.default_rng(30)
    for n in (1, 2, 3, 7, 100, 1001):
        for dtype in (np.float32, np.float64, np.int16):
            v = np.sort((rng.normal(0, 1e3, n)).astype(dtype))
            for q in (0, 0.1, 2.5, 25, 33.333333, 50, 66.6, 97.5, 99.99, 100):
                want = np.percentile(v.astype(np.float64), q)
                got = percentile_of_sorted(v, q)
                assert got == want or (np.isnan(got) and np.isnan(want)), (n, dtype, q)


def test_multipolygons_spanning_the_whole_raster(band):
    """Parts in opposite corners: each bounding box is the whole raster, yet only the parts'
    pixels are visited (spans), and every statistic equals the reference."""
    rng = np.random.default_rng(31)
    a, _, c, _, e, f = TRANSFORM[:6]
    geoms = []
    for _ in range(12):
        parts = []
        for cx, cy in ((5, 5), (W - 6, H - 6), (W - 6, 5), (5, H - 6)):
            ring = vh.star(rng, cx + rng.uniform(-2, 2), cy + rng.uniform(-2, 2), 4.0)
            ring = [[c + a * x, f + e * y] for x, y in ring]
            parts.append([ring + ring[:1]])
        geoms.append({"type": "MultiPolygon", "coordinates": parts})
    result = zonal_statistics(band, rings_of(geoms), TRANSFORM, nodata=NODATA,
                              stats=STATISTICS, workers=2)
    check_against_reference(band, geoms, result, False)
    assert (result["count"] > 20).all()


def _write_raster(path, array, transform, nodata):
    import rasterio
    array = array[None] if array.ndim == 2 else array
    with rasterio.open(path, "w", driver="GTiff", width=array.shape[2], height=array.shape[1],
                       count=array.shape[0], dtype=array.dtype, transform=transform,
                       nodata=nodata, tiled=True, blockxsize=32, blockysize=32,
                       compress="deflate") as ds:
        ds.write(array)


def test_a_file_read_by_strips_within_a_small_budget_equals_the_array(tmp_path, monkeypatch):
    """Zonal statistics of a raster file (engine.Rows) in a budget far below its size: every
    statistic of every band equals the in-memory run bit for bit, for polygons whose
    bounding boxes cover the whole raster (multipolygons with parts in opposite corners) and
    small ones; the traced peak memory stays near the budget, not the raster."""
    import tracemalloc

    from tilewise.engine import Rows
    from tilewise.engine.vector import zonal
    h, w = 1500, 1200
    transform = from_origin(500000.0, 4600000.0, 10.0, 10.0)
    rng = np.random.default_rng(11)
    bands = (rng.integers(0, 50, (2, h, w)) + 100).astype(np.float32)
    bands[:, rng.random((h, w)) < 0.05] = NODATA
    path = str(tmp_path / "dsm.tif")
    _write_raster(path, bands, transform, NODATA)
    x0, y0 = 500000.0, 4600000.0
    wide = []
    for k in range(6):  # two parts in opposite corners, a third across the middle
        a, b = 10.0 * (5 + 3 * k), 10.0 * (20 + 7 * k)
        wide.append({"type": "MultiPolygon", "coordinates": [
            [[(x0 + a, y0 - a), (x0 + b, y0 - a), (x0 + b, y0 - b), (x0 + a, y0 - a)]],
            [[(x0 + w * 10 - b, y0 - h * 10 + a), (x0 + w * 10 - a, y0 - h * 10 + a),
              (x0 + w * 10 - a, y0 - h * 10 + b), (x0 + w * 10 - b, y0 - h * 10 + a)]],
            [[(x0, y0 - 5000 - a), (x0 + w * 10, y0 - 5000 - a), (x0 + w * 10, y0 - 5200 - b),
              (x0, y0 - 5000 - a)]]]})
    geoms = wide + vh.random_polygons(np.random.default_rng(12), 200, h, w, transform)
    stats = [s for s in STATISTICS]
    qs = (5, 50, 99)
    whole = zonal_statistics(bands, rings_of(geoms), transform, nodata=NODATA, stats=stats,
                             percentiles=qs, workers=2)
    monkeypatch.setattr(zonal, "CHUNK_BYTES", 2**20)  # many chunks: 218 rows each
    budget = 4 * 2**20  # the raster is 14 MiB
    rows = Rows(path)
    rings = rings_of(geoms)
    tracemalloc.start()
    try:
        streamed = zonal_statistics(rows, rings, transform, nodata=NODATA, stats=stats,
                                    percentiles=qs, workers=2, memory_budget=budget)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert set(streamed) == set(whole)
    for key in whole:
        np.testing.assert_array_equal(streamed[key], whole[key], err_msg=key)
    # the wide ones cover more pixels than a thread gathers at once in this budget
    # (zonal's limit: 20,971 values), so their sorted statistics went through
    # selection.Pieces, pass after pass
    pixels = whole["count"][:6] + whole["nodata"][:6]
    assert (pixels > 4 * 2**20 // 4 // (2 * 4 + 17) // 2).all()
    spans = zonal.spans(rings.transformed(transform), h, w, False)[0].size * 32 * 3
    assert peak < budget + spans + 2**20 * 3, (peak / 2**20, spans / 2**20)
    assert peak < bands.nbytes / 2
    # a budget below one strip's rows is refused, naming the minimum
    with pytest.raises(InputError, match="needs at least"):
        zonal_statistics(rows, rings, transform, nodata=NODATA, memory_budget=2**16)


def test_all_touched_polygons_that_miss_the_raster_are_not_an_error(band):
    """Every polygon outside the raster under ALL_TOUCHED: no span at all (this raised an
    IndexError in the merge of the touched cells)."""
    far = [[[(0.0, 0.0), (10.0, 0.0), (10.0, 10.0)]],
           [[(1e7, 1e7), (1e7 + 5, 1e7), (1e7, 1e7 + 5)]]]
    result = zonal_statistics(band, Rings.from_lists(far), TRANSFORM, nodata=NODATA,
                              stats=["count", "sum", "mean"], all_touched=True)
    assert result["count"].tolist() == [0, 0]
    assert np.isnan(result["mean"]).all()
