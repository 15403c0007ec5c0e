"""Bridge between the engine's plain callables and a QgsProcessingFeedback."""


class FeedbackBridge:
    """Adapts a ``QgsProcessingFeedback`` to the engine's ``progress``/``cancel``/``log`` callables.

    The engine reports progress as a fraction (0 -> 1) of the current ``apply`` call. An
    algorithm made of several engine calls splits the bar into ``steps`` equal parts and selects
    the current one with ``step(index)``. Engine messages (run summaries, worker log records and
    warnings) are shown as information; ``debug`` is for details only worth seeing with
    debugging on (qgis_process ``--verbose``).
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
        self._feedback.pushInfo(str(message))

    def debug(self, message):
        self._feedback.pushDebugInfo(str(message))
