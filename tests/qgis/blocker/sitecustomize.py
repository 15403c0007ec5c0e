"""Put this folder on PYTHONPATH to hide the top-level modules named in TILEWISE_TEST_BLOCK
(comma-separated) from every import, as if they were not installed (tests/qgis/test_dependencies.py).
TILEWISE_TEST_OLD=module:version makes that module report an old __version__."""

import importlib.abc
import os
import sys

BLOCKED = set(filter(None, os.environ.get("TILEWISE_TEST_BLOCK", "").split(",")))
OLD = dict(item.split(":", 1) for item in
           filter(None, os.environ.get("TILEWISE_TEST_OLD", "").split(",")))


class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)",
                                      name=name)
        return None


sys.meta_path.insert(0, Blocker())
for _module, _version in OLD.items():
    __import__(_module).__version__ = _version
