"""Test set-up: the checkout is importable as the package ``tilewise`` whatever its folder
is called, and no test may leave a shared-memory segment behind."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("tilewise", deadline=None, print_blob=True, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("tilewise")

REPO = Path(__file__).resolve().parent.parent
_PLUGIN_PARENT = Path(tempfile.mkdtemp(prefix="tilewise-pkg-"))
(_PLUGIN_PARENT / "tilewise").symlink_to(REPO, target_is_directory=True)
atexit.register(shutil.rmtree, _PLUGIN_PARENT, True)  # removes the link, not the checkout
sys.path.insert(0, str(_PLUGIN_PARENT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# the tests use small images but must exercise the worker pool; test_engine_executor checks
# that, by default, small images stay in the calling process
os.environ["TILEWISE_MIN_PARALLEL_PIXELS"] = "0"

from tilewise.engine.store.cache import clear_default_cache  # noqa: E402
from tilewise.engine.store.segments import list_segments  # noqa: E402


@pytest.fixture(scope="session")
def plugin_parent_dir():
    """A folder holding ``tilewise`` -> the checkout (for QGIS_PLUGINPATH)."""
    return _PLUGIN_PARENT


@pytest.fixture(autouse=True)
def no_leaked_segments():
    """Fail any test that leaves a new Tilewise segment in /dev/shm (or its file fallback).

    The process-wide cache of written rasters holds segments on purpose; it is emptied first.
    """
    before = set(list_segments(os.getpid()))
    yield
    clear_default_cache()
    leaked = sorted(set(list_segments(os.getpid())) - before)
    assert not leaked, f"shared-memory segments leaked: {leaked}"
