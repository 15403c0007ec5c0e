"""The engine's ``TILEWISE_*`` environment variables, read with checks.

A malformed value is an InputError naming the variable and what it takes, never a raw
traceback from ``int()`` deep inside a run.
"""

import os

from .errors import InputError


def env_number(name, default, minimum=0, integer=True, environ=None):
    """The number in environment variable ``name`` (``default`` when unset or empty)."""
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    kind = "an integer" if integer else "a number"
    try:
        value = int(text) if integer else float(text)
        if value != value or value in (float("inf"), -float("inf")):
            raise ValueError
    except ValueError:
        raise InputError(name, f"the environment variable {name} must be {kind} >= "
                         f"{minimum}, got {text!r}") from None
    if value < minimum:
        raise InputError(name, f"the environment variable {name} must be {kind} >= "
                         f"{minimum}, got {text!r}")
    return value


def env_choice(name, default, choices, environ=None):
    """The value of environment variable ``name``, one of ``choices``."""
    text = (os.environ if environ is None else environ).get(name, "").strip()
    if not text:
        return default
    if text not in choices:
        raise InputError(name, f"the environment variable {name} must be one of "
                         f"{', '.join(choices)}, got {text!r}")
    return text


__all__ = ["env_choice", "env_number"]
