"""Tilewise engine: shared-memory, margin-aware tiled processing of rasters.

A library in its own right (no QGIS import): usable from plain Python, Jupyter and the
PyQGIS console. See docs/engine-api.md.
"""

from . import bandmath, custom, filters, reducers, statistics
from .cache import clear_default_cache, default_cache
from .custom import load_filter
from .engine import Engine, tiles_for
from .environment import env_choice, env_number
from .errors import (Cancelled, InputError, ReleasedError, SharedMemoryError, TilewiseError,
                     WorkerCrashed, WorkerError)
from .filter import Filter, Reducer
from .filters.bandmath import band_math
from .pipeline import Pipeline, plan
from .profile import SUPPORTED_DTYPES, Profile
from .raster import SharedRaster
from .options import check_options, parse_options
from .rasterio_io import is_gdal_source, read_profile
from .script_host import close_default_host
from .session import WorkerSession, close_default_session, default_session
from .statistics import band_statistics

__all__ = ["Cancelled", "Engine", "Filter", "InputError", "Pipeline", "Profile", "Reducer",
           "ReleasedError", "SharedMemoryError", "SharedRaster", "TilewiseError",
           "WorkerCrashed", "WorkerError", "WorkerSession", "check_options", "default_session",
           "filters", "parse_options", "reducers", "tiles_for",
           "band_math", "band_statistics", "bandmath", "custom", "load_filter", "statistics",
           "SUPPORTED_DTYPES", "default_cache", "env_choice", "env_number", "is_gdal_source",
           "plan", "read_profile", "clear_default_cache", "close_default_host",
           "close_default_session"]
