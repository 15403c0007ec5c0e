"""Point sampling: the engine against direct indexing, and tilewise:samplepoints against
native:rastersampling through Processing (every band, integer and float rasters, points
outside, nodata, multipoints, null geometries, another CRS)."""

import numpy as np
import pytest
from rasterio.transform import from_origin

import qgis_helpers as qh
import vector_helpers as vh
from tilewise.engine import InputError
from tilewise.engine.vector import points_from_wkb, sample_points
from tilewise.engine.vector.sampling import pixel_of

H, W = 40, 55
TRANSFORM = from_origin(500000.0, 4600000.0, 10.0, 10.0)


def test_sample_points_equals_indexing():
    rng = np.random.default_rng(1)
    array = rng.normal(size=(3, H, W)).astype(np.float32)
    array[1, 5, 7] = -1
    array[2, 6, 8] = np.nan
    xy = np.column_stack((rng.uniform(499900, 500000 + 10 * W + 100, 500),
                          rng.uniform(4600000 - 10 * H - 100, 4600100, 500)))
    xy[0] = (500000 + 75.5, 4600000 - 55.5)   # pixel (5, 7)
    xy[1] = (500000 + 85.5, 4600000 - 65.5)   # pixel (6, 8)
    values, valid = sample_points(array, xy, TRANSFORM, nodata=-1)
    col = np.floor((xy[:, 0] - 500000) / 10).astype(int)
    row = np.floor((4600000 - xy[:, 1]) / 10).astype(int)
    inside = (row >= 0) & (row < H) & (col >= 0) & (col < W)
    assert 0 < inside.sum() < len(xy)
    for k in range(3):
        ref = np.zeros(len(xy), np.float32)
        ref[inside] = array[k][row[inside], col[inside]]
        ok = inside & (ref != -1) & ~np.isnan(ref)
        np.testing.assert_array_equal(valid[:, k], ok)
        np.testing.assert_array_equal(values[ok, k], ref[ok])
    assert not valid[0, 1] and valid[0, 0] and not valid[1, 2]


@pytest.mark.parametrize("budget", [None, 3 * W * 4 * 2 * 16])
def test_sample_points_from_a_file_reads_only_rows_with_points(tmp_path, monkeypatch, budget):
    """A compressed raster file (engine.Rows) gives the values of the array; only the rows
    holding a point are read, by strips within the memory budget (here 16 rows of 3 bands,
    2 threads)."""
    from tilewise.engine import Rows

    rng = np.random.default_rng(7)
    array = rng.normal(size=(3, H, W)).astype(np.float32)
    array[0, rng.random((H, W)) < 0.2] = -1
    path = qh.write_geotiff(tmp_path / "r.tif", array, nodata=-1, transform=TRANSFORM,
                            tiled=True, blockxsize=16, blockysize=16, compress="deflate")
    xy = np.column_stack((rng.uniform(499900, 500000 + 10 * W + 100, 300),
                          rng.uniform(4600000 - 10 * H - 100, 4600100, 300)))
    xy[(xy[:, 1] > 4600000 - 10 * 30) & (xy[:, 1] < 4600000 - 10 * 12), 1] = 4600000 - 5
    reads = []
    read = Rows.read
    monkeypatch.setattr(Rows, "read", lambda self, r0, r1: reads.append((r0, r1)) or
                        read(self, r0, r1))
    want = sample_points(array, xy, TRANSFORM, nodata=-1)
    got = sample_points(Rows(path), xy, TRANSFORM, nodata=-1, memory_budget=budget,
                        workers=2)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    assert want[1].sum() > 100 and (~want[1]).sum() > 50
    row, col = pixel_of(xy, TRANSFORM)
    with_points = set(row[(row >= 0) & (row < H) & (col >= 0) & (col < W)].tolist())
    assert reads and all(r0 in with_points and r1 - 1 in with_points for r0, r1 in reads)
    if budget is not None:   # strips of 16 rows: the rows 12 to 29 hold no point
        assert not {r for r0, r1 in reads for r in range(r0, r1)} & set(range(12, 30))
        assert len(reads) > 2 and max(r1 - r0 for r0, r1 in reads) <= 16


@pytest.mark.parametrize("layout", ["tiled", "striped", "pixel", "int16", "uint8", "float64",
                                    "big-endian", "sparse", "truncated", "deflate"])
