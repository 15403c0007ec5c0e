"""What the engine reads of its environment: the ``TILEWISE_*`` variables, read with checks,
and the machine's physical memory (the default memory budget).

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


DEFAULT_BUDGET_FRACTION = 0.25  # of physical memory, for the tiles all workers hold at once


def physical_memory():
    """Bytes of physical memory (8 GiB where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 8 * 2**30


def default_memory_budget():
    """The memory budget of an Engine given none: DEFAULT_BUDGET_FRACTION of physical memory."""
    return int(physical_memory() * DEFAULT_BUDGET_FRACTION)
