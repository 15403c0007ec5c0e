"""Rasters meet vectors: zonal statistics, point sampling and geometry masks (no QGIS import).

Geometries come in as WKB (``geometry.from_wkb``) or as plain ring arrays (``Rings``); rasters
as numpy arrays with a rasterio-style affine transform ``(a, b, c, d, e, f)``.
"""

from .geometry import Rings, from_wkb, points_from_wkb
from .mask import geometry_mask, mask_strips, write_geometry_mask
from .sampling import buffer_statistics, sample_points
from .scanline import spans
from .swath import (IDENTITY, Swath, geolocation_arrays, swath_sample_points,
                    swath_zonal_statistics)
from .zonal import STATISTICS, percentile_name, zonal_statistics

__all__ = ["IDENTITY", "Rings", "STATISTICS", "buffer_statistics", "from_wkb",
           "geolocation_arrays", "geometry_mask", "mask_strips", "percentile_name",
           "points_from_wkb", "sample_points", "spans", "Swath", "swath_sample_points",
           "swath_zonal_statistics", "write_geometry_mask", "zonal_statistics"]
