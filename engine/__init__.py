"""Tilewise engine: shared-memory, margin-aware tiled processing of rasters.

A library in its own right (no QGIS import): usable from plain Python, Jupyter and the
PyQGIS console. See docs/engine-api.md.
"""

from . import filters, reducers
from .engine import Engine, tiles_for
from .errors import (Cancelled, InputError, ReleasedError, SharedMemoryError, TilewiseError,
                     WorkerCrashed, WorkerError)
from .filter import Filter, Reducer
from .profile import Profile
from .raster import SharedRaster
from .rasterio_io import check_options, parse_options

__all__ = ["Cancelled", "Engine", "Filter", "InputError", "Profile", "Reducer",
           "ReleasedError", "SharedMemoryError", "SharedRaster", "TilewiseError",
           "WorkerCrashed", "WorkerError", "check_options", "filters", "parse_options", "reducers", "tiles_for"]
