"""The engine's built-in filters."""

from .fill import fill_nodata
from .nodata import invalid_pixels, nodata_mask
from .smoothing import mean

__all__ = ["fill_nodata", "invalid_pixels", "mean", "nodata_mask"]
