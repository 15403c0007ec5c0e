"""Tilewise's provider settings, in Processing → Options → Providers → Tilewise.

They are ``ProcessingConfig`` settings, as QGIS's own providers have (GDAL's ``ACTIVATE_GDAL``),
stored by QGIS under ``Processing/Configuration/<NAME>`` in the profile's QGIS3.ini. The
getters below read that key directly when the ``processing`` plugin is not loaded (a bare
``QgsApplication``), so they work everywhere.

* ``TILEWISE_ACTIVATE``: the provider is active (its algorithms are shown).
* ``TILEWISE_WORKERS``: the default of each algorithm's WORKERS parameter (0 = all cores). An
  algorithm's own WORKERS value overrides it.
* ``TILEWISE_MEMORY_MB``: memory budget for one run in MiB (0 = no limit). Stored for the
  streaming engine, which is not there yet: today's engine does not read it.
* ``TILEWISE_CACHE``: keep rasters written by Tilewise in shared memory for the next reader.
* ``TILEWISE_CACHE_MB``: the cache budget in MiB (0 = a quarter of RAM).
* ``TILEWISE_TMPDIR``: folder of the file-backed fallback when /dev/shm is full (empty = the
  system's temporary folder).
* ``TILEWISE_DASK_SCHEDULER``: address of a Dask scheduler (``tcp://host:8786``): streamed
  runs (file to file) go to its cluster. Handed to the engine as the environment variable of
  the same name (which, set before QGIS started, wins); see docs/scale-out.md.

The cache and temporary folder settings reach the engine through the environment variables
it reads (``TILEWISE_CACHE``, ``TILEWISE_CACHE_MB``, ``TILEWISE_TMPDIR``). A variable set in
the environment before QGIS started wins over the setting.
"""

import os

ICON_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources",
                         "icon.svg")
PROVIDER_NAME = "Tilewise"  # the settings group: must equal TilewiseProvider.name()

ACTIVATE = "TILEWISE_ACTIVATE"
WORKERS = "TILEWISE_WORKERS"
MEMORY_MB = "TILEWISE_MEMORY_MB"
CACHE = "TILEWISE_CACHE"
CACHE_MB = "TILEWISE_CACHE_MB"
TMPDIR = "TILEWISE_TMPDIR"
DASK_SCHEDULER = "TILEWISE_DASK_SCHEDULER"

#: the old hidden QgsSettings key of the cache budget (read once, moved to CACHE/CACHE_MB)
LEGACY_CACHE_KEY = "tilewise/cache_mb"

#: name -> (description, default, kind); kind is one of "bool", "int", "folder", "string"
SETTINGS = {
    ACTIVATE: ("Activate", True, "bool"),
    WORKERS: ("Default number of workers (0 = all CPU cores; 1 = in the QGIS process)", 0,
              "int"),
    MEMORY_MB: ("Memory budget of a run in MiB (0 = no limit; for the streaming engine)", 0,
                "int"),
    CACHE: ("Keep written rasters in shared memory for the next algorithm", True, "bool"),
    CACHE_MB: ("Shared-memory cache budget in MiB (0 = a quarter of RAM; applies when the "
               "cache is first used)", 0, "int"),
    TMPDIR: ("Temporary folder when /dev/shm is full (empty = the system's)", "", "folder"),
    DASK_SCHEDULER: ("Dask scheduler address (tcp://host:8786; for the Dask backend)", "",
                     "string"),
}

#: environment variables this module set, and to what (so that a later change of the setting
#: may replace them, while a variable the user set is left alone)
_set_by_us = {}


def _key(name):
    return "Processing/Configuration/" + name


def _config():
    """``ProcessingConfig`` when the processing plugin is importable, else None."""
    try:
        from processing.core.ProcessingConfig import ProcessingConfig
    except ImportError:
        return None
    return ProcessingConfig


def register():
    """Add the settings to ProcessingConfig (Processing → Options → Providers → Tilewise)."""
    config = _config()
    if config is None:
        return False
    from processing.core.ProcessingConfig import Setting

    from qgis.PyQt.QtGui import QIcon

    config.settingIcons[PROVIDER_NAME] = QIcon(ICON_PATH)
    kinds = {"bool": None, "int": Setting.INT, "folder": Setting.FOLDER,
             "string": Setting.STRING}
    _migrate_legacy_cache_key()
    for name, (description, default, kind) in SETTINGS.items():
        config.addSetting(Setting(PROVIDER_NAME, name, description, default,
                                  valuetype=kinds[kind]))
    config.readSettings()
    return True


