"""The geometry mask as a filter (engine.filters.geometry_mask): burnt tile by tile it equals
the whole-grid mask, alone, with a raster mask and in a fused pipeline before a fill."""

import numpy as np
import pytest

from tilewise.engine import Engine, InputError, Pipeline, Profile, filters
from tilewise.engine.vector import Rings, geometry_mask

H, W = 230, 170
TRANSFORM = (10.0, 0.0, 500000.0, 0.0, -10.0, 4600000.0)
UTM31 = 'EPSG:32631'


def _polygons(seed, count):
    rng = np.random.default_rng(seed)
    polygons = []
    for _ in range(count):
        cx, cy = 500000.0 + rng.uniform(-100, W * 10 + 100), 4600000.0 - rng.uniform(-100, H * 10 + 100)
        n = rng.integers(3, 12)
        angles = np.sort(rng.uniform(0, 2 * np.pi, n))
        radius = rng.uniform(5, 400, n)
        ring = np.column_stack((cx + radius * np.cos(angles), cy + radius * np.sin(angles)))
        polygons.append([ring])
    return Rings.from_lists(polygons)


def _profile(**more):
    return Profile(count=1, height=H, width=W, dtype="float32", crs_wkt=UTM31,
                   transform=TRANSFORM, nodata=-9999.0, **more)


@pytest.fixture(scope="module")
def eng():
    with Engine(workers=2, tile_size=64) as engine:
        yield engine


def _raster(eng, values, profile):
    raster = eng.create(profile)
    raster.writable_array()[...] = values
    return raster


@pytest.mark.parametrize("all_touched", [False, True])
def test_burnt_tile_by_tile_it_equals_the_whole_grid(eng, all_touched):
    valid, invalid = _polygons(1, 30), _polygons(2, 40)
    rng = np.random.default_rng(3)
    grid = _raster(eng, rng.random((1, H, W), dtype=np.float32), _profile())
    raster_mask = _raster(eng, rng.integers(0, 3, (1, H, W)).astype(np.float32),
                          _profile(descriptions=("m",)))
    try:
        whole = geometry_mask((H, W), TRANSFORM, valid=valid, invalid=invalid,
                              raster_mask=raster_mask.array[0], mask_valid_value=1,
                              valid_value=200, invalid_value=7, all_touched=all_touched)
        tiled = eng.apply(filters.geometry_mask, [grid, raster_mask], valid=valid,
                          invalid=invalid, mask_valid_value=1, valid_value=200,
                          invalid_value=7, all_touched=all_touched)
        assert tiled.profile.dtype == "uint8"
        np.testing.assert_array_equal(tiled.array[0], whole)
        assert 10 < (whole == 200).sum() < H * W - 10  # both values occur
        eng.release(tiled)
    finally:
        eng.release(grid, raster_mask)


def test_polygons_in_another_crs_are_reprojected(eng):
    from osgeo import ogr, osr
    utm = _polygons(4, 10)
    source, target = osr.SpatialReference(), osr.SpatialReference()
    source.ImportFromEPSG(32631)
    target.ImportFromEPSG(4326)
    for srs in (source, target):
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    to_wgs84 = osr.CoordinateTransformation(source, target)
    wkbs = []
    for i in range(utm.count):
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in utm.xy[utm.offsets[i]:utm.offsets[i + 1]]:
            ring.AddPoint_2D(float(x), float(y))
        ring.CloseRings()
        polygon = ogr.Geometry(ogr.wkbPolygon)
        polygon.AddGeometry(ring)
        polygon.Transform(to_wgs84)
        wkbs.append(bytes(polygon.ExportToIsoWkb()))
    grid = _raster(eng, np.zeros((1, H, W), np.float32), _profile())
    try:
        mask = eng.apply(filters.geometry_mask, grid, invalid=wkbs, crs="EPSG:4326")
        whole = geometry_mask((H, W), TRANSFORM, invalid=utm)
        # the round trip through WGS 84 moves vertices by far less than a pixel
        assert (mask.array[0] != whole).sum() <= 0.002 * H * W
        assert (whole == 0).sum() > 1000
        eng.release(mask)
        with pytest.raises(InputError, match="crs"):
            eng.apply(filters.geometry_mask, grid, invalid=wkbs, crs="no such CRS")
    finally:
        eng.release(grid)


def test_a_fused_pipeline_masks_polygons_then_fills_them(eng):
    """Clouds drawn as polygons become the pixels to fill: the fused pass equals the steps
    run one by one on whole images."""
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:H, 0:W]
    dsm = (100 + 0.3 * yy + 0.2 * xx + rng.random((H, W))).astype(np.float32)[None]
    clouds = _polygons(6, 12)
    grid = _raster(eng, dsm, _profile())
    try:
        p = Pipeline(["dsm"])
        p.add("clouds", filters.geometry_mask, "dsm", invalid=clouds, valid_value=0,
              invalid_value=1)
        p.add("filled", filters.fill_nodata, ["dsm", "clouds"], max_distance=40)
        fused = eng.run(p, [grid], keep=["clouds", "filled"], fuse=True)
        steps = eng.run(p, [grid], keep=["clouds", "filled"], fuse=False)
        for name in ("clouds", "filled"):
            assert fused[name].array.tobytes() == steps[name].array.tobytes(), name
        whole = geometry_mask((H, W), TRANSFORM, invalid=clouds, valid_value=0,
                              invalid_value=1)
        np.testing.assert_array_equal(fused["clouds"].array[0], whole)
        changed = fused["filled"].array[0] != dsm[0]
        assert changed.any() and not changed[whole == 0].any()
        eng.release(*fused.values(), *steps.values())
    finally:
        eng.release(grid)


def test_bad_values_are_named(eng):
    grid = _raster(eng, np.zeros((1, H, W), np.float32), _profile())
    try:
        with pytest.raises(InputError, match="valid_value"):
            eng.apply(filters.geometry_mask, grid, valid_value=300)
        with pytest.raises(InputError, match="polygons"):
            eng.apply(filters.geometry_mask, grid, valid=12)
    finally:
        eng.release(grid)


@pytest.mark.parametrize("all_touched", [False, True])
def test_both_ways_of_burning_runs_equal_rasterize(all_touched, monkeypatch):
    """Runs set one by one as slices (few long runs) and as summed +1/-1 steps (many short
    ones) give rasterize's pixels, with or without holes between the polygons."""
    from affine import Affine
    from rasterio.features import rasterize

    from tilewise.engine.vector import mask
    polygons = _polygons(7, 60)
    shapes = []
    for i in range(polygons.count):
        ring = polygons.xy[polygons.offsets[i]:polygons.offsets[i + 1]].tolist()
        shapes.append(({"type": "Polygon", "coordinates": [ring + ring[:1]]}, 1))
    expected = rasterize(shapes, out_shape=(H, W), transform=Affine(*TRANSFORM), fill=0,
                         all_touched=all_touched, dtype="uint8")
    for run_pixels in (0, 10**12):  # never, always one by one
        monkeypatch.setattr(mask, "RUN_PIXELS", run_pixels)
        got = geometry_mask((H, W), TRANSFORM, valid=polygons, all_touched=all_touched)
        np.testing.assert_array_equal(got, expected, err_msg=str(run_pixels))
