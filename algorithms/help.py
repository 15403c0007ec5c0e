"""Help of the Tilewise algorithms: the dialog's help text, the HTML pages behind the Help
button and the Markdown reference docs/algorithms.md, all from the same text.

* The help names parameters by their dialog labels ("Maximum search distance in pixels"), as
  QGIS's own help does; the ids (MAX_DISTANCE) are in the HTML page's parameter table, next to
  the labels, for qgis_process and Python users.
* What every algorithm shares (the advanced parameters, the tiling guarantee, performance) is
  ONE section, "Performance and tiling" (the page performance.html); each algorithm's help
  ends with one line pointing to it.
* The HTML pages are not in git: ``help_url`` writes them on demand (``ensure_pages``) into a
  per-user folder, once per plugin version and help text (a stamp file tells), unless the
  plugin folder holds current ones (docs/help/, written by scripts/package.sh into the zip).
  scripts/build_help.py writes docs/algorithms.md, and the pages into a folder for the zip.
"""

import os
import re

from qgis.core import Qgis, QgsMessageLog
from qgis.PyQt.QtCore import QCoreApplication, QUrl

PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: the pages shipped in the plugin zip (scripts/package.sh); absent from a checkout
SHIPPED_DIR = os.path.join(PLUGIN_DIR, "docs", "help")
#: the folder of the pages written on demand, inside the QGIS profile's folder
USER_FOLDER = "tilewise-help"
#: in a folder of pages: the plugin version and the pages' digest they were written for
STAMP = "tilewise-help.stamp"
PERFORMANCE_PAGE = "performance.html"
PERFORMANCE_TITLE = "Performance and tiling"
ADVANCED = ("WORKERS", "TILE_SIZE", "MEMORY", "OPTIONS", "COG")

#: the shared section: (parameter id or None, text); the id's dialog label heads the paragraph
PERFORMANCE = [
    (None, "Tiling guarantee: the output is identical, bit for bit, whatever the number of "
           "workers and the tile size; tiles read the margin they need from their "
           "neighbours."),
    ("WORKERS", "how many tiles run at once. 0 uses all CPU cores; 1 runs the tiles in the "
                "QGIS process itself, without worker processes. Left unset, the default is "
                "the provider setting (Processing > Options > Providers > Tilewise > Default "
                "number of workers; 0 unless changed). Images under a million pixels always "
                "run in the QGIS process. Larger ones use threads of QGIS for numpy and scipy "
                "filters and worker processes for the others; QGIS computes tiles next to its "
                "worker processes (2 workers start one), which stay up for the session once "
                "started."),
    ("TILE_SIZE", "side of the square tiles the raster is split into, in pixels. 0 (default) "
                  "picks a size automatically."),
    ("MEMORY", "the memory a run may use, in MiB, like OTB's ram parameter. 0 (default) "
               "takes the provider setting (Processing > Options > Providers > Tilewise > "
               "Memory budget), else a quarter of the RAM. The raster is read, processed and "
               "written by strips of rows that fit this budget, so a raster larger than the "
               "memory still runs; a budget too small for the filter's margin is refused "
               "before any work, with the minimum it needs."),
    ("OPTIONS", "GDAL creation options, KEY=VALUE pairs separated by |, e.g. "
                "COMPRESS=DEFLATE|PREDICTOR=2|TILED=YES (GeoTIFF driver), or "
                "COMPRESS=DEFLATE|PREDICTOR=YES (COG driver, when a COG is written). They are "
                "checked before any work. PREDICTOR=3 becomes 2 for integer outputs; with "
                "compression and no NUM_THREADS, all cores compress."),
    ("COG", "write a Cloud Optimized GeoTIFF (GDAL's COG driver: tiled, with overviews, same "
            ".tif extension) instead of a plain GeoTIFF (default: no). The creation options "
            "are then checked against the COG driver's options."),
    (None, "Performance: file to file, the raster is streamed: strips of rows are read "
           "into shared memory, their tiles computed by the workers and the finished rows "
           "written, reading the next strip and writing the last one while a strip is "
           "computed, within the memory budget. Filters that reach far (fill nodata) get "
           "full-width tiles, which recompute little of their margins. Worker processes take "
           "a moment to start: for small rasters, 1 worker is often fastest. Within one QGIS "
           "session, a raster a Tilewise algorithm wrote stays in shared memory for a while "
           "where it fits the cache and the memory budget, and the next Tilewise algorithm "
           "reading it (a model's next step) takes that copy instead of reading the file "
           "(the provider settings turn this cache off or set its budget)."),
    (None, "Inputs and outputs: input rasters are read with GDAL (the 'gdal' data provider); "
           "outputs are GeoTIFF files."),
]

#: advanced parameters' labels, for the shared page (they are the same in every algorithm)
ADVANCED_LABELS = {
    "WORKERS": "Workers (0 = all CPU cores)",
    "TILE_SIZE": "Tile size in pixels (0 = automatic)",
    "MEMORY": "Memory budget in MiB (0 = the provider setting, else a quarter of RAM)",
    "OPTIONS": "Additional creation options",
    "COG": "Write a Cloud Optimized GeoTIFF (COG)",
}


def tr(text):
    return QCoreApplication.translate("TilewiseHelp", text)


def short_label(definition):
    """A label without its parenthesis: "Fill mask (nonzero = ...)" -> "Fill mask"."""
    return definition.description().split(" (", 1)[0].strip()


def labelled(alg, text):
    """``text`` with parameter ids replaced by the dialog's labels: a line "MAX_DISTANCE: ..."
    starts with the full label, and an id inside a sentence becomes the short label."""
    definitions = {d.name(): d for d in alg.parameterDefinitions()}
    names = sorted((n for n in definitions if n not in ADVANCED and len(n) > 1), key=len,
                   reverse=True)
    inline = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b") if names else None
    lines = []
    for line in text.split("\n"):
        head, sep, rest = line.partition(": ")
        if sep and head in definitions:
            line = definitions[head].description() + ": " + rest
            start = len(definitions[head].description()) + 2
        else:
            start = 0
        if inline is not None:
            line = line[:start] + inline.sub(
                lambda m: "\u201c{}\u201d".format(short_label(definitions[m.group(1)])),
                line[start:])
        lines.append(line)
    return "\n".join(lines)


def pointer_line(alg):
    """The one line that replaces the shared paragraphs in each algorithm's help."""
    names = [ADVANCED_LABELS[n].split(" (", 1)[0] for n in ADVANCED
             if alg.parameterDefinition(n) is not None]
    return tr("Tilewise results are identical, bit for bit, whatever the number of workers and "
              "the tile size. Advanced parameters ({}), memory and speed: see \"{}\" in the "
              "Help.").format(", ".join(names), PERFORMANCE_TITLE)


def help_string(alg):
    """The dialog's help (shortHelpString): what the algorithm does, its parameters by label,
    then one line pointing to the shared section."""
    return labelled(alg, alg.helpText()) + "\n" + pointer_line(alg)


def help_url(alg):
    """The local page of ``alg`` (file URL), written on demand; never raises: on failure the
    shipped page when there is one, else "" (and a warning in the log, Tilewise tab)."""
    name = alg.name() + ".html"
    try:
        from .help_pages import ensure_pages
        path = os.path.join(ensure_pages(alg), name)
    except Exception as error:  # noqa: BLE001 - helpUrl is called from C++
        QgsMessageLog.logMessage(f"Help pages could not be written: {error}", "Tilewise",
                                 Qgis.Warning)
        path = os.path.join(SHIPPED_DIR, name)
    return QUrl.fromLocalFile(path).toString() if os.path.isfile(path) else ""
