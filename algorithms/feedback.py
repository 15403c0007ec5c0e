"""Bridge between the engine's plain callables and a QgsProcessingFeedback."""

import re

#: a worker's log record at warning level or above, as the engine relays it:
#: ``worker <pid>: WARNING <logger>: <message>`` (also ERROR and CRITICAL)
_WORKER_WARNING = re.compile(r"^worker \d+: (WARNING|ERROR|CRITICAL)\b")


class FeedbackBridge:
    """Adapts a ``QgsProcessingFeedback`` to the engine's ``progress``/``cancel``/``log`` callables.

    The engine reports progress as a fraction (0 -> 1) of the current ``apply`` call. An
    algorithm made of several engine calls splits the bar into ``steps`` equal parts and selects
    the current one with ``step(index)``. Engine messages (run summaries, worker log records and
    warnings): worker records at WARNING level or above go to ``pushWarning``, everything else
    (run summaries, INFO records, captured console lines) to ``pushInfo``. ``debug`` is for
    details only worth seeing with debugging on.
    """

    def __init__(self, feedback, steps=1):
        self._feedback = feedback
        self._steps = max(1, int(steps))
        self._index = 0

    def step(self, index):
        """Make step ``index`` (0-based) the current one and move the bar to its start."""
        self._index = min(max(0, int(index)), self._steps - 1)
        self.progress(0.0)

    def progress(self, fraction):
        fraction = min(max(float(fraction), 0.0), 1.0)
        self._feedback.setProgress(100.0 * (self._index + fraction) / self._steps)

    def cancel(self):
        return self._feedback.isCanceled()

    def log(self, message):
        message = str(message).rstrip()  # warnings' formatted text ends with a newline
        if _WORKER_WARNING.match(message):
            self.warning(message)
        else:
            self._feedback.pushInfo(message)

    def warning(self, message):
        """A non-fatal warning (``pushWarning`` exists from QGIS 3.16 on)."""
        push_warning = getattr(self._feedback, "pushWarning", None)
        if push_warning is not None:
            push_warning(str(message))
        else:
            self._feedback.reportError(str(message), False)

    def debug(self, message):
        self._feedback.pushDebugInfo(str(message))
