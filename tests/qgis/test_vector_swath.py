"""Swath geolocation: zonal statistics and point sampling on a small curved swath (lon/lat
grids of a rotated, warped grid) against brute force: OGR's point-in-polygon on every pixel,
and the nearest of every pixel by great-circle distance."""

import warnings

import numpy as np
import pytest
from rasterio.errors import NotGeoreferencedWarning
from osgeo import ogr

from tilewise.engine import InputError
from tilewise.engine.vector import Swath, swath_sample_points, swath_zonal_statistics
from tilewise.engine.vector.zonal import STATISTICS, percentile_name
import vector_helpers as vh

H, W = 60, 80


@pytest.fixture(scope="module")
def swath():
    i, j = np.mgrid[0:H, 0:W].astype(np.float64)
    theta = np.radians(25)
    lon = 10 + 0.01 * (j * np.cos(theta) - i * np.sin(theta)) + 2e-5 * i * i
    lat = 45 + 0.008 * (j * np.sin(theta) + i * np.cos(theta)) + 3e-5 * j * j - 1e-5 * i * j
    lon[0, :5] = np.nan  # pixels without location
    rng = np.random.default_rng(20)
    band = rng.integers(0, 9, (H, W)).astype(np.float32)
    band[rng.random((H, W)) < 0.08] = -1
    return lon, lat, band


@pytest.fixture(scope="module")
def polygons(swath):
    lon, lat, _ = swath
    rng = np.random.default_rng(21)
    # random polygons in degrees around the swath (some partly outside), via the test helper
    # in a "pixel" frame of 0.005 degrees
    transform = (0.005, 0.0, float(np.nanmin(lon)), 0.0, 0.005, float(np.nanmin(lat)))
    height = int((np.nanmax(lat) - np.nanmin(lat)) / 0.005)
    width = int((np.nanmax(lon) - np.nanmin(lon)) / 0.005)
    return vh.random_polygons(rng, 40, height, width, transform, rmax=15, margin=5)


def brute_inside(geom, lon, lat):
    g = ogr.CreateGeometryFromWkt(vh.to_wkt(geom))
    inside = np.zeros(lon.shape, dtype=bool)
    for idx in np.ndindex(lon.shape):
        if np.isfinite(lon[idx]):
            p = ogr.Geometry(ogr.wkbPoint)
            p.AddPoint_2D(float(lon[idx]), float(lat[idx]))
            inside[idx] = g.Contains(p)
    return inside


def test_zonal_statistics_equal_brute_force(swath, polygons):
    lon, lat, band = swath
    wkbs = [bytes(ogr.CreateGeometryFromWkt(vh.to_wkt(g)).ExportToIsoWkb()) for g in polygons]
    result = swath_zonal_statistics(band, wkbs, lon, lat, nodata=-1, stats=STATISTICS,
                                    percentiles=(25,), workers=2)
    hit = 0
    for k, geom in enumerate(polygons):
        pixels = band[brute_inside(geom, lon, lat)]
        values = pixels[pixels != -1].astype(np.float64)
        ref = vh.reference_stats(values)
        assert result["nodata"][k] == (pixels == -1).sum()
        for key, got in result.items():
            if key in ref:
                assert got[k] == pytest.approx(ref[key], rel=1e-12), (k, key)
        if len(values):
            hit += 1
            assert result[percentile_name(25)][k] == np.percentile(values, 25)
    assert hit > 15


def test_nearest_pixel_equals_brute_force(swath):
    lon, lat, band = swath
    rng = np.random.default_rng(22)
    pts = np.column_stack((rng.uniform(np.nanmin(lon) - 0.05, np.nanmax(lon) + 0.05, 300),
                           rng.uniform(np.nanmin(lat) - 0.05, np.nanmax(lat) + 0.05, 300)))
    values, valid = swath_sample_points(band, pts, lon, lat, nodata=-1)
    s = Swath(lon, lat)
    index, found = s.nearest(pts[:, 0], pts[:, 1])
    flat_lon, flat_lat = lon.ravel(), lat.ravel()
    ok = np.isfinite(flat_lon)
    lo, la = np.radians(flat_lon[ok]), np.radians(flat_lat[ok])
    where = np.flatnonzero(ok)
    for n, (x, y) in enumerate(np.radians(pts)):
        # haversine distance to every located pixel
        d = 2 * np.arcsin(np.sqrt(np.sin((la - y) / 2) ** 2 +
                                  np.cos(y) * np.cos(la) * np.sin((lo - x) / 2) ** 2))
        best = np.argmin(d)
        if np.degrees(d[best]) < 1.5 * s.spacing * 0.999:
            assert found[n] and index[n] == where[best], n
            v = band.ravel()[where[best]]
            assert valid[n, 0] == (v != -1) and (not valid[n, 0] or values[n, 0] == v)
        elif np.degrees(d[best]) > 1.5 * s.spacing * 1.001:
            assert not found[n] and not valid[n, 0]
    assert 50 < found.sum() < 300


def test_bad_geolocation_is_named(swath):
    lon, lat, band = swath
    with pytest.raises(InputError) as info:
        swath_zonal_statistics(band, [], lon[:, :-1], lat[:, :-1])
    assert info.value.param == "geolocation"
    with pytest.raises(InputError) as info:
        Swath(np.full((3, 3), np.nan), np.zeros((3, 3)))
    assert info.value.param == "geolocation"


