"""Geometry masks: the engine and tilewise:geometrymask against whole-image
rasterio.features.rasterize references (GRIDR's rule, both pixel rules, raster mask)."""

import numpy as np
import pytest
from rasterio.features import rasterize
from rasterio.transform import from_origin

import qgis_helpers as qh
import vector_helpers as vh
from tilewise.engine import InputError
from tilewise.engine.vector import from_wkb, geometry_mask
from tilewise.engine.vector.mask import burn

H, W = 70, 95
TRANSFORM = from_origin(500000.0, 4600000.0, 10.0, 10.0)


@pytest.fixture(scope="module")
def polygons():
    from osgeo import ogr

    rng = np.random.default_rng(11)
    valid = vh.random_polygons(rng, 25, H, W, TRANSFORM, rmax=25)
    invalid = vh.random_polygons(rng, 30, H, W, TRANSFORM, rmax=10)

    def wkb(geoms):
        return [bytes(ogr.CreateGeometryFromWkt(vh.to_wkt(g)).ExportToIsoWkb()) for g in geoms]
    return valid, invalid, wkb(valid), wkb(invalid)


def reference(geoms, all_touched):
    return rasterize(geoms, out_shape=(H, W), transform=TRANSFORM, all_touched=all_touched,
                     fill=0, default_value=1, dtype="uint8").astype(bool)


@pytest.mark.parametrize("all_touched", [False, True])
@pytest.mark.parametrize("workers", [1, 2])
def test_mask_equals_rasterize_reference(polygons, all_touched, workers, monkeypatch):
    from tilewise.engine.vector import mask as mask_module

    monkeypatch.setattr(mask_module, "STRIP_ROWS", 16)
    monkeypatch.setattr(mask_module, "BATCH_FEATURES", 6)
    valid, invalid, valid_wkb, invalid_wkb = polygons
    raster = np.random.default_rng(12).integers(0, 3, (H, W)).astype(np.uint8)
    got = geometry_mask((H, W), TRANSFORM, valid=valid_wkb, invalid=invalid_wkb,
                        raster_mask=raster, mask_valid_value=2, valid_value=200,
                        invalid_value=9, all_touched=all_touched, workers=workers)
    ok = reference(valid, all_touched) & ~reference(invalid, all_touched) & (raster == 2)
    np.testing.assert_array_equal(got, np.where(ok, 200, 9))
    assert 0.05 < ok.mean() < 0.6
    np.testing.assert_array_equal(burn(valid_wkb, (H, W), TRANSFORM, all_touched),
                                  reference(valid, all_touched))


def test_each_part_of_the_rule_alone(polygons):
    valid, invalid, valid_wkb, invalid_wkb = polygons
    assert (geometry_mask((H, W), TRANSFORM) == 1).all()
    np.testing.assert_array_equal(geometry_mask((H, W), TRANSFORM, valid=valid_wkb),
                                  reference(valid, False))
    np.testing.assert_array_equal(geometry_mask((H, W), TRANSFORM, invalid=invalid_wkb),
                                  ~reference(invalid, False))
    np.testing.assert_array_equal(geometry_mask((H, W), TRANSFORM, valid=[]), 0)


def test_bad_values_are_named():
    with pytest.raises(InputError) as info:
        geometry_mask((H, W), TRANSFORM, valid_value=256)
    assert info.value.param == "valid_value"
    with pytest.raises(InputError) as info:
        geometry_mask((H, W), TRANSFORM, raster_mask=np.zeros((H, W + 1)))
    assert info.value.param == "raster_mask"
    with pytest.raises(InputError):
        from_wkb([b"\x01\x03"])


def polygon_layer(geoms, crs="EPSG:32631", transform=None):
    return vh.memory_layer(f"MultiPolygon?crs={crs}&field=id:integer", "polygons",
                           [([i], vh.to_wkt(geom)) for i, geom in enumerate(geoms)], transform)


