#!/usr/bin/python3
"""Write docs/help/: one HTML page per Tilewise algorithm (its Help button opens it), the shared
"Performance and tiling" page and an index, from the algorithms' own help text.

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/build_help.py [FOLDER]

scripts/package.sh runs it before zipping; tests/test_help.py checks the committed pages are
current.
"""

import os
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_qgis():
    """A headless QgsApplication with the checkout registered as the plugin ``tilewise``."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    parent = tempfile.mkdtemp(prefix="tilewise-help-")
    os.symlink(REPO, os.path.join(parent, "tilewise"))
    sys.path.insert(0, parent)
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False, tempfile.mkdtemp(prefix="tilewise-help-profile-"))
    app.initQgis()
    from tilewise import classFactory

    plugin = classFactory(None)
    plugin.initProcessing()
    return app, plugin


def help_pages():
    """``{file name: HTML}`` from the registered provider (QGIS must be running)."""
    from qgis.core import QgsApplication, QgsProcessingModelAlgorithm

    from tilewise.algorithms import help as tilewise_help

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    algorithms = [a for a in provider.algorithms()
                  if not isinstance(a, QgsProcessingModelAlgorithm)]
    models = [a for a in provider.algorithms() if isinstance(a, QgsProcessingModelAlgorithm)]
    return tilewise_help.pages(algorithms, models)


def write(folder, pages):
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # pages of algorithms that are gone
        if name.endswith(".html") and name not in pages:
            os.remove(os.path.join(folder, name))
    for name, text in pages.items():
        path = os.path.join(folder, name)
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)


def main(argv):
    folder = argv[0] if argv else os.path.join(REPO, "docs", "help")
    app, plugin = start_qgis()  # noqa: F841 (kept alive while the pages are built)
    pages = help_pages()
    write(folder, pages)
    print(f"{folder}: {len(pages)} pages")
    plugin.unload()
    app.exitQgis()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
