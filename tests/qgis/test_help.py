"""Help: every algorithm has a Help URL to its local page, written on demand (out of git) into
the QGIS profile from the same text as the dialog's help, rewritten when the help or the version
changes, never raising; docs/algorithms.md (the reference in the repository) is current; the
help uses the dialog's labels, ends with one line pointing to the shared "Performance and
tiling" section instead of repeating it, qgis_process help prints the first sentence once, and
integer parameters are integers."""

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import qgis_helpers as qh
from counts import ALGORITHMS

MARKDOWN = qh.REPO_ROOT / "docs" / "algorithms.md"


@pytest.fixture(scope="module")
def algorithms(plugin):
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    found = [a for a in provider.algorithms() if not isinstance(a, QgsProcessingModelAlgorithm)]
    assert len(found) == ALGORITHMS
    return found


@pytest.fixture(scope="module")
def help_module(algorithms):
    """The help's three modules (text, rendering, pages on demand) as one: a name is read
    from, and patched in, the module that defines it."""
    from tilewise.algorithms import help as text, help_pages, help_render
    return _Modules((help_pages, help_render, text))


class _Modules:
    def __init__(self, modules):
        object.__setattr__(self, "_modules", modules)

    def _owner(self, name):
        return next(m for m in self._modules if name in vars(m))

    def __getattr__(self, name):
        return getattr(self._owner(name), name)

    def __setattr__(self, name, value):
        setattr(self._owner(name), name, value)


@pytest.fixture
def help_dir(algorithms):
    """The folder the Help button's pages are in (written by the first helpUrl())."""
    from qgis.PyQt.QtCore import QUrl

    return Path(QUrl(algorithms[0].helpUrl()).toLocalFile()).parent


def help_lines(help_module, alg):
    """The lines of ``alg``'s help (by label), paths in the plugin folder relative to it."""
    text = alg.helpText().replace(help_module.PLUGIN_DIR + os.sep, "")
    return [line for line in help_module.labelled(alg, text).split("\n") if line]


def build_help():
    sys.path.insert(0, str(qh.REPO_ROOT / "scripts"))
    try:
        import build_help
    finally:
        sys.path.remove(str(qh.REPO_ROOT / "scripts"))
    return build_help


def test_algorithms_md_is_current(algorithms, help_module):
    """docs/algorithms.md is what scripts/build_help.py writes (run it after changing a help
    text): a section per algorithm with its id, its help and its parameters."""
    text = build_help().markdown()
    assert MARKDOWN.read_text(encoding="utf-8") == text, \
        "docs/algorithms.md is stale: run scripts/build_help.py"
    for alg in algorithms:
        section = text.split(f"\nId: `{alg.id()}`\n", 1)[1].split("\n### ", 1)[0]
        for line in help_lines(help_module, alg):
            assert help_module.md(line) in section, (alg.id(), line)
        for parameter in alg.parameterDefinitions():
            assert f"| `{parameter.name()}` |" in section, (alg.id(), parameter.name())


