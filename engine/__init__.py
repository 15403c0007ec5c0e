"""Tilewise engine: shared-memory, margin-aware tiled processing of rasters.

A library in its own right (no QGIS import): usable from plain Python, Jupyter and the
PyQGIS console. See docs/engine-api.md.
"""

from . import vector
from .api import Engine
from .core.environment import env_choice, env_number
from .core.errors import (Cancelled, InputError, ReleasedError, SharedMemoryError, TilewiseError,
                          WorkerCrashed, WorkerError)
from .core.filter import Filter, Reducer
from .core.profile import SUPPORTED_DTYPES, Profile
from .execution.script_host import close_default_host
from .execution.session import WorkerSession, close_default_session, default_session
from .io.options import check_options, parse_options
from .io.reading import is_gdal_source, read_profile
from .io.rows import Rows
from .ops import custom, filters, reducers, statistics
from .ops import expressions as bandmath
from .ops.custom import load_filter
from .ops.filters.bandmath import band_math
from .ops.statistics import band_statistics
from .plan.checks import check_step
from .plan.pipeline import Pipeline, plan
from .store.cache import clear_default_cache, default_cache
from .store.raster import SharedRaster
from .tiling.tiles import tiles_for

__all__ = ["Cancelled", "Engine", "Filter", "InputError", "Pipeline", "Profile", "Reducer",
           "ReleasedError", "Rows", "SharedMemoryError", "SharedRaster", "TilewiseError",
           "WorkerCrashed", "WorkerError", "WorkerSession", "check_options", "default_session",
           "filters", "parse_options", "reducers", "tiles_for",
           "band_math", "band_statistics", "bandmath", "custom", "load_filter", "statistics",
           "SUPPORTED_DTYPES", "default_cache", "env_choice", "env_number", "is_gdal_source",
           "plan", "check_step", "read_profile", "clear_default_cache", "close_default_host",
           "close_default_session"]