def test_uncompressed_files_are_sampled_from_their_bytes(tmp_path, monkeypatch, layout):
    """An uncompressed GeoTIFF is sampled from the file's bytes at GDAL's block offsets,
    without GDAL reading its rows, and gives GDAL's values for every layout; a sparse, a
    truncated or a compressed file is read through GDAL instead (no crash, same values)."""
    import os

    import rasterio

    from tilewise.engine import Rows
    from tilewise.engine.io.direct import direct_pixels
    rng = np.random.default_rng(len(layout))
    dtype = {"int16": "int16", "uint8": "uint8", "float64": "float64"}.get(layout, "float32")
    array = (rng.normal(size=(3, H, W)) * 50).astype(dtype)
    options = {"tiled": layout != "striped", "blockxsize": 16, "blockysize": 16,
               "interleave": "pixel" if layout == "pixel" else "band"}
    if layout == "striped":
        options = {"tiled": False, "blockysize": 7, "interleave": "band"}
    if layout == "big-endian":
        options["ENDIANNESS"] = "BIG"
    if layout == "deflate":
        options["compress"] = "deflate"
    path = str(tmp_path / "r.tif")
    if layout == "sparse":
        with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=3,
                           dtype=dtype, transform=TRANSFORM, tiled=True, blockxsize=16,
                           blockysize=16, sparse_ok=True, nodata=0) as ds:
            ds.write(array[:, :32, :], window=((0, 32), (0, W)))  # later blocks never written
        array[:, 32:, :] = 0
    else:
        qh.write_geotiff(path, array, transform=TRANSFORM, **options)
    if layout == "truncated":
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) * 2 // 3)
        with rasterio.open(path) as ds:
            array = None  # GDAL cannot read it either: the direct path must refuse, not crash
    xy = np.column_stack((rng.uniform(500000, 500000 + 10 * W, 500),
                          rng.uniform(4600000 - 10 * H, 4600000, 500)))
    row, col = pixel_of(xy, TRANSFORM)
    direct = direct_pixels(path, [1, 2, 3], row, col)
    if layout in ("sparse", "truncated", "deflate"):
        assert direct is None
        if array is None:
            return
    else:
        assert direct is not None and direct.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(direct, array[:, row, col])
        monkeypatch.setattr(Rows, "read", lambda *a: pytest.fail("GDAL read rows"))
    values, _ = sample_points(Rows(path), xy, TRANSFORM, workers=2)
    np.testing.assert_array_equal(values.T, array[:, row, col])


def test_points_from_wkb_keeps_every_part():
    from osgeo import ogr

    wkbs = [bytes(ogr.CreateGeometryFromWkt(w).ExportToIsoWkb()) for w in
            ("POINT (1 2)", "MULTIPOINT ((3 4), (5 6))", "POINT Z (7 8 9)")] + [None]
    xy, feature = points_from_wkb(wkbs)
    np.testing.assert_array_equal(xy, [[1, 2], [3, 4], [5, 6], [7, 8]])
    np.testing.assert_array_equal(feature, [0, 1, 1, 2])
    with pytest.raises(InputError):
        line = ogr.CreateGeometryFromWkt("LINESTRING (0 0, 1 1)")
        points_from_wkb([bytes(line.ExportToIsoWkb())])


def test_pixel_of_rotated_grid_uses_the_inverse():
    transform = (10.0, 2.0, 100.0, 1.0, -10.0, 200.0)
    px, py = 3.25, 4.75
    x = 100 + 10 * px + 2 * py
    y = 200 + 1 * px - 10 * py
    row, col = pixel_of([[x, y]], transform)
    assert (row[0], col[0]) == (4, 3)


def point_layer(points, crs="EPSG:32631", name="id"):
    return vh.memory_layer(f"MultiPoint?crs={crs}&field={name}:integer", "points",
                           [([i], wkt) for i, wkt in enumerate(points)])


def random_points(rng, n, transform=None):
    xs = rng.uniform(499950, 500000 + 10 * W + 50, n)
    ys = rng.uniform(4600000 - 10 * H - 50, 4600050, n)
    points = [f"POINT ({x!r} {y!r})" for x, y in zip(xs, ys)]
    points[3] = f"MULTIPOINT (({xs[3]!r} {ys[3]!r}))"
    # two points, the first on pixel (0, 0), which the tests keep valid: NULL as in QGIS
    points[4] = "MULTIPOINT ((500005 4599995), (500015 4599985))"
    points[6] = None
    points[7] = "MULTIPOINT EMPTY"
    return points


