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

import getpass
import hashlib
import html
import os
import re
import tempfile

from qgis.core import (Qgis,
                       QgsApplication,
                       QgsMessageLog,
                       QgsProcessingModelAlgorithm,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterNumber)
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


# --- HTML pages ---------------------------------------------------------------------------------

STYLE = """body { font-family: sans-serif; max-width: 60em; margin: 1em auto; padding: 0 1em; }
table { border-collapse: collapse; } td, th { border: 1px solid #bbb; padding: .3em .5em;
vertical-align: top; text-align: left; } code { background: #f3f3f3; }"""


def _page(title, body):
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{html.escape(title)} - Tilewise</title>\n<style>\n{STYLE}\n</style>\n"
            f"</head>\n<body>\n{body}\n</body>\n</html>\n")


def format_default(definition):
    """A parameter's default as the user types it: integers without decimals."""
    value = definition.defaultValue()
    if value is None or value == "":
        return ""
    if isinstance(definition, QgsProcessingParameterNumber):
        if definition.dataType() == QgsProcessingParameterNumber.Integer:
            return str(int(value))
        return format(float(value), "g")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def parameter_type(definition):
    if isinstance(definition, QgsProcessingParameterNumber):
        return ("integer" if definition.dataType() == QgsProcessingParameterNumber.Integer
                else "number")
    return definition.type()


def help_lines(alg):
    """The paragraphs of ``alg``'s help (labels, no shared section) for the pages and the
    reference; paths inside the plugin folder relative to it (the page does not depend on
    where the plugin is installed)."""
    text = alg.helpText() if hasattr(alg, "helpText") else alg.shortHelpString()
    text = text.replace(PLUGIN_DIR + os.sep, "")
    return [line for line in labelled(alg, text).split("\n") if line]


def parameter_rows(alg):
    """``(label, name, type, default, optional, advanced)`` of each parameter the dialog
    shows."""
    rows = []
    for definition in alg.parameterDefinitions():
        flags = definition.flags()
        if flags & QgsProcessingParameterDefinition.FlagHidden:
            continue
        rows.append((definition.description(), definition.name(), parameter_type(definition),
                     format_default(definition),
                     bool(flags & QgsProcessingParameterDefinition.FlagOptional),
                     bool(flags & QgsProcessingParameterDefinition.FlagAdvanced)))
    return rows


def render_algorithm(alg):
    """The HTML page of ``alg``: its help, a table of its parameters and outputs."""
    paragraphs = "\n".join(f"<p>{html.escape(line, quote=False)}</p>" for line in help_lines(alg))
    rows = []
    for label, name, kind, default, optional, advanced in parameter_rows(alg):
        notes = ["optional"] if optional else []
        if advanced:
            notes.append(f"advanced, see <a href=\"{PERFORMANCE_PAGE}\">{PERFORMANCE_TITLE}</a>")
        rows.append("<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td>"
                    "</tr>".format(html.escape(label), html.escape(name), html.escape(kind),
                                   html.escape(default), ", ".join(notes)))
    outputs = "".join("<tr><td>{}</td><td><code>{}</code></td><td>{}</td></tr>".format(
        html.escape(o.description()), html.escape(o.name()), html.escape(o.type()))
        for o in alg.outputDefinitions())
    body = (f"<p><a href=\"index.html\">Tilewise algorithms</a></p>\n"
            f"<h1>{html.escape(alg.displayName())}</h1>\n"
            f"<p>Id: <code>{html.escape(alg.id())}</code> (group {html.escape(alg.group())})</p>\n"
            f"{paragraphs}\n"
            f"<h2>Parameters</h2>\n<table>\n<tr><th>Label</th><th>Name (qgis_process, Python)"
            f"</th><th>Type</th><th>Default</th><th></th></tr>\n" + "\n".join(rows) +
            "\n</table>\n"
            f"<h2>Outputs</h2>\n<table>\n<tr><th>Label</th><th>Name</th><th>Type</th></tr>\n"
            f"{outputs}\n</table>\n"
            f"<p>Performance, tiling and the advanced parameters: "
            f"<a href=\"{PERFORMANCE_PAGE}\">{PERFORMANCE_TITLE}</a>.</p>\n"
            f"<p>Command line: <code>qgis_process.bin help {html.escape(alg.id())}</code></p>")
    return _page(alg.displayName(), body)


def performance_paragraphs():
    """``(head, parameter id or None, text)`` of each paragraph of the shared section."""
    for name, text in PERFORMANCE:
        if name is None:
            head, _, rest = text.partition(": ")
            yield head, None, rest
        else:
            yield ADVANCED_LABELS[name], name, text


def render_performance():
    items = []
    for head, name, text in performance_paragraphs():
        code = f" (<code>{name}</code>)" if name else ""
        items.append(f"<p><b>{html.escape(head, quote=False)}</b>{code}: "
                     f"{html.escape(text, quote=False)}</p>")
    body = (f"<p><a href=\"index.html\">Tilewise algorithms</a></p>\n"
            f"<h1>{PERFORMANCE_TITLE}</h1>\n"
            "<p>This section is shared by every Tilewise algorithm. The advanced parameters are "
            "under <i>Advanced Parameters</i> in each dialog.</p>\n" + "\n".join(items))
    return _page(PERFORMANCE_TITLE, body)


