"""Bridge between the engine's plain callables and a QgsProcessingFeedback."""


class FeedbackBridge:
    """Adapts a ``QgsProcessingFeedback`` to the engine's ``progress``/``cancel``/``log`` callables.

    The engine reports progress as a fraction (0 -> 1) of the current call. An algorithm made of
    several engine calls splits the bar into ``steps`` equal parts and selects the current one with
    ``step(index)``. Engine log messages prefixed with ``debug:`` go to the debug log (shown with
    ``--verbose`` in qgis_process, or in the log panel when debug messages are enabled); the rest
    are shown as information.
    """

    DEBUG_PREFIX = "debug:"

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
        text = str(message)
        if text[:len(self.DEBUG_PREFIX)].lower() == self.DEBUG_PREFIX:
            self._feedback.pushDebugInfo(text[len(self.DEBUG_PREFIX):].strip())
        else:
            self._feedback.pushInfo(text)
