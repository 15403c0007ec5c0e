"""Custom Python filters: a user's ``.py`` script run tile by tile like any filter.

**This runs the user's code, by design.** A script is ordinary Python with the full
rights of the processes that run it (the script host and every worker process). Only load
scripts you trust, exactly as you would only run scripts you trust in the QGIS Python
console. Nothing here sandboxes anything.

The script defines, at module level:

* ``filter(buffers, profiles, params)`` (required): as for any :class:`Filter`. It gets
  the input tiles, read-only ``(bands, rows, cols)`` arrays *with their margins*, the
  tiles' :class:`Profile` objects and the parameters, and returns one array per output
  (or a single array for one output), each of the tile's shape.
* ``margin(params)`` (optional, default 0): how far the filter reaches, in pixels. An
  integer ``margin = 2`` is accepted too.
* ``output_profiles(profiles, params)`` (optional, default: same as the first input):
  the output :class:`Profile` objects (a list, or one Profile), from the whole-image
  input profiles. Use ``profile.replace(dtype=..., count=..., nodata=...)``.
* ``check(profiles, params)`` (optional): validate the parameters and return them (with
  defaults filled in) as a dict; raise ``tilewise.engine.InputError(name, message)``.
* ``INPUTS = (min, max)`` (optional, default ``(1, 1)``): how many input rasters.

How it runs: :func:`load_filter` reads the file, hashes its content (SHA-256) and
has the script host (:mod:`.script_host`, a process of its own) import it to check it;
``margin``, ``check`` and ``output_profiles`` run there too. The script never runs in
the calling process (QGIS), whatever the image size or number of workers. The :class:`Filter` it returns holds small
picklable objects that carry only the script's path and hash; each worker imports the
script the first time it needs it (module name ``tilewise_script_<hash>``, cached per
process by path and hash), and refuses to run it if the file has changed since
:func:`load_filter` (reload it to pick up edits). A syntax error or an exception at
import surfaces as ``InputError("script", ...)`` with the script's traceback; an
exception in ``filter`` surfaces as the usual ``WorkerError``, whose message holds the
worker traceback, including the script's lines.
"""

import hashlib
import importlib.abc
import importlib.util
import os
import sys
import threading
import traceback
from dataclasses import dataclass

from ..core.errors import InputError, ScriptError
from ..core.filter import Filter
from ..execution.process_role import in_worker_process
from ..core.profile import Profile

_modules = {}  # (real path, sha256) -> module; one per process
_lock = threading.Lock()


class _SourceLoader(importlib.abc.Loader):
    """Executes exactly the bytes that were hashed (no re-read, no ``__pycache__``)."""

    def __init__(self, path, source):
        self.path, self.source = path, source

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        code = compile(self.source, self.path, "exec", dont_inherit=True)  # the user's script
        exec(code, module.__dict__)  # noqa: S102  (running the user's script is the feature)


