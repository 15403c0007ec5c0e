"""A QgsProcessingFeedback that keeps every message it is given, by channel."""


def RecordingFeedback():  # noqa: N802  (used like a class)
    """A QgsProcessingFeedback (no QgsMessageLog echo) whose ``messages`` are the
    (channel, text) pairs it was given, channel one of info, warning, error, debug;
    ``of(channel)``: the texts of one channel."""
    from qgis.core import QgsProcessingFeedback

    class Recording(QgsProcessingFeedback):
        def __init__(self):
            super().__init__(False)
            self.messages = []

        def of(self, channel):
            return [text for kind, text in self.messages if kind == channel]

        def pushInfo(self, info):
            self.messages.append(("info", info))

        def pushWarning(self, warning):
            self.messages.append(("warning", warning))

        def reportError(self, error, fatalError=False):
            self.messages.append(("error", error))

        def pushDebugInfo(self, info):
            self.messages.append(("debug", info))

    return Recording()