def unregister():
    """Remove the settings from ProcessingConfig (the stored values stay in the profile)."""
    config = _config()
    if config is None:
        return
    for name in SETTINGS:
        if name in config.settings:
            config.removeSetting(name)
    config.settingIcons.pop(PROVIDER_NAME, None)


def _migrate_legacy_cache_key():
    from qgis.core import QgsSettings

    settings = QgsSettings()
    value = settings.value(LEGACY_CACHE_KEY, None)
    if value is None:
        return
    settings.remove(LEGACY_CACHE_KEY)
    try:
        megabytes = int(float(value))
    except (TypeError, ValueError):
        return
    target = CACHE if megabytes <= 0 else CACHE_MB
    if settings.value(_key(target), None) is None:  # a value set in the Options dialog stays
        settings.setValue(_key(target), False if megabytes <= 0 else megabytes)


def raw_value(name):
    """The stored value of setting ``name`` (its default when unset), as QGIS returns it."""
    config = _config()
    if config is not None and name in config.settings:
        value = config.getSetting(name)
    else:
        from qgis.core import QgsSettings

        value = QgsSettings().value(_key(name), None)
    return SETTINGS[name][1] if value is None else value


def value(name):
    """Setting ``name`` with its declared type (a stored value of the wrong type reads as the
    default): bool, int (>= 0) or str."""
    default, kind = SETTINGS[name][1], SETTINGS[name][2]
    raw = raw_value(name)
    if kind == "bool":
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in ("true", "1", "yes")
    if kind == "int":
        try:
            return max(0, int(float(raw)))
        except (TypeError, ValueError):
            return default
    return "" if raw is None else str(raw).strip()


def set_value(name, new_value):
    """Store setting ``name`` (through ProcessingConfig when it is registered)."""
    config = _config()
    if config is not None and name in config.settings:
        config.setSettingValue(name, new_value)
    else:
        from qgis.core import QgsSettings

        QgsSettings().setValue(_key(name), new_value)


def default_workers():
    return value(WORKERS)


def memory_budget_mb():
    """The memory budget in MiB, or None for no limit."""
    return value(MEMORY_MB) or None


def dask_scheduler():
    """The Dask scheduler address, or None."""
    return value(DASK_SCHEDULER) or None


def _set_env(variable, new_value, environ):
    """Set ``variable`` unless the user set it (it is there and not what we put there)."""
    if variable in environ and environ[variable] != _set_by_us.get(variable):
        return False
    if new_value is None:
        if variable in _set_by_us:
            environ.pop(variable, None)
            del _set_by_us[variable]
        return True
    environ[variable] = _set_by_us[variable] = new_value
    return True


def apply_environment(environ=None):
    """Hand the cache and temporary-folder settings to the engine's environment variables.

    ``TILEWISE_CACHE`` and ``TILEWISE_CACHE_MB`` set by the user (either one) win over both
    cache settings; ``TILEWISE_TMPDIR`` set by the user wins over the folder setting. Returns
    what the engine sees: ``{"TILEWISE_CACHE": ..., "TILEWISE_CACHE_MB": ...,
    "TILEWISE_TMPDIR": ...}`` (None when unset).
    """
    environ = os.environ if environ is None else environ
    user_cache = any(v in environ and environ[v] != _set_by_us.get(v)
                     for v in ("TILEWISE_CACHE", "TILEWISE_CACHE_MB"))
    if not user_cache:
        _set_env("TILEWISE_CACHE", None if value(CACHE) else "0", environ)
        megabytes = value(CACHE_MB)
        _set_env("TILEWISE_CACHE_MB", str(megabytes) if megabytes else None, environ)
    _set_env("TILEWISE_TMPDIR", value(TMPDIR) or None, environ)
    # the engine sends streamed runs to this Dask scheduler (engine.execution.dask_backend)
    _set_env("TILEWISE_DASK_SCHEDULER", value(DASK_SCHEDULER) or None, environ)
    return {v: environ.get(v) for v in ("TILEWISE_CACHE", "TILEWISE_CACHE_MB", "TILEWISE_TMPDIR")}
