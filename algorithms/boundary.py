"""The one error boundary between QGIS and Tilewise.

QGIS calls ``checkParameterValues``, ``prepareAlgorithm``, ``processAlgorithm`` and
``postProcessAlgorithm`` from C++. A Python exception other than ``QgsProcessingException``
escaping one of them aborts the process (SIGABRT): QGIS, with the user's unsaved project,
or ``qgis_process``. ``ErrorBoundary`` wraps every such method that a class defines, in the
class and in all its subclasses, so that nothing else gets through:

- ``checkParameterValues`` returns ``(False, message)``;
- the others raise ``QgsProcessingException(message)``.

The message names the cause (``describe``); an unexpected error also logs its traceback
in the Tilewise tab of the log.
"""

import functools
import traceback

from qgis.core import Qgis, QgsMessageLog, QgsProcessingException

from ..engine import InputError, TilewiseError

#: methods QGIS calls from C++ that must never let a Python exception through
RAISING_METHODS = ("prepareAlgorithm", "processAlgorithm", "postProcessAlgorithm")
CHECK_METHOD = "checkParameterValues"


def describe(error, algorithm=None):
    """A user-facing message for ``error`` (an exception other than QgsProcessingException)."""
    if isinstance(error, InputError):
        return f"Invalid input ({error.param}): {error.message}"
    if isinstance(error, TilewiseError):
        return str(error)
    if isinstance(error, RecursionError):
        return ("the input is nested too deeply to be processed (Python's recursion limit "
                "was reached)")
    if isinstance(error, MemoryError):
        return ("not enough memory for this input or these parameters (MemoryError); use "
                "smaller windows, fewer workers or a smaller tile size")
    name = algorithm.id() if algorithm is not None else "Tilewise"
    text = str(error)
    if len(text) > 500:
        text = text[:500] + "..."
    return (f"internal error in {name}: {type(error).__name__}: {text} (the traceback is in "
            "the log, Tilewise tab; please report it)")


def _log_unexpected(error):
    if isinstance(error, (TilewiseError, RecursionError, MemoryError)):
        return
    QgsMessageLog.logMessage(
        "".join(traceback.format_exception(type(error), error, error.__traceback__)),
        "Tilewise", Qgis.Critical)


def _guard_check(method):
    @functools.wraps(method)
    def checkParameterValues(self, parameters, context):
        try:
            return method(self, parameters, context)
        except (Exception, SystemExit) as error:  # noqa: BLE001 - the boundary
            if isinstance(error, QgsProcessingException):
                return False, str(error)
            _log_unexpected(error)
            return False, describe(error, self)
    checkParameterValues.__tilewise_guarded__ = True
    return checkParameterValues


def _guard_raising(method):
    @functools.wraps(method)
    def guarded(self, *args):
        try:
            return method(self, *args)
        except QgsProcessingException:
            raise
        except (Exception, SystemExit) as error:  # noqa: BLE001 - the boundary
            _log_unexpected(error)
            raise QgsProcessingException(describe(error, self)) from None
    guarded.__tilewise_guarded__ = True
    return guarded


def guard_class(cls):
    """Wrap the boundary methods that ``cls`` itself defines (idempotent)."""
    for name in RAISING_METHODS + (CHECK_METHOD,):
        method = cls.__dict__.get(name)
        if method is None or getattr(method, "__tilewise_guarded__", False):
            continue
        setattr(cls, name, (_guard_check if name == CHECK_METHOD else _guard_raising)(method))
    return cls


class ErrorBoundary:
    """Mixin: every subclass gets its boundary methods wrapped (see the module docstring)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        guard_class(cls)


__all__ = ["ErrorBoundary", "describe", "guard_class"]