def _read(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise InputError("script", f"cannot read {path}: {exc.strerror or exc}") from None


def _digest(source):
    return hashlib.sha256(source).hexdigest()


def _import(path, digest):
    """The script's module in this process, imported once per (path, hash)."""
    key = (path, digest)
    module = _modules.get(key)
    if module is not None:
        return module
    with _lock:
        module = _modules.get(key)
        if module is not None:
            return module
        source = _read(path)
        if _digest(source) != digest:
            raise ScriptError(f"{path} has changed since the filter was loaded; load it "
                              "again (tilewise.engine.ops.custom.load_filter) to use the new "
                              "version")
        name = f"tilewise_script_{digest[:24]}"
        spec = importlib.util.spec_from_file_location(name, path,
                                                      loader=_SourceLoader(path, source))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # lets classes and dataclasses in the script work
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as exc:  # noqa: BLE001  (reported with its traceback)
            sys.modules.pop(name, None)
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            raise ScriptError(f"{path} failed to load: {type(exc).__name__}: {exc}\n\n"
                              f"Traceback of the script:\n{text}", text) from exc
        _modules[key] = module
        return module


@dataclass(frozen=True)
class ScriptFunction:
    """A picklable reference to a function of a script: path, SHA-256 and name.

    Calling it imports the script in this process (once) and calls the function.
    """

    path: str
    digest: str
    name: str

    def __call__(self, *args):
        return getattr(_import(self.path, self.digest), self.name)(*args)


def _call(function, *args, what):
    """``function(*args)`` here in a worker, else in the script host (never in the caller)."""
    if in_worker_process():
        return globals()[function](*args)
    from ..execution.script_host import default_host
    return default_host().call(f"{__name__}:{function}", *args, what=what)


def script_description(path, digest):
    """What the script defines, as plain values (run where scripts may run)."""
    module = _import(path, digest)
    if not callable(getattr(module, "filter", None)):
        raise InputError("script", f"{path} must define a function "
                         "filter(buffers, profiles, params)")
    for name, signature in (("output_profiles", "output_profiles(profiles, params)"),
                            ("check", "check(profiles, params)")):
        if hasattr(module, name) and not callable(getattr(module, name)):
            raise InputError("script", f"{name} must be a function {signature}")
    inputs = getattr(module, "INPUTS", (1, 1))
    try:
        low, high = (int(v) for v in inputs)
        if not 1 <= low <= high:
            raise ValueError
    except (TypeError, ValueError):
        raise InputError("script", f"INPUTS must be (min, max) with 1 <= min <= max, "
                         f"got {inputs!r}") from None
    return {"margin": hasattr(module, "margin"),
            "output_profiles": hasattr(module, "output_profiles"),
            "check": hasattr(module, "check"), "inputs": (low, high)}


def script_margin(path, digest, params):
    value = getattr(_import(path, digest), "margin")
    value = value(params) if callable(value) else value
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value \
            or value in (float("inf"), -float("inf")) or int(value) != value or value < 0:
        raise InputError("margin", f"the script's margin must be an integer >= 0, "
                         f"got {value!r}")
    return int(value)


def script_outputs(path, digest, profiles, params):
    result = _import(path, digest).output_profiles(profiles, params)
    if isinstance(result, Profile):
        result = [result]
    try:
        result = list(result)
    except TypeError:
        result = None
    if not result or not all(isinstance(p, Profile) for p in result):
        raise InputError("script", "output_profiles must return a Profile or a non-empty "
                         "list of tilewise.engine.Profile objects")
    return result


def script_check(path, digest, profiles, params):
    result = _import(path, digest).check(profiles, dict(params))
    if not isinstance(result, dict):
        raise InputError("script", "check must return the parameters as a dict")
    return result


@dataclass(frozen=True)
class _ScriptPart:
    """One part of a script the engine calls before any tile (its margin, check or
    output_profiles), as a picklable callable that runs it through ``_call``."""

    function: str  # script_margin, script_check or script_outputs
    path: str
    digest: str
    label: str     # what it is, in messages: "the margin of", "check of", ...

    def __call__(self, *args):
        if len(args) == 2:  # (profiles, params)
            args = (list(args[0]), args[1])
        return _call(self.function, self.path, self.digest, *args,
                     what=f"{self.label} {self.path}")


def _first_profile(profiles, params):
    return [profiles[0]]


def _all_params(profiles, params):
    return dict(params)


def load_filter(path, name=None):
    """A Filter running the user's script at ``path`` (see the module docstring).

    **Runs the script** (imports it) in the script host process now
    (``execution.script_host``), and in each worker later; never in this process.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.py`` file defining ``filter`` (and optionally ``margin``, ``check``,
        ``output_profiles``, ``inputs``).
    name : str, optional
        The filter's name in messages; default the file's stem.

    Returns
    -------
    Filter
        Isolated: its tiles run in worker processes only.

    Raises
    ------
    InputError
        ``script``: it cannot be read, does not import (the message holds the script's
        traceback), defines no ``filter``, or crashes or hangs the host.
    """
    path = os.path.realpath(os.fspath(path))
    if not os.path.isfile(path):
        raise InputError("script", f"no such file: {path}")
    digest = _digest(_read(path))
    info = _call("script_description", path, digest, what=f"importing {path}")
    return Filter(name or os.path.splitext(os.path.basename(path))[0],
                  ScriptFunction(path, digest, "filter"),
                  margin=(_ScriptPart("script_margin", path, digest, "the margin of")
                          if info["margin"] else 0),
                  outputs=(_ScriptPart("script_outputs", path, digest, "output_profiles of")
                           if info["output_profiles"] else _first_profile),
                  check=(_ScriptPart("script_check", path, digest, "check of")
                         if info["check"] else _all_params),
                  inputs=tuple(info["inputs"]), isolated=True)


__all__ = ["ScriptError", "ScriptFunction", "load_filter"]
