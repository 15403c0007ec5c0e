"""Modules imported on first use, so that loading the plugin (or a worker) does not pay for
what it never runs: ``ndi = lazy_module("scipy.ndimage")``, then ``ndi.median_filter(...)``."""

import importlib


class lazy_module:  # noqa: N801 - used as a module name
    """Stands for module ``name``, imported at the first attribute read."""

    __slots__ = ("_name", "_module")

    def __init__(self, name):
        self._name, self._module = name, None

    def __getattr__(self, attribute):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attribute)

    def __repr__(self):
        return f"<lazy module {self._name!r}>"
