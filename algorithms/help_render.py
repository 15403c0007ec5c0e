"""The help rendered: an HTML page per algorithm, the shared performance page and the
index (behind the dialog's Help button), and the Markdown reference docs/algorithms.md."""

import html
import os
import re

from qgis.core import (QgsProcessingModelAlgorithm,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterNumber)

from .help import (ADVANCED_LABELS, PLUGIN_DIR, PERFORMANCE, PERFORMANCE_PAGE,
                   PERFORMANCE_TITLE, labelled)


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


