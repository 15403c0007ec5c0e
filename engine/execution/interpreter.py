"""Which Python interpreter starts worker processes.

Inside QGIS, ``sys.executable`` is not the embedded interpreter: on Linux it is whatever
``python3`` comes first on PATH, on Windows and macOS the QGIS binary itself. Workers
need an interpreter of the same version and installation, which is found from
``sys.exec_prefix``. ``TILEWISE_PYTHON`` overrides the search.
"""

import os
import subprocess
import sys

from ..core.errors import TilewiseError

_cache = {}


def candidates(executable, exec_prefix, version, platform):
    """Interpreter paths to try, best first, for the given layout."""
    major, minor = version[:2]
    found = []
    if platform.startswith("win"):
        # OSGeo4W and the standalone installer: <root>\apps\Python3x\python.exe
        found.append(os.path.join(exec_prefix, "python.exe"))
        found.append(os.path.join(exec_prefix, "python3.exe"))
    else:
        bindir = os.path.join(exec_prefix, "bin")
        found.append(os.path.join(bindir, f"python{major}.{minor}"))
        found.append(os.path.join(bindir, f"python{major}"))
        if platform == "darwin" and executable and ".app/Contents/MacOS/" in executable:
            # QGIS.app: Contents/MacOS/QGIS; its Python lives in Contents/MacOS/bin
            macos = executable.split(".app/Contents/MacOS/")[0] + ".app/Contents/MacOS"
            found.append(os.path.join(macos, "bin", f"python{major}.{minor}"))
            found.append(os.path.join(macos, "bin", f"python{major}"))
    if executable and is_python_binary(executable):
        found.append(executable)
    unique = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def is_python_binary(path):
    """True when the file name looks like a Python interpreter, not QGIS or anything else."""
    name = os.path.basename(path).lower()
    if name.endswith(".exe"):
        name = name[:-4]
    return name.startswith("python") and not name.startswith("pythonw") and "qgis" not in name


def same_version(path, version):
    """Does the interpreter at ``path`` report ``version`` (major, minor)?"""
    running = sys.executable
    if (tuple(version[:2]) == tuple(sys.version_info[:2]) and running
            and is_python_binary(running) and os.path.isfile(running)
            and os.path.realpath(path) == os.path.realpath(running)):
        return True  # the interpreter running this code: no need to start it and ask
    if (tuple(version[:2]) == tuple(sys.version_info[:2])
            and os.path.basename(path) == "python%d.%d" % tuple(version[:2])
            and os.path.dirname(os.path.abspath(path)) == os.path.join(sys.exec_prefix, "bin")
            and os.access(path, os.X_OK)):
        # this installation's own interpreter, named for this version (qgis_process: its
        # sys.executable is not Python): starting it to ask cost 80 ms of every run
        return True
    try:
        out = subprocess.run([path, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "%d.%d" % tuple(version[:2])


def resolve_worker_python(executable=None, exec_prefix=None, version=None, platform=None,
                          environ=None, isfile=os.path.isfile, check=same_version):
    """Absolute path of the interpreter to start workers with; TilewiseError if none fits."""
    executable = sys.executable if executable is None else executable
    exec_prefix = sys.exec_prefix if exec_prefix is None else exec_prefix
    version = tuple(sys.version_info[:2]) if version is None else tuple(version[:2])
    platform = sys.platform if platform is None else platform
    environ = os.environ if environ is None else environ
    override = environ.get("TILEWISE_PYTHON")
    if override:
        if not isfile(override):
            raise TilewiseError(f"TILEWISE_PYTHON={override} is not a file")
        if not check(override, version):
            raise TilewiseError(f"TILEWISE_PYTHON={override} is not a Python "
                                f"{version[0]}.{version[1]} interpreter (workers need the "
                                "version running this code)")
        return override
    key = (executable, exec_prefix, version, platform)
    if key in _cache:
        return _cache[key]
    tried = candidates(executable, exec_prefix, version, platform)
    for path in tried:
        if isfile(path) and check(path, version):
            _cache[key] = path
            return path
    raise TilewiseError(
        "no Python %d.%d interpreter found to start worker processes (tried %s); set "
        "TILEWISE_PYTHON to its path, or use workers=1" % (version + (", ".join(tried),)))
