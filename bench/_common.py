"""Shared helpers for the benchmarks in bench/ (not a benchmark itself).

* import_engine(): imports the engine as `tilewise.engine` whatever the checkout folder is
  called: a temporary folder holding a symlink `tilewise` -> repository root is put first
  on sys.path (spawned engine workers inherit sys.path, so they find it too).
* import_make_dsm(): the synthetic DSM generator from scripts/make_dsm.py.
* split_options(): "KEY=VALUE|KEY=VALUE" -> ["KEY=VALUE", ...].
* Timer: wall time per named step.
"""
import atexit
import os
import shutil
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")
DEFAULT_OPTIONS = "COMPRESS=DEFLATE|NUM_THREADS=ALL_CPUS"
MAX_DISTANCE, SMOOTHING, SIZE = 100, 0, 3  # the seed pipeline's parameters
OUTPUTS = ("mask.tif", "filled.tif", "smooth.tif")

_pkg_root = None


def import_engine():
    """Return the `tilewise.engine` module, imported through a `tilewise` symlink."""
    global _pkg_root
    if _pkg_root is None:
        _pkg_root = tempfile.mkdtemp(prefix="tilewise-bench-pkg-")
        os.symlink(REPO, os.path.join(_pkg_root, "tilewise"))
        atexit.register(shutil.rmtree, _pkg_root, True)  # removes the link, not the repo
        sys.path.insert(0, _pkg_root)
    import tilewise.engine
    return tilewise.engine


def import_make_dsm():
    if SCRIPTS not in sys.path:
        sys.path.insert(0, SCRIPTS)
    import make_dsm
    return make_dsm


def split_options(text):
    """'COMPRESS=DEFLATE|PREDICTOR=2' -> ['COMPRESS=DEFLATE', 'PREDICTOR=2'] (also splits on ',')."""
    items = [s.strip() for s in (text or "").replace(",", "|").split("|") if s.strip()]
    for item in items:
        if "=" not in item or not item.split("=", 1)[0].strip():
            raise SystemExit(f"bad creation option {item!r}: expected KEY=VALUE")
    return items


class Timer:
    """with timer("step"): ...  -> timer.times["step"] = seconds (wall clock)."""

    def __init__(self, verbose=True, prefix=""):
        self.times, self.verbose, self.prefix = {}, verbose, prefix

    def __call__(self, name):
        self._name = name
        return self

    def __enter__(self):
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            self.record(self._name, time.perf_counter() - self._t0)
        return False

    def record(self, name, seconds):
        self.times[name] = seconds
        if self.verbose:
            print(f"{self.prefix}{name:<8} {seconds:7.2f} s", flush=True)

    def total(self):
        return sum(self.times.values())
