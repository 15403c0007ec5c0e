"""Test helpers: headless QGIS + Processing, GeoTIFF writers, isolated qgis_process profiles.

Plain functions (no fixtures), for the tests of tests/engine and tests/qgis and for bench/;
QGIS is started at most once per process (tests/qgis/conftest.py's ``plugin`` fixture).
"""

import configparser
import importlib.util
import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import rasterio
from rasterio.transform import from_origin

REPO_ROOT = Path(__file__).resolve().parent.parent
QGIS_PLUGINS_DIR = "/usr/share/qgis/python/plugins"
QGIS_PROCESS = "/usr/bin/qgis_process.bin"
CRS = "EPSG:32631"
CGROUP_MEMORY = "/sys/fs/cgroup/memory"  # cgroup v1, writable as root


@contextmanager
def memory_group(name, limit_mib=None):
    """A cgroup v1 memory group ``name`` limited to ``limit_mib`` (memory and, where
    accounted, swap; None: no limit), removed afterwards. Yields ``(wrap, usage)``: the
    argv prefix that runs a command in the group, every process it starts included, and
    ``usage()`` -> ``(peak bytes, times the limit was hit)``."""
    group = os.path.join(CGROUP_MEMORY, name)
    os.makedirs(group, exist_ok=True)
    try:
        if limit_mib:
            with open(os.path.join(group, "memory.limit_in_bytes"), "w") as f:
                f.write(str(limit_mib * 2**20))
            try:  # no swapping around the limit
                with open(os.path.join(group, "memory.memsw.limit_in_bytes"), "w") as f:
                    f.write(str(limit_mib * 2**20))
            except OSError:
                pass  # no swap accounting: the memory limit alone

        def usage():
            with open(os.path.join(group, "memory.max_usage_in_bytes")) as f:
                peak = int(f.read())
            with open(os.path.join(group, "memory.failcnt")) as f:
                return peak, int(f.read())
        yield ("sh", "-c", f'echo $$ > "{group}/cgroup.procs" && exec "$@"', "sh"), usage
    finally:
        for _ in range(50):  # the last process may still be leaving the group
            try:
                os.rmdir(group)
                break
            except OSError:
                time.sleep(0.1)

_app = None
_plugin = None  # kept alive: the provider's Python methods die with their wrapper


def make_plugin_parent_dir(directory):
    """``directory`` with a ``tilewise`` symlink to the repository root; returns it as a Path."""
    directory = Path(directory)
    link = directory / "tilewise"
    if not link.exists():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    return directory


def start_qgis(parent_dir, profile_dir):
    """Start a headless QgsApplication (once), initialise Processing and register Tilewise.

    ``parent_dir`` holds the ``tilewise`` symlink; ``profile_dir`` isolates QGIS's settings.
    Returns the ``tilewise.plugin.TilewisePlugin`` whose provider is registered (the same one
    on every call).
    """
    global _app, _plugin
    if importlib.util.find_spec("tilewise") is None:
        sys.path.insert(0, str(parent_dir))
    if QGIS_PLUGINS_DIR not in sys.path:
        sys.path.append(QGIS_PLUGINS_DIR)
    if _app is None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        from qgis.core import QgsApplication

        QgsApplication.setPrefixPath("/usr", True)
        _app = QgsApplication([], False, str(profile_dir))
        _app.initQgis()
        from processing.core.Processing import Processing

        Processing.initialize()
        from tilewise import classFactory

        _plugin = classFactory(None)
        _plugin.initProcessing()
    return _plugin


def write_geotiff(path, array, nodata=None, transform=None, crs=CRS, **creation_options):
    """Write ``array`` ((bands,) rows, cols) to a GeoTIFF; returns the path as a string."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    count, height, width = array.shape
    profile = dict(driver="GTiff", count=count, height=height, width=width, dtype=array.dtype.name,
                   crs=crs, transform=transform or from_origin(500000.0, 4600000.0, 10.0, 10.0),
                   nodata=nodata, **creation_options)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(array)
    return str(path)


def corrupt_tile(path, row, col):
    """Overwrite the start of block (row, col) of a tiled GeoTIFF with garbage, so that its
    decoding fails (the zlib header and first bytes are gone); returns the byte offset."""
    from osgeo import gdal

    ds = gdal.Open(str(path))
    offset = int(ds.GetRasterBand(1).GetMetadataItem(f"BLOCK_OFFSET_{col}_{row}", "TIFF"))
    size = int(ds.GetRasterBand(1).GetMetadataItem(f"BLOCK_SIZE_{col}_{row}", "TIFF"))
    ds = None
    with open(path, "r+b") as handle:
        handle.seek(offset)
        handle.write(bytes(range(7, 7 + min(size, 64))))
    return offset


def read_geotiff(path):
    """``(array (bands, rows, cols), rasterio profile)`` of a raster file."""
    with rasterio.open(path) as src:
        return src.read(), src.profile


def synthetic_dem(height, width, seed=0, dtype="float32"):
    """A smooth surface plus noise (rows, cols), as a DEM would look."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width]
    surface = 100 + 20 * np.sin(rows / 7.0) * np.cos(cols / 11.0) + 0.05 * rows * cols / height
    return (surface + rng.normal(0, 0.5, (height, width))).astype(dtype)


def punch_holes(array, nodata, seed=1, fraction=0.02):
    """A copy of ``array`` with random pixels and one rectangular hole set to ``nodata``."""
    rng = np.random.default_rng(seed)
    holed = array.copy()
    holed[rng.random(array.shape) < fraction] = nodata
    h, w = array.shape
    holed[h // 3:h // 3 + max(1, h // 6), w // 4:w // 4 + max(1, w // 5)] = nodata
    return holed


def make_qgis_profile(config_dir):
    """An isolated QGIS settings folder (QGIS_CUSTOM_CONFIG_PATH) with Tilewise enabled."""
    config_dir = Path(config_dir)
    ini = config_dir / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    settings = configparser.ConfigParser()
    settings.optionxform = str
    settings["PythonPlugins"] = {"tilewise": "true"}
    with open(ini, "w") as handle:
        settings.write(handle, space_around_delimiters=False)
    return config_dir


def qgis_process_env(config_dir, parent_dir, path_prefix=()):
    """Environment for ``qgis_process.bin``: headless, isolated profile, plugin from ``parent_dir``.

    ``path_prefix`` directories are put first on the inherited PATH.
    """
    env = dict(os.environ)
    env.update(QT_QPA_PLATFORM="offscreen",
               QGIS_CUSTOM_CONFIG_PATH=str(config_dir),
               QGIS_PLUGINPATH=str(parent_dir),
               PATH=os.pathsep.join([*map(str, path_prefix), env.get("PATH", "")]))
    return env
