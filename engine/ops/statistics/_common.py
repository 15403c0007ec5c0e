"""What the statistics reducers share: the band list they check, a band's valid values in
one tile, and numpy scalars made plain Python numbers."""

import numbers

import numpy as np

from ...core.errors import InputError
from ..filters.nodata import invalid_pixels
from ..params import check_band


def _check_bands(profile, bands):
    if bands is None:
        return tuple(range(1, profile.count + 1))
    if isinstance(bands, numbers.Integral) and not isinstance(bands, bool):
        bands = [bands]
    try:
        bands = list(bands)
    except TypeError:
        raise InputError("band", f"must be a band number or a list of them, got {bands!r}") \
            from None
    if not bands:
        raise InputError("band", "is an empty list")
    return tuple(check_band(profile, b) for b in bands)


def _valid(buffers, profiles, band):
    """(valid values in their own dtype, 1-D; number of nodata pixels) of a 1-based band."""
    values = buffers[0][band - 1]
    invalid = invalid_pixels(values, profiles[0].nodata)
    if invalid.any():
        return values[~invalid], int(np.count_nonzero(invalid))
    return values.ravel(), 0


def _plain(value):
    """A numpy scalar as a Python int or float."""
    return value.item() if hasattr(value, "item") else value
