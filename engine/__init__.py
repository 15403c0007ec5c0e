"""Tilewise engine: shared-memory, margin-aware tiled processing of rasters.

A library in its own right (no QGIS import): usable from plain Python, Jupyter and the
PyQGIS console. See docs/engine-api.md.
"""

from . import bandmath, custom, filters, reducers, statistics
from .custom import load_filter
from .engine import Engine, tiles_for
from .errors import (Cancelled, InputError, ReleasedError, SharedMemoryError, TilewiseError,
                     WorkerCrashed, WorkerError)
from .filter import Filter, Reducer
from .filters.bandmath import band_math
from .pipeline import Pipeline
from .profile import Profile
from .raster import SharedRaster
from .options import check_options, parse_options
from .session import WorkerSession, default_session
from .statistics import band_statistics

__all__ = ["Cancelled", "Engine", "Filter", "InputError", "Pipeline", "Profile", "Reducer",
           "ReleasedError", "SharedMemoryError", "SharedRaster", "TilewiseError",
           "WorkerCrashed", "WorkerError", "WorkerSession", "check_options", "default_session",
           "filters", "parse_options", "reducers", "tiles_for",
           "band_math", "band_statistics", "bandmath", "custom", "load_filter", "statistics"]
