"""GRIDR's validity mask as a filter: polygons burnt into each tile of a reference grid, so that
the mask can be a step of a fused pipeline (burnt where the later steps need it)."""

from ...core.errors import InputError
from ...core.filter import Filter
from ..params import check_known

_KEYS = ("valid", "invalid", "crs", "mask_valid_value", "valid_value", "invalid_value",
         "all_touched")


def _polygons(value, name, source_crs, target_crs):
    """``Rings`` in the grid's CRS from a ``Rings`` or a list of WKB (in ``source_crs``)."""
    from ...vector.geometry import Rings, from_wkb
    if value is None:
        return None
    if source_crs and target_crs and not isinstance(value, Rings):
        value = _reprojected(value, source_crs, target_crs, name)
    try:
        return value if isinstance(value, Rings) else from_wkb(list(value))
    except TypeError:
        raise InputError(name, "expected polygons as a list of WKB or a Rings, got "
                         f"{type(value).__name__}") from None


def _reprojected(wkbs, source_crs, target_crs, name):
    """WKB geometries from ``source_crs`` to ``target_crs`` (WKT or any OGC definition)."""
    from osgeo import ogr, osr
    source, target = osr.SpatialReference(), osr.SpatialReference()
    for srs, crs in ((source, source_crs), (target, target_crs)):
        if srs.SetFromUserInput(crs) != 0:
            raise InputError("crs", f"GDAL cannot read the CRS {crs[:80]!r}")
        srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
    if source.IsSame(target):
        return wkbs
    transform = osr.CoordinateTransformation(source, target)
    out = []
    for i, wkb in enumerate(wkbs):
        if wkb is None:
            out.append(None)
            continue
        geometry = ogr.CreateGeometryFromWkb(bytes(wkb))
        if geometry is None or geometry.Transform(transform) != 0:
            raise InputError(name, f"polygon {i} cannot be reprojected to the grid's CRS")
        out.append(bytes(geometry.ExportToIsoWkb()))
    return out


def _check(profiles, params):
    check_known(params, _KEYS)
    grid = profiles[0]
    if len(profiles) > 1 and not grid.same_grid(profiles[1]):
        raise InputError("raster_mask", "the raster mask is not on the grid of the reference "
                         "raster (same size, CRS and geotransform needed)")
    from ...vector.mask import check_value
    out = {name: check_value(name, params.get(name, default))
           for name, default in (("valid_value", 1), ("invalid_value", 0))}
    out["mask_valid_value"] = float(params.get("mask_valid_value", 1))
    out["all_touched"] = bool(params.get("all_touched", False))
    crs = params.get("crs")
    for name in ("valid", "invalid"):
        out[name] = _polygons(params.get(name), name, crs, grid.crs_wkt)
    return out


def _outputs(profiles, params):
    return [profiles[0].replace(count=1, dtype="uint8", nodata=None,
                                descriptions=("validity mask",))]


def _geometry_mask(buffers, profiles, params):
    from ...vector.mask import geometry_mask as burn_mask
    tile = profiles[0]
    raster_mask = buffers[1][0] if len(buffers) > 1 else None
    mask = burn_mask((tile.height, tile.width), tile.transform, valid=params["valid"],
                     invalid=params["invalid"], raster_mask=raster_mask,
                     mask_valid_value=params["mask_valid_value"],
                     valid_value=params["valid_value"], invalid_value=params["invalid_value"],
                     all_touched=params["all_touched"], workers=1)
    return [mask[None]]


geometry_mask = Filter("geometry_mask", _geometry_mask, margin=0, outputs=_outputs,
                       check=_check, inputs=(1, 2), releases_gil=True, runs_in_caller=True)
"""uint8 validity mask on the grid of input 1 (its pixels are not used), GRIDR's rule as
``engine.vector.geometry_mask``: ``valid`` and ``invalid`` polygons (lists of WKB or Rings,
in ``crs`` when given, else in the grid's CRS), an optional raster mask (input 2, band 1,
valid where it equals ``mask_valid_value``), ``valid_value`` / ``invalid_value``,
``all_touched``. Burnt tile by tile: equal to the whole-grid mask."""