def grouped(algorithms):
    """``[(group, algorithms)]``, groups and algorithms by name."""
    groups = {}
    for alg in algorithms:
        groups.setdefault(alg.group(), []).append(alg)
    return [(group, sorted(groups[group], key=lambda a: a.displayName()))
            for group in sorted(groups)]


def model_description(model):
    return model.helpContent().get("ALG_DESC", "")


def render_index(algorithms, models=()):
    parts = ["<h1>Tilewise algorithms</h1>",
             f"<p>Shared by all: <a href=\"{PERFORMANCE_PAGE}\">{PERFORMANCE_TITLE}</a>.</p>"]
    for group, members in grouped(algorithms):
        parts.append(f"<h2>{html.escape(group)}</h2>\n<ul>")
        for alg in members:
            parts.append(f"<li><a href=\"{alg.name()}.html\">{html.escape(alg.displayName())}"
                         f"</a> (<code>{html.escape(alg.id())}</code>)</li>")
        parts.append("</ul>")
    if models:
        parts.append("<h2>Models</h2>\n<ul>")
        for model in sorted(models, key=lambda m: m.displayName()):
            parts.append(f"<li>{html.escape(model.displayName())} "
                         f"(<code>{html.escape(model.id())}</code>): "
                         f"{html.escape(model_description(model))}</li>")
        parts.append("</ul>")
    return _page("Tilewise algorithms", "\n".join(parts))


def pages(algorithms, models=()):
    """``{file name: HTML}``: every algorithm's page, the shared section and the index."""
    result = {f"{alg.name()}.html": render_algorithm(alg) for alg in algorithms}
    result[PERFORMANCE_PAGE] = render_performance()
    result["index.html"] = render_index(algorithms, models)
    return result


def provider_algorithms(provider):
    """``(algorithms, models)`` of a provider: its Python algorithms and its models."""
    found = provider.algorithms() if provider is not None else []
    return ([a for a in found if not isinstance(a, QgsProcessingModelAlgorithm)],
            [a for a in found if isinstance(a, QgsProcessingModelAlgorithm)])


# --- the Markdown reference (docs/algorithms.md) ------------------------------------------------

MARKDOWN_SPECIAL = re.compile(r"([\\`*<>|])")


def md(text):
    """``text`` for Markdown: its characters that Markdown (or a table cell) would take as
    markup escaped."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(algorithms, models=()):
    """docs/algorithms.md: a section per algorithm (id, help, parameters, outputs), by group,
    the shared section and the models, from the text the pages are made of."""
    parts = ["# Tilewise algorithms", "",
             "<!-- Generated by scripts/build_help.py from the algorithms' help "
             "(algorithms/): do not edit, run the script. -->", "",
             f"The {len(algorithms)} algorithms of the Tilewise Processing provider, with the "
             "help their dialog shows (the dialog's *Help* button opens the same text as a "
             f"page). What they all share is one section, [{PERFORMANCE_TITLE}]"
             "(#performance-and-tiling).", ""]
    for group, members in grouped(algorithms):
        parts.append(f"- {md(group)}: " + ", ".join(f"{md(a.displayName())} (`{a.id()}`)"
                                                     for a in members))
    parts += ["", f"## {PERFORMANCE_TITLE}", "",
              "Shared by every Tilewise algorithm; the advanced parameters are under "
              "*Advanced Parameters* in each dialog.", ""]
    for head, name, text in performance_paragraphs():
        code = f" (`{name}`)" if name else ""
        parts += [f"**{md(head)}**{code}: {md(text)}", ""]
    for group, members in grouped(algorithms):
        parts += [f"## {md(group)}", ""]
        for alg in members:
            parts += [f"### {md(alg.displayName())}", "", f"Id: `{alg.id()}`", ""]
            for line in help_lines(alg):
                parts += [md(line), ""]
            rows = [(md(label), f"`{name}`", kind, md(default),
                     ", ".join((["optional"] if optional else []) +
                               ([f"advanced, see [{PERFORMANCE_TITLE}](#performance-and-tiling)"]
                                if advanced else [])))
                    for label, name, kind, default, optional, advanced in parameter_rows(alg)]
            parts += ["Parameters:", "",
                      _md_table(("Label", "Name (qgis_process, Python)", "Type", "Default", ""),
                                rows), "",
                      "Outputs:", "",
                      _md_table(("Label", "Name", "Type"),
                                [(md(o.description()), f"`{o.name()}`", o.type())
                                 for o in alg.outputDefinitions()]), ""]
    if models:
        parts += ["## Models", ""]
        for model in sorted(models, key=lambda m: m.displayName()):
            parts.append(f"- {md(model.displayName())} (`{model.id()}`): "
                         f"{md(model_description(model))}")
        parts.append("")
    return "\n".join(parts)


# --- pages on demand (the Help button) ----------------------------------------------------------

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


def help_url(alg):
    """The local page of ``alg`` (file URL), written on demand; never raises: on failure the
    shipped page when there is one, else "" (and a warning in the log, Tilewise tab)."""
    name = alg.name() + ".html"
    try:
        path = os.path.join(ensure_pages(alg), name)
    except Exception as error:  # noqa: BLE001 - helpUrl is called from C++
        QgsMessageLog.logMessage(f"Help pages could not be written: {error}", "Tilewise",
                                 Qgis.Warning)
        path = os.path.join(SHIPPED_DIR, name)
    return QUrl.fromLocalFile(path).toString() if os.path.isfile(path) else ""
