"""Parameter checks shared by the filters; each raises InputError naming the parameter."""

import numbers

from ..core.errors import InputError


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


#: the widest square window a filter takes (16 M pixels per output pixel): larger ones
#: only exhaust memory or time, since every output pixel reads the whole window
MAX_WINDOW_SIZE = 4001


def check_int(name, value, minimum, odd=False, maximum=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(name, f"must be an integer, got {value!r}")
    if value < minimum:
        raise InputError(name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InputError(name, f"must be <= {maximum}, got {value}")
    if odd and value % 2 == 0:
        raise InputError(name, f"must be odd, got {value}")
    return int(value)


def check_window(name, value, default=3):
    """An odd window side from 1 to MAX_WINDOW_SIZE."""
    return check_int(name, default if value is None else value, 1, odd=True,
                     maximum=MAX_WINDOW_SIZE)


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


def check_positive(name, value):
    """A finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise InputError(name, f"must be a number, got {value!r}")
    if not 0 < value < float("inf"):
        raise InputError(name, f"must be a finite number > 0, got {value}")
    return float(value)


def check_between(name, value, low, high):
    """A number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != value:
        raise InputError(name, f"must be a number, got {value!r}")
    if not low <= value <= high:
        raise InputError(name, f"must be between {low} and {high}, got {value}")
    return float(value)


def check_choice(name, value, choices):
    """One of ``choices`` (strings)."""
    if value not in choices:
        raise InputError(name, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def check_bool(name, value):
    if not isinstance(value, bool):
        raise InputError(name, f"must be True or False, got {value!r}")
    return value
