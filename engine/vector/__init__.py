"""Rasters meet vectors: zonal statistics, point sampling and geometry masks (no QGIS import).

Geometries come in as WKB (``geometry.from_wkb``) or as plain ring arrays (``Rings``); rasters
as numpy arrays with a rasterio-style affine transform ``(a, b, c, d, e, f)``.
"""

from .geometry import Rings, from_wkb, points_from_wkb
from .mask import geometry_mask
from .sampling import sample_points
from .scanline import spans
from .swath import Swath, swath_sample_points, swath_zonal_statistics
from .zonal import STATISTICS, zonal_statistics

__all__ = ["Rings", "STATISTICS", "from_wkb", "geometry_mask", "points_from_wkb",
           "sample_points", "spans", "Swath", "swath_sample_points", "swath_zonal_statistics",
           "zonal_statistics"]
