"""Tilewise's Python dependencies, checked when the plugin loads (no qgis import here).

``missing()`` lists what is missing or too old; ``message(problems)`` is the one message the
plugin shows (message bar in QGIS, the log and stderr in qgis_process), naming the packages to
install on Debian/Ubuntu (apt) and Windows (OSGeo4W).
"""

import glob
import importlib
import importlib.util
import os
import re
import sys

#: module -> (minimum version, Debian/Ubuntu package, OSGeo4W package, pip name). The minimums
#: are the versions of Debian 11 (bullseye); the tests run on Debian 12's.
REQUIREMENTS = {
    "numpy": ("1.19", "python3-numpy", "python3-numpy", "numpy"),
    "scipy": ("1.6", "python3-scipy", "python3-scipy", "scipy"),
    "rasterio": ("1.2", "python3-rasterio", "python3-rasterio", "rasterio"),
}


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", str(text))[:3])


def _version_of(module):
    """The installed version of ``module`` without importing it (plugin loading should not
    pay for scipy and rasterio): an imported module's ``__version__``, else its
    distribution's metadata; None when neither says. Raises when it cannot be found."""
    imported = sys.modules.get(module)
    if imported is not None:
        return getattr(imported, "__version__", None)
    spec = importlib.util.find_spec(module)
    if spec is None:
        raise ModuleNotFoundError(f"No module named {module!r}")
    # the distribution's folder beside the package names the version (scipy-1.10.1.dist-info,
    # numpy-1.24.2.egg-info): importlib.metadata would cost 70 ms of imports here
    for folder in spec.submodule_search_locations or ():
        for info in glob.glob(os.path.join(os.path.dirname(folder), f"{module}-*.*-info")):
            version = os.path.basename(info)[len(module) + 1:].rsplit(".", 1)[0]
            if re.fullmatch(r"\d+(\.\d+)*\S*", version):
                return version
    return getattr(importlib.import_module(module), "__version__", None)


def missing(requirements=None):
    """``[(module, problem)]`` for each required module that cannot be found or is too old
    (empty when all is well). Never raises."""
    problems = []
    for module, (minimum, *_) in (requirements or REQUIREMENTS).items():
        try:
            version = _version_of(module)
        except Exception as error:  # noqa: BLE001 - a broken install is as bad as a missing one
            problems.append((module, f"cannot be imported ({type(error).__name__}: {error})"))
            continue
        if version is None:
            continue
        try:
            too_old = _version_tuple(version) < _version_tuple(minimum)
        except ValueError:
            too_old = False
        if too_old:
            problems.append((module, f"is version {version}; {minimum} or later is needed"))
    return problems


def message(problems, requirements=None):
    """The text that tells the user what to install, or "" when ``problems`` is empty."""
    if not problems:
        return ""
    requirements = requirements or REQUIREMENTS
    names = [module for module, _ in problems]
    apt = " ".join(requirements[m][1] for m in names)
    osgeo4w = " ".join(requirements[m][2] for m in names)
    pip = " ".join(requirements[m][3] for m in names)
    details = "; ".join(f"{module} {problem}" for module, problem in problems)
    return (f"Tilewise needs {', '.join(names)} in QGIS's Python: {details}. "
            f"Its algorithms are not available until you install "
            f"{'it' if len(names) == 1 else 'them'} and restart QGIS. "
            f"Debian/Ubuntu: sudo apt install {apt}. "
            f"Windows: run the OSGeo4W installer (Advanced install) and select {osgeo4w}. "
            f"Other systems: python3 -m pip install {pip} for the Python QGIS uses.")
