"""Parameter checks shared by the filters; each raises InputError naming the parameter."""

import numbers

from ..errors import InputError


def check_band(profile, band, allow_none=False):
    """A 1-based band number valid for ``profile`` (or None when allowed)."""
    if band is None and allow_none:
        return None
    if isinstance(band, bool) or not isinstance(band, numbers.Integral):
        raise InputError("band", f"must be a band number, got {band!r}")
    if not 1 <= band <= profile.count:
        raise InputError("band", f"band {band} is out of range: the raster has "
                         f"{profile.count} band{'s' if profile.count != 1 else ''}")
    return int(band)


def check_int(name, value, minimum, odd=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(name, f"must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(name, f"must be >= {minimum}, got {value}")
    if odd and value % 2 == 0:
        raise InputError(name, f"must be odd, got {value}")
    return int(value)


def check_number(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise InputError(name, f"must be a number, got {value!r}")
    if value < minimum:
        raise InputError(name, f"must be >= {minimum}, got {value}")
    return float(value)


def check_known(params, known):
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InputError(unknown[0], f"unknown parameter; expected one of {', '.join(known)}")
