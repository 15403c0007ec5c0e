"""Help: every algorithm has a Help URL to its local page in docs/help/ (generated from the same
text, and current); the help uses the dialog's labels, ends with one line pointing to the
shared "Performance and tiling" section instead of repeating it, qgis_process help prints the
first sentence once, and integer parameters are integers."""

import os
import re
import subprocess
import sys

import pytest

import qgis_helpers as qh
from counts import ALGORITHMS

HELP_DIR = qh.REPO_ROOT / "docs" / "help"


@pytest.fixture(scope="module")
def algorithms(plugin):
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    found = [a for a in provider.algorithms() if not isinstance(a, QgsProcessingModelAlgorithm)]
    assert len(found) == ALGORITHMS
    return found


def test_committed_pages_are_current(algorithms):
    """docs/help/ is what scripts/build_help.py writes (run it after changing a help text)."""
    sys.path.insert(0, str(qh.REPO_ROOT / "scripts"))
    try:
        import build_help
    finally:
        sys.path.remove(str(qh.REPO_ROOT / "scripts"))
    pages = build_help.help_pages()
    on_disk = {p.name for p in HELP_DIR.glob("*.html")}
    assert on_disk == set(pages), "run scripts/build_help.py"
    for name, text in pages.items():
        assert (HELP_DIR / name).read_text(encoding="utf-8") == text, \
            f"docs/help/{name} is stale: run scripts/build_help.py"


def test_every_algorithm_has_a_local_help_url(algorithms):
    from qgis.PyQt.QtCore import QUrl

    for alg in algorithms:
        url = QUrl(alg.helpUrl())
        assert url.isLocalFile(), (alg.id(), alg.helpUrl())
        path = url.toLocalFile()
        assert os.path.samefile(os.path.dirname(path), HELP_DIR), path
        text = open(path, encoding="utf-8").read()
        assert alg.displayName() in text and "performance.html" in text, alg.id()
    index = (HELP_DIR / "index.html").read_text(encoding="utf-8")
    for alg in algorithms:
        assert f'href="{alg.name()}.html"' in index
    for model in ("seed_pipeline", "ndvi_smoothing", "dem_terrain"):
        assert f"tilewise:{model}" in index


def test_help_uses_labels_and_shares_the_performance_section(algorithms):
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
    performance = (HELP_DIR / "performance.html").read_text(encoding="utf-8")
    for label in ("Workers (0 = all CPU cores)", "Tile size in pixels (0 = automatic)",
                  "Additional creation options", "Tiling guarantee", "shared memory"):
        assert label in performance


def test_integer_parameters_are_integers(algorithms):
    from qgis.core import QgsProcessingParameterNumber

    fill = next(a for a in algorithms if a.name() == "fillnodata")
    assert fill.parameterDefinition("MAX_DISTANCE").dataType() == \
        QgsProcessingParameterNumber.Integer
    page = (HELP_DIR / "fillnodata.html").read_text(encoding="utf-8")
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