@pytest.mark.parametrize("dtype", ["int16", "float32"])
def test_processing_equals_native_rastersampling(processing, tmp_path, dtype):
    rng = np.random.default_rng(2)
    array = rng.integers(-100, 100, (3, H, W)).astype(dtype)
    array[:, rng.random((H, W)) < 0.1] = -99
    if dtype == "float32":
        array = array + np.float32(0.25)
        array[1, 3:9, :] = np.nan
    array[:, 0, :2] = 7
    nodata = -99 + (dtype == "float32") * 0.25
    raster = qh.write_geotiff(tmp_path / f"{dtype}.tif", array, nodata=nodata,
                              transform=TRANSFORM)
    layer = point_layer(random_points(rng, 400))
    params = {"INPUT": layer, "RASTERCOPY": raster, "COLUMN_PREFIX": "v_", "OUTPUT": "memory:"}
    native = processing.run("native:rastersampling", params)["OUTPUT"]
    ours = processing.run("tilewise:samplepoints", {**params, "WORKERS": 2})["OUTPUT"]
    assert [(f.name(), f.type()) for f in ours.fields()] == \
        [(f.name(), f.type()) for f in native.fields()]
    a, b = vh.rows_of(native), vh.rows_of(ours)
    assert a == b and b[4][1:] == [None, None, None]  # the multipoint of two points
    assert sum(r[1] is None for r in b) > 10 and sum(r[1] is not None for r in b) > 200


def test_processing_reprojects_points(processing, tmp_path):
    from qgis.core import (QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsGeometry,
                           QgsProject)

    rng = np.random.default_rng(3)
    array = rng.normal(size=(H, W)).astype(np.float32)
    raster = qh.write_geotiff(tmp_path / "r.tif", array, transform=TRANSFORM)
    to_wgs84 = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32631"),
                                      QgsCoordinateReferenceSystem("EPSG:4326"),
                                      QgsProject.instance())
    points = []
    for wkt in random_points(rng, 200)[8:]:
        g = QgsGeometry.fromWkt(wkt)
        g.transform(to_wgs84)
        points.append(g.asWkt(17))
    layer = point_layer(points, "EPSG:4326")
    params = {"INPUT": layer, "RASTERCOPY": raster, "COLUMN_PREFIX": "S_", "OUTPUT": "memory:"}
    native = vh.rows_of(processing.run("native:rastersampling", params)["OUTPUT"])
    ours = vh.rows_of(processing.run("tilewise:samplepoints", {**params, "WORKERS": 1})["OUTPUT"])
    assert native == ours and sum(r[1] is not None for r in ours) > 100


def test_processing_prefix_collision_is_named(processing, tmp_path):
    from qgis.core import QgsProcessingException

    raster = qh.write_geotiff(tmp_path / "r.tif", np.arange(2 * H * W, dtype=np.float32)
                              .reshape(2, H, W), transform=TRANSFORM)
    layer = point_layer(["POINT (500001 4599999)"], name="S_2")
    with pytest.raises(QgsProcessingException) as info:
        processing.run("tilewise:samplepoints", {"INPUT": layer, "RASTERCOPY": raster,
                                                 "COLUMN_PREFIX": "S_", "OUTPUT": "memory:"})
    assert "COLUMN_PREFIX" in str(info.value) and "'S_2'" in str(info.value)


