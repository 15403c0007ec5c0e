#!/usr/bin/python3
"""Write docs/algorithms.md, the reference of the Tilewise algorithms (a section per algorithm:
id, help, parameters, outputs), from the algorithms' own help text; with --html FOLDER, write
the HTML pages behind the dialogs' Help button into FOLDER instead (scripts/package.sh puts
them in the zip; elsewhere QGIS writes them on demand, see algorithms/help.py).

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 scripts/build_help.py [--html FOLDER]

tests/qgis/test_help.py checks that docs/algorithms.md is current: run this after changing a help.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # _qgis_app
REPO = os.path.dirname(HERE)
MARKDOWN = os.path.join(REPO, "docs", "algorithms.md")


def provider_help():
    """``(algorithms.help module, algorithms, models)`` of the registered provider (QGIS must
    be running)."""
    from qgis.core import QgsApplication

    from tilewise.algorithms import help_render as tilewise_help

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    return (tilewise_help, *tilewise_help.provider_algorithms(provider))


def help_pages():
    """``{file name: HTML}``: the pages of the Help button."""
    tilewise_help, algorithms, models = provider_help()
    return tilewise_help.pages(algorithms, models)


def markdown():
    """The text of docs/algorithms.md."""
    tilewise_help, algorithms, models = provider_help()
    return tilewise_help.render_markdown(algorithms, models)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", metavar="FOLDER",
                        help="write the HTML pages into FOLDER instead of docs/algorithms.md")
    args = parser.parse_args(argv)
    from _qgis_app import qgis_app

    with qgis_app("tilewise-help"):
        if args.html:
            from tilewise.algorithms.help_pages import write_pages

            pages = help_pages()
            write_pages(args.html, pages)
            print(f"{args.html}: {len(pages)} pages")
        else:
            text = markdown()
            old = open(MARKDOWN, encoding="utf-8").read() if os.path.exists(MARKDOWN) else None
            if old != text:
                with open(MARKDOWN, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
            print(f"{MARKDOWN}: {text.count(chr(10) + '### ')} algorithms")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
