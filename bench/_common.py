"""Shared helpers for the benchmarks in bench/ (not a benchmark itself).

* import_engine(): imports the engine as `tilewise.engine` whatever the checkout folder is
  called: a temporary folder holding a symlink `tilewise` -> repository root is put first
  on sys.path (spawned engine workers inherit sys.path, so they find it too).
* import_make_dsm(): the synthetic DSM generator from scripts/make_dsm.py.
* split_options(): "KEY=VALUE|KEY=VALUE" -> ["KEY=VALUE", ...].
* Timer: wall time per named step.
* size_arguments(), pipeline_parser(): the command-line arguments several benchmarks share.
* input_dsm(): the given DSM, else a synthetic one.
* qgis_process_env(): the environment of a headless qgis_process.bin that loads the checkout.
* alternate(), print_medians(): modes run in turn, and their median time and memory.
"""
import argparse
import atexit
import configparser
import os
import shutil
import statistics
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

    def print_total(self):
        """The total line (``<prefix>total  S s``), when verbose."""
        if self.verbose:
            print(f"{self.prefix}total    {self.total():7.2f} s", flush=True)


def size_arguments(parser, size=6000, workers=2, repeat=3):
    """--size (raster side), --workers (unless None) and --repeat, with these defaults."""
    parser.add_argument("--size", type=int, default=size)
    if workers is not None:
        parser.add_argument("--workers", type=int, default=workers)
    parser.add_argument("--repeat", type=int, default=repeat)


def pipeline_parser(doc):
    """The parser of a seed pipeline script (its description: ``doc``'s first paragraph) with
    the arguments they share: INPUT, OUTDIR, --band, --options."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("input")
    parser.add_argument("outdir")
    parser.add_argument("--band", type=int, default=1)
    parser.add_argument("--options", default=DEFAULT_OPTIONS,
                        help=f"creation options [{DEFAULT_OPTIONS}]")
    return parser


def input_dsm(path, work, size):
    """``path``, else a synthetic DSM of ``size`` x ``size`` pixels written into ``work``."""
    if path:
        return path
    make_dsm = import_make_dsm()
    src = os.path.join(work, "dsm.tif")
    array, profile = make_dsm.make_dsm((size, size), seed=0)
    make_dsm.write_dsm(src, array, profile)
    return src


def qgis_process_env(work):
    """Environment of a headless qgis_process.bin whose isolated profile (in ``work``) enables
    the checkout as the plugin tilewise; TILEWISE_CACHE unset (the default: cache on)."""
    parent = tempfile.mkdtemp(dir=work, prefix="plugins-")
    os.symlink(REPO, os.path.join(parent, "tilewise"))
    config = tempfile.mkdtemp(dir=work, prefix="qgis-config-")
    ini = os.path.join(config, "profiles", "default", "QGIS", "QGIS3.ini")
    os.makedirs(os.path.dirname(ini))
    settings = configparser.ConfigParser()
    settings.optionxform = str
    settings["PythonPlugins"] = {"tilewise": "true"}
    with open(ini, "w") as handle:
        settings.write(handle, space_around_delimiters=False)
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=config,
               QGIS_PLUGINPATH=parent)
    env.pop("TILEWISE_CACHE", None)
    return env


def alternate(modes, repeat, run):
    """Run every mode ``repeat`` times, in turn, the order reversed every other round;
    ``run(mode)`` returns ``(seconds, peak bytes)``. Prints a line a run; returns
    ``({mode: [seconds]}, {mode: [peak]})``."""
    from _measure import mib

    width = max(map(len, modes))
    times = {m: [] for m in modes}
    peaks = {m: [] for m in modes}
    for i in range(repeat):
        for mode in modes if i % 2 == 0 else tuple(reversed(modes)):
            seconds, peak = run(mode)
            times[mode].append(seconds)
            peaks[mode].append(peak)
            print(f"run {i + 1} {mode:{width}s} {seconds:7.2f} s {mib(peak)}", flush=True)
    return times, peaks


def print_medians(modes, times, peaks):
    """A table of each mode's median time and peak memory, and their ratios to the first
    mode's."""
    from _measure import mib

    width = max(map(len, modes)) + 1
    base_t, base_m = statistics.median(times[modes[0]]), statistics.median(peaks[modes[0]])
    print(f"{'mode':{width}s} {'median s':>9s} {'peak mem':>11s} {'speed-up':>9s} {'memory':>7s}")
    for mode in modes:
        t, m = statistics.median(times[mode]), statistics.median(peaks[mode])
        print(f"{mode:{width}s} {t:9.2f} {mib(m)} {base_t / t:8.2f}x {m / base_m:6.2f}x")