def test_geopackage_fast_path_equals_native(processing, tmp_path):
    """A .gpkg path in and out takes GDAL's Arrow stream and an SQL update; same values."""
    import vector_helpers as vh

    rng = np.random.default_rng(4)
    array = rng.normal(size=(2, H, W)).astype(np.float32)
    array[:, rng.random((H, W)) < 0.1] = -99
    array[:, 0, :2] = 7
    raster = qh.write_geotiff(tmp_path / "r.tif", array, nodata=-99, transform=TRANSFORM)
    points = vh.save_gpkg(point_layer(random_points(rng, 300)), tmp_path / "points.gpkg")
    native = processing.run("native:rastersampling", {
        "INPUT": points, "RASTERCOPY": raster, "COLUMN_PREFIX": "S_",
        "OUTPUT": "memory:"})["OUTPUT"]
    out = str(tmp_path / "sampled.gpkg")
    result = processing.run("tilewise:samplepoints", {
        "INPUT": points, "RASTERCOPY": raster, "COLUMN_PREFIX": "S_", "OUTPUT": out})
    assert result["OUTPUT"] == out
    from osgeo import ogr
    assert ogr.Open(out).GetLayer(0).GetName() == "points"  # a copy of the input file
    a = [r[1:] for r in vh.rows_of(native, key=1)]   # [fid, id, S_1, S_2] in the gpkg
    b = [r[1:] for r in vh.rows_of(out, key=1)]
    assert a == b and sum(r[1] is None for r in b) > 10
    assert b[4][1:] == [None, None]  # the multipoint of two points
    from qgis.core import QgsVectorLayer
    layer = QgsVectorLayer(out, "out", "ogr")
    assert layer.featureCount() == 300 and layer.hasSpatialIndex() in (1, 2)  # kept
    # the R-tree triggers, dropped for the update, are back as they were, and the index
    # still finds the features of a window
    import sqlite3

    def triggers(path):
        with sqlite3.connect(path) as db:
            return sorted(db.execute("SELECT name, sql FROM sqlite_master WHERE "
                                     "type = 'trigger' AND tbl_name = 'points'").fetchall())
    assert triggers(out) == triggers(points) and len(triggers(out)) >= 6

    def in_window(path):
        ds = ogr.Open(path)
        lyr = ds.GetLayer(0)
        lyr.SetSpatialFilterRect(500000 + 10 * 5, 4600000 - 10 * 40, 500000 + 10 * 30,
                                 4600000 - 10 * 5)
        return sorted(f.GetFID() for f in lyr)
    assert in_window(out) == in_window(points) and in_window(out)


@pytest.mark.parametrize("radius", [10.0, 25.0, 60.0])
def test_buffer_statistics_equal_brute_force_discs(radius):
    from tilewise.engine.vector.sampling import buffer_statistics

    rng = np.random.default_rng(5)
    transform = (10.0, 0.0, 500000.0, 0.0, -20.0, 4600000.0)  # non-square pixels
    array = rng.normal(size=(2, H, W))
    array[0, rng.random((H, W)) < 0.1] = -1
    xy = np.column_stack((rng.uniform(499900, 500000 + 10 * W + 100, 150),
                          rng.uniform(4600000 - 20 * H - 100, 4600100, 150)))
    xy[0] = (500000 + 10 * 5.5, 4600000 - 20 * 7.5)  # a pixel centre: ties on the boundary
    result = buffer_statistics(array, xy, transform, radius, nodata=-1,
                               stats=["count", "mean", "median", "max"])
    jj, ii = np.meshgrid(np.arange(W), np.arange(H))
    x, y = 500000 + 10 * (jj + 0.5), 4600000 - 20 * (ii + 0.5)
    for n, (px, py) in enumerate(xy):
        disc = (x - px) ** 2 + (y - py) ** 2 <= radius ** 2
        for k in range(2):
            v = array[k][disc]
            v = v[v != -1]
            assert result["count"][n, k] == len(v)
            if len(v):
                assert result["mean"][n, k] == pytest.approx(v.mean(), rel=1e-12)
                assert result["median"][n, k] == np.median(v)
                assert result["max"][n, k] == v.max()
            else:
                assert np.isnan(result["mean"][n, k])
    assert (result["count"] > 0).sum() > 50


def test_processing_buffer(processing, tmp_path):
    rng = np.random.default_rng(6)
    array = rng.normal(size=(2, H, W)).astype(np.float32)
    raster = qh.write_geotiff(tmp_path / "r.tif", array, transform=TRANSFORM)
    points = random_points(rng, 100)
    out = processing.run("tilewise:samplepoints", {
        "INPUT": point_layer(points), "RASTERCOPY": raster, "BUFFER": 25.0,
        "BUFFER_STATISTIC": 6, "OUTPUT": "memory:"})["OUTPUT"]   # 6 = maximum
    assert [f.typeName() for f in out.fields()][1:] == ["double", "double"]
    jj, ii = np.meshgrid(np.arange(W), np.arange(H))
    x, y = 500000 + 10 * (jj + 0.5), 4600000 - 10 * (ii + 0.5)
    for row, wkt in zip(vh.rows_of(out), points):
        if wkt is None or "EMPTY" in wkt or wkt.count(",") > 0:
            assert row[1:] == [None, None]
            continue
        px, py = map(float, wkt.split("(")[-1].rstrip(")").split())
        disc = (x - px) ** 2 + (y - py) ** 2 <= 25.0 ** 2
        want = [float(array[k][disc].max()) if disc.any() else None for k in range(2)]
        assert row[1:] == want
