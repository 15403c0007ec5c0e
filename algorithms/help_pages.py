"""The HTML help pages on demand: written into a per-user folder once per plugin version
and help text (a stamp file tells), unless the plugin folder ships current ones."""

import getpass
import hashlib
import os
import tempfile

from qgis.core import QgsApplication

from .help import PLUGIN_DIR, SHIPPED_DIR, STAMP, USER_FOLDER
from .help_render import pages, provider_algorithms


def plugin_version():
    """``version=`` of the plugin's metadata.txt ("" when unreadable)."""
    try:
        with open(os.path.join(PLUGIN_DIR, "metadata.txt"), encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("version="):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def stamp_text(pages):
    """What a folder holding exactly ``pages`` for this plugin version has in its stamp."""
    digest = hashlib.sha256()
    for name in sorted(pages):
        digest.update(name.encode("utf-8") + b"\0" + pages[name].encode("utf-8") + b"\0")
    return f"version={plugin_version()}\npages={digest.hexdigest()}\n"


def is_current(folder, pages):
    """Whether ``folder`` holds ``pages`` as written by ``write_pages`` for this version."""
    try:
        with open(os.path.join(folder, STAMP), encoding="utf-8") as handle:
            stamp = handle.read()
    except OSError:
        return False
    return stamp == stamp_text(pages) and all(os.path.isfile(os.path.join(folder, name))
                                              for name in pages)


def _write_atomically(folder, name, text):
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.replace(tmp, os.path.join(folder, name))
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def write_pages(folder, pages):
    """Write ``pages`` (``{file name: HTML}``) into ``folder``, each file atomically (a
    temporary file renamed), pages no longer there removed, the stamp last."""
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # pages of algorithms that are gone
        if name.endswith(".html") and name not in pages:
            os.remove(os.path.join(folder, name))
    for name, text in pages.items():
        _write_atomically(folder, name, text)
    _write_atomically(folder, STAMP, stamp_text(pages))


def user_folders():
    """Where the pages may be written, in order: the QGIS profile's folder, else a temp dir."""
    folders = []
    settings = QgsApplication.qgisSettingsDirPath()
    if settings:
        folders.append(os.path.join(settings, USER_FOLDER))
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name: one folder for all
        user = "user"
    folders.append(os.path.join(tempfile.gettempdir(), f"{USER_FOLDER}-{user}"))
    return folders


#: sorted algorithm ids -> folder holding their current pages (this process already checked)
_ready = {}


def ensure_pages(alg):
    """The folder holding current pages for ``alg``'s provider (``alg`` alone when it has
    none): the plugin's own docs/help/ when current, else a per-user folder, written when its
    stamp is not current. Raises ``OSError`` when no folder can be written."""
    provider = alg.provider() or QgsApplication.processingRegistry().providerById("tilewise")
    algorithms, models = provider_algorithms(provider)
    if alg.id() not in {a.id() for a in algorithms}:
        algorithms, models = [alg], []
    key = tuple(sorted(a.id() for a in algorithms + models))
    folder = _ready.get(key)
    if folder is not None and os.path.isfile(os.path.join(folder, alg.name() + ".html")):
        return folder
    result = pages(algorithms, models)
    error = None
    for folder in [SHIPPED_DIR] + user_folders():
        if is_current(folder, result):
            break
        if folder == SHIPPED_DIR:
            continue
        try:
            write_pages(folder, result)
            break
        except OSError as failed:
            error = failed
    else:
        raise error or OSError("no folder for the help pages")
    _ready[key] = folder
    return folder