def test_the_help_pages_are_not_in_git():
    done = subprocess.run(["git", "-C", str(qh.REPO_ROOT), "ls-files", "docs/help"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip("not a git checkout")
    assert done.stdout == ""


def test_every_algorithm_has_a_local_help_url(algorithms, help_module):
    from qgis.PyQt.QtCore import QUrl

    folders = set()
    for alg in algorithms:
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile(), (alg.id(), alg.helpUrl())
        path = Path(url.toLocalFile())
        assert path.name == f"{alg.name()}.html"
        folders.add(path.parent)
        text = path.read_text(encoding="utf-8")
        assert text == help_module.render_algorithm(alg), alg.id()
        assert alg.displayName() in text and "performance.html" in text, alg.id()
        for line in help_lines(help_module, alg):
            assert html.escape(line, quote=False) in text, (alg.id(), line)
    # one folder, in the QGIS profile (not in the checkout, which has no pages)
    assert len(folders) == 1, folders
    folder = folders.pop()
    from qgis.core import QgsApplication

    assert folder == Path(QgsApplication.qgisSettingsDirPath()) / help_module.USER_FOLDER
    assert qh.REPO_ROOT.resolve() not in folder.resolve().parents
    index = (folder / "index.html").read_text(encoding="utf-8")
    for alg in algorithms:
        assert f'href="{alg.name()}.html"' in index
    for model in ("seed_pipeline", "ndvi_smoothing", "dem_terrain"):
        assert f"tilewise:{model}" in index


def test_help_pages_are_written_once_and_again_when_stale(algorithms, help_module, help_dir,
                                                          monkeypatch):
    alg = next(a for a in algorithms if a.name() == "fillnodata")
    page = help_dir / "fillnodata.html"
    stamp = help_dir / help_module.STAMP
    current = page.read_text(encoding="utf-8")
    # current: not written again (nor in a new process, whose cache is empty)
    help_module._ready.clear()
    before = page.stat().st_mtime_ns, stamp.stat().st_mtime_ns
    os.utime(page, ns=(1, 1))
    assert alg.helpUrl().endswith("/fillnodata.html")
    assert page.stat().st_mtime_ns == 1 and stamp.stat().st_mtime_ns == before[1]
    # another plugin version: every page rewritten, atomically (no temporary file left)
    help_module._ready.clear()
    page.write_text("stale", encoding="utf-8")
    monkeypatch.setattr(help_module, "plugin_version", lambda: "99.0.0")
    assert alg.helpUrl().endswith("/fillnodata.html")
    assert page.read_text(encoding="utf-8") == current
    assert "version=99.0.0\n" in stamp.read_text(encoding="utf-8")
    assert not [p for p in help_dir.iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()
    # a changed help text: rewritten
    help_module._ready.clear()
    monkeypatch.setattr(type(alg), "helpText", lambda self: "A changed help text.")
    alg.helpUrl()
    assert "A changed help text." in page.read_text(encoding="utf-8")
    monkeypatch.undo()
    help_module._ready.clear()
    alg.helpUrl()
    assert page.read_text(encoding="utf-8") == current


def test_help_url_falls_back_and_never_raises(algorithms, help_module, help_dir, monkeypatch,
                                              tmp_path):
    alg = next(a for a in algorithms if a.name() == "meanfilter")
    # the profile's folder cannot be written: a folder of the temp dir
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    fallback = tmp_path / "temp-pages"
    monkeypatch.setattr(help_module, "user_folders", lambda: [str(blocked), str(fallback)])
    help_module._ready.clear()
    assert alg.helpUrl() == (fallback / "meanfilter.html").as_uri()
    # nothing can be written: "" (there are no shipped pages in the checkout), no exception
    monkeypatch.setattr(help_module, "user_folders", lambda: [str(blocked / "x")])
    help_module._ready.clear()
    assert alg.helpUrl() == ""

    def broken(*args):
        raise RuntimeError("broken")
    monkeypatch.setattr(help_module, "pages", broken)
    assert alg.helpUrl() == ""
    monkeypatch.undo()
    help_module._ready.clear()
    assert alg.helpUrl() == (help_dir / "meanfilter.html").as_uri()


def test_help_uses_labels_and_shares_the_performance_section(algorithms, help_dir):
    from qgis.core import QgsProcessingParameterDefinition

    for alg in algorithms:
        text = alg.shortHelpString()
        lines = text.split("\n")
        names = {p.name() for p in alg.parameterDefinitions()}
        for line in lines:
            head = line.split(": ", 1)[0]
            assert head not in names, (alg.id(), line)  # "MAX_DISTANCE: ..." -> its label
        for parameter in alg.parameterDefinitions():  # inputs: by label (outputs may be)
            if parameter.flags() & QgsProcessingParameterDefinition.FlagAdvanced or \
                    parameter.isDestination():
                continue
            assert parameter.description() in text, (alg.id(), parameter.name())
        # the shared section is one line here, not the paragraphs of every algorithm
        assert "Performance and tiling" in lines[-1] and "bit for bit" in lines[-1]
        assert "Tiling guarantee" not in text and "read once into shared memory" not in text
        assert alg.shortDescription() == "" or not text.startswith(alg.shortDescription())
    performance = (help_dir / "performance.html").read_text(encoding="utf-8")
    for label in ("Workers (0 = all CPU cores)", "Tile size in pixels (0 = automatic)",
                  "Additional creation options", "Tiling guarantee", "shared memory"):
        assert label in performance


def test_integer_parameters_are_integers(algorithms, help_dir):
    from qgis.core import QgsProcessingParameterNumber

    fill = next(a for a in algorithms if a.name() == "fillnodata")
    assert fill.parameterDefinition("MAX_DISTANCE").dataType() == \
        QgsProcessingParameterNumber.Integer
    page = (help_dir / "fillnodata.html").read_text(encoding="utf-8")
    assert re.search(r"<code>MAX_DISTANCE</code></td><td>integer</td><td>100</td>", page)
    assert "100.0" not in page
    for alg in algorithms:
        for parameter in alg.parameterDefinitions():
            if isinstance(parameter, QgsProcessingParameterNumber) and \
                    parameter.dataType() == QgsProcessingParameterNumber.Integer and \
                    parameter.defaultValue() is not None:
                assert float(parameter.defaultValue()).is_integer(), (alg.id(), parameter.name())


def test_qgis_process_help_prints_the_first_sentence_once(plugin_parent_dir, tmp_path):
    if not os.access(qh.QGIS_PROCESS, os.X_OK):
        pytest.skip(f"{qh.QGIS_PROCESS} not installed")
    env = qh.qgis_process_env(qh.make_qgis_profile(tmp_path / "config"), plugin_parent_dir)
    done = subprocess.run([qh.QGIS_PROCESS, "help", "tilewise:fillnodata"], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Fills the nodata pixels of one band") == 1, done.stdout
    assert "Maximum search distance in pixels: how far" in done.stdout
    assert "Tiling guarantee" not in done.stdout
