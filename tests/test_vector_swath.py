"""Swath geolocation: zonal statistics and point sampling on a small curved swath (lon/lat
grids of a rotated, warped grid) against brute force: OGR's point-in-polygon on every pixel,
and the nearest of every pixel by great-circle distance."""

import numpy as np
import pytest
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