@pytest.fixture(scope="module")
def swath_files(swath, tmp_path_factory):
    import rasterio

    lon, lat, band = swath
    folder = tmp_path_factory.mktemp("swath")
    paths = {}
    for name, array in (("lon", lon), ("lat", lat), ("band", band)):
        path = str(folder / f"{name}.tif")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # no geotransform
            with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1,
                               dtype=array.dtype.name,
                               nodata=-1 if name == "band" else None) as dst:
                dst.write(array, 1)
        paths[name] = path
    return paths


def wgs84_layer(kind, wkts):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    layer = QgsVectorLayer(f"{kind}?crs=EPSG:4326&field=id:integer", "swath", "memory")
    features = []
    for i, wkt in enumerate(wkts):
        feature = QgsFeature(layer.fields())
        feature.setAttributes([i])
        feature.setGeometry(QgsGeometry.fromWkt(wkt))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    return layer


@pytest.mark.filterwarnings("ignore:Dataset has no geotransform")
def test_processing_swath_zonal_and_sampling(processing, swath, swath_files, polygons):
    lon, lat, band = swath
    layer = wgs84_layer("MultiPolygon", [vh.to_wkt(g) for g in polygons])
    out = processing.run("tilewise:zonalstatistics", {
        "INPUT": layer, "INPUT_RASTER": swath_files["band"], "STATISTICS": [0, 1, 6],
        "LONGITUDE": swath_files["lon"], "LATITUDE": swath_files["lat"],
        "OUTPUT": "memory:"})["OUTPUT"]
    rows = vh.rows_of(out)
    checked = 0
    for row, geom in zip(rows, polygons):
        pixels = band[brute_inside(geom, lon, lat)]
        values = pixels[pixels != -1].astype(np.float64)
        if row[1] is None:  # bounding box off the swath
            assert not len(pixels)
            continue
        assert row[1] == len(values) and row[2] == pytest.approx(values.sum(), rel=1e-12)
        assert row[3] == (values.max() if len(values) else None)
        checked += len(values) > 0
    assert checked > 15
    rng = np.random.default_rng(23)
    i, j = rng.integers(0, H, 50), rng.integers(0, W, 50)
    keep = np.isfinite(lon[i, j])
    wkts = [f"POINT ({lon[a, b]!r} {lat[a, b]!r})" for a, b in zip(i[keep], j[keep])]
    sampled = vh.rows_of(processing.run("tilewise:samplepoints", {
        "INPUT": wgs84_layer("Point", wkts), "RASTERCOPY": swath_files["band"],
        "LONGITUDE": swath_files["lon"], "LATITUDE": swath_files["lat"],
        "OUTPUT": "memory:"})["OUTPUT"])
    for row, a, b in zip(sampled, i[keep], j[keep]):  # a point on a pixel centre: that pixel
        assert row[1] == (None if band[a, b] == -1 else band[a, b])


def test_processing_swath_bad_parameters(processing, swath_files, polygons):
    from qgis.core import QgsProcessingException

    layer = wgs84_layer("MultiPolygon", [vh.to_wkt(g) for g in polygons[:3]])
    base = {"INPUT": layer, "INPUT_RASTER": swath_files["band"], "OUTPUT": "memory:"}
    cases = [({"LONGITUDE": swath_files["lon"]}, "LATITUDE", "both"),
             ({"LONGITUDE": swath_files["lon"], "LATITUDE": swath_files["lat"],
               "ALL_TOUCHED": True}, "ALL_TOUCHED", "geotransform")]
    for extra, name, text in cases:
        with pytest.raises(QgsProcessingException) as info:
            processing.run("tilewise:zonalstatistics", {**base, **extra})
        assert name in str(info.value) and text in str(info.value), str(info.value)


@pytest.mark.filterwarnings("ignore:Dataset has no geotransform")
def test_gdal_geolocation_metadata_is_used(processing, swath_files, polygons, tmp_path):
    """A raster without geotransform whose GEOLOCATION metadata names the lon/lat rasters
    (as Sentinel-3 netCDF products do): the same result as LONGITUDE and LATITUDE given."""
    import shutil

    from osgeo import gdal

    from tilewise.engine.vector.swath import geolocation_arrays

    path = str(tmp_path / "geolocated.tif")
    shutil.copyfile(swath_files["band"], path)
    ds = gdal.Open(path, gdal.GA_Update)
    ds.SetMetadata({"X_DATASET": swath_files["lon"], "X_BAND": "1",
                    "Y_DATASET": swath_files["lat"], "Y_BAND": "1", "SRS": "EPSG:4326",
                    "PIXEL_OFFSET": "0", "LINE_OFFSET": "0", "PIXEL_STEP": "1",
                    "LINE_STEP": "1"}, "GEOLOCATION")
    ds = None
    lon, lat = geolocation_arrays(path)
    assert lon.shape == (H, W) and np.isnan(lon[0, 0]) and np.isfinite(lat).all()
    assert geolocation_arrays(swath_files["lon"]) is None
    layer = wgs84_layer("MultiPolygon", [vh.to_wkt(g) for g in polygons])
    params = {"INPUT": layer, "STATISTICS": [0, 1], "OUTPUT": "memory:"}
    auto = vh.rows_of(processing.run("tilewise:zonalstatistics",
                                     {**params, "INPUT_RASTER": path})["OUTPUT"])
    given = vh.rows_of(processing.run("tilewise:zonalstatistics", {
        **params, "INPUT_RASTER": swath_files["band"], "LONGITUDE": swath_files["lon"],
        "LATITUDE": swath_files["lat"]})["OUTPUT"])
    assert auto == given and sum(r[1] is not None and r[1] > 0 for r in auto) > 15