@pytest.mark.parametrize("all_touched", [False, True])
def test_processing_geometrymask(processing, polygons, tmp_path, all_touched):
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject

    valid, invalid, _, _ = polygons
    grid = qh.write_geotiff(tmp_path / "grid.tif", np.zeros((H, W), np.float32),
                            transform=TRANSFORM)
    raster = np.random.default_rng(13).integers(0, 2, (H, W)).astype(np.int16)
    mask_path = qh.write_geotiff(tmp_path / "mask.tif", raster, transform=TRANSFORM)
    to_wgs84 = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:32631"),
                                      QgsCoordinateReferenceSystem("EPSG:4326"),
                                      QgsProject.instance())
    out = str(tmp_path / f"out{all_touched}.tif")
    processing.run("tilewise:geometrymask", {
        "INPUT": grid, "VALID": polygon_layer(valid),
        "INVALID": polygon_layer(invalid, "EPSG:4326", to_wgs84),  # reprojected back
        "RASTER_MASK": mask_path, "MASK_VALID_VALUE": 1, "VALID_VALUE": 255,
        "INVALID_VALUE": 3, "ALL_TOUCHED": all_touched, "OPTIONS": "COMPRESS=DEFLATE",
        "OUTPUT": out})
    got, profile = qh.read_geotiff(out)
    assert got.dtype == np.uint8 and profile["transform"] == TRANSFORM
    ok = reference(valid, all_touched) & ~reference(invalid, all_touched) & (raster == 1)
    # the round trip through WGS 84 may move a vertex by 1e-9 m: compare all but a few pixels
    assert (got[0] != np.where(ok, 255, 3)).sum() <= 2


def test_processing_bad_parameters_are_named(processing, tmp_path, polygons):
    from qgis.core import QgsProcessingException

    grid = qh.write_geotiff(tmp_path / "grid.tif", np.zeros((H, W), np.float32),
                            transform=TRANSFORM)
    other = qh.write_geotiff(tmp_path / "other.tif", np.zeros((H, W + 1), np.uint8),
                             transform=TRANSFORM)
    base = {"INPUT": grid, "OUTPUT": str(tmp_path / "m.tif")}
    cases = [({"RASTER_MASK": other}, "RASTER_MASK", "not on the grid"),
             ({"OUTPUT": str(tmp_path / "m.png")}, "OUTPUT", "GeoTIFF"),
             ({"OUTPUT": grid}, "OUTPUT", "also the"),
             ({"OPTIONS": "COMPRESS=NOPE"}, "OPTIONS", "NOPE"),
             ({"VALID_VALUE": 300}, "VALID_VALUE", "255")]
    for extra, name, text in cases:
        with pytest.raises(QgsProcessingException) as info:
            processing.run("tilewise:geometrymask", {**base, **extra})
        assert name in str(info.value) and text in str(info.value), str(info.value)


def test_budget_much_smaller_than_the_grid_streams_the_same_mask(polygons, tmp_path,
                                                                 monkeypatch):
    """A memory budget of a few rows: the mask goes to the file strip by strip (the raster
    mask read strip by strip too), identical to the whole-image reference; no strip is
    larger than the budget allows."""
    from tilewise.engine import Profile, Rows
    from tilewise.engine.vector import mask_strips, write_geometry_mask

    valid, invalid, valid_wkb, invalid_wkb = polygons
    raster = np.random.default_rng(14).integers(0, 3, (H, W)).astype(np.uint8)
    mask_path = qh.write_geotiff(tmp_path / "mask.tif", raster, transform=TRANSFORM)
    budget = 2 * 4 * W * 5   # two strips of 5 rows of 4 bytes per pixel
    reads = []
    read = Rows.read
    monkeypatch.setattr(Rows, "read", lambda self, r0, r1: reads.append((r0, r1)) or
                        read(self, r0, r1))
    profile = Profile(count=1, height=H, width=W, dtype="uint8", crs_wkt=None,
                      transform=tuple(TRANSFORM)[:6], nodata=None, descriptions=("m",))
    out = write_geometry_mask(tmp_path / "m.tif", profile, valid=valid_wkb, invalid=invalid_wkb,
                              raster_mask=Rows(mask_path), mask_valid_value=2, valid_value=7,
                              invalid_value=250, workers=2, memory_budget=budget)
    got, _ = qh.read_geotiff(out)
    ok = reference(valid, False) & ~reference(invalid, False) & (raster == 2)
    np.testing.assert_array_equal(got[0], np.where(ok, 7, 250))
    assert 0.05 < ok.mean() < 0.6
    assert len(reads) >= H // 5 and max(r1 - r0 for r0, r1 in reads) <= 5
    strips = list(mask_strips((H, W), TRANSFORM, valid=valid_wkb, raster_mask=raster,
                              memory_budget=budget))
    assert len(strips) >= H // 5 and max(len(s) for _, s in strips) <= 5
    assert [r0 for r0, _ in strips] == list(range(0, H, len(strips[0][1])))
    assert not [n for n in tmp_path.iterdir() if n.name.startswith(".tilewise-")]
