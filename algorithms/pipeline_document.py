"""The pipeline document: its format (keys, names, help text), reading it from JSON or YAML,
and the checks of its shape (keys, names, the types of ``inputs``, ``steps`` and ``outputs``).

Parsing only turns text into Python values; what they mean (algorithms, parameters, references,
the engine's checks) is checked by :mod:`.pipeline_compile` and the modules it drives.
"""

import json
import os
import re

from qgis.PyQt.QtCore import QCoreApplication

try:  # YAML is optional: python3-yaml is part of QGIS's dependencies on Debian, not everywhere
    import yaml
except ImportError:  # pragma: no cover
    yaml = None

#: step and input names: they become file names (``<name>.tif``)
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
TOP_KEYS = ("description", "inputs", "steps", "outputs")
STEP_KEYS = ("name", "algorithm", "parameters", "description")
#: parameters a step may not set: the pipeline's own advanced parameters and destinations
PIPELINE_LEVEL = ("WORKERS", "TILE_SIZE", "OPTIONS", "COG")

FORMAT_HELP = """\
Pipeline file format (JSON, or YAML with the same structure):
{
  "description": "optional text",
  "inputs": ["dsm"],
  "steps": [
    {"name": "mask", "algorithm": "tilewise:nodatamask", "parameters": {"INPUT": "dsm"}},
    {"name": "filled", "algorithm": "tilewise:fillnodata",
     "parameters": {"INPUT": "dsm", "MASK": "mask", "MAX_DISTANCE": 100}},
    {"name": "smooth", "algorithm": "tilewise:meanfilter",
     "parameters": {"INPUT": "filled", "SIZE": 3}}
  ],
  "outputs": ["mask", "smooth"]
}
inputs: the names of the raster inputs, bound in order to the INPUTS layers. An entry may \
also be {"name": "dsm", "path": "dsm.tif"} (or "inputs" a mapping name -> path): the path is \
used when INPUTS is empty; relative paths are relative to the pipeline file's folder.
steps: run in file order. name: a unique name (letters, digits, _ . -; it names the output \
file). algorithm: a Tilewise algorithm id (tilewise:meanfilter, or just meanfilter). \
parameters: the algorithm's QGIS parameters by id, as qgis_process takes them; missing ones \
take their default. A raster parameter names a pipeline input or an earlier step (whose \
OUTPUT it then reads). Enum parameters take the option's index or its text. WORKERS, \
TILE_SIZE, OPTIONS and OUTPUT are set once, on the pipeline algorithm.
outputs: the steps whose results are written, each as <name>.tif in OUTPUT_FOLDER \
(default: the last step). Other steps' results stay in memory; a step whose result is \
neither written nor read by a later step is an error.
The whole file is checked before any work, and every error is reported at once with its step: \
unknown algorithm or parameter, bad value, unknown, forward or circular reference, unused step, \
output not produced by any step, bands out of range, inputs on different grids."""


def tr(string):
    """``string`` translated in the context of the pipeline algorithm."""
    return QCoreApplication.translate("PipelineAlgorithm", string)


class PipelineErrors(Exception):
    """Every problem found in a pipeline file (a list of messages)."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def parse_pipeline_text(text, kind=None):
    """The pipeline document in ``text`` (JSON; YAML if ``kind`` is "yaml" or the text is not
    JSON and PyYAML is available). Raises PipelineErrors with the parser's message."""
    if kind != "yaml":
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            if kind == "json" or yaml is None or text.lstrip().startswith(("{", "[")):
                raise PipelineErrors([tr("pipeline: not valid JSON: {} (line {}, column {})"
                                         ).format(error.msg, error.lineno, error.colno)]) from None
        except RecursionError:
            raise PipelineErrors([tr("pipeline: the document is nested too deeply (a "
                                     "pipeline needs a few levels only)")]) from None
    if yaml is None:
        raise PipelineErrors([tr("pipeline: YAML files need PyYAML (python3-yaml)")])
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PipelineErrors([tr("pipeline: not valid YAML: {}").format(
            str(error).replace("\n", " "))]) from None
    except RecursionError:
        raise PipelineErrors([tr("pipeline: the document is nested too deeply (a pipeline "
                                 "needs a few levels only)")]) from None


def read_pipeline_file(path):
    """(document, folder) of a pipeline file; the format follows the extension."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise PipelineErrors([tr("pipeline: cannot read {}: {}").format(path, error)])
    extension = os.path.splitext(path)[1].lower()
    kind = "yaml" if extension in (".yaml", ".yml") else "json" if extension == ".json" else None
    return parse_pipeline_text(text, kind), os.path.dirname(os.path.abspath(path))


# --- the document's shape ---------------------------------------------------------------------


def document_errors(document):
    """Problems of the document's top level: not a mapping, or keys it does not know."""
    if not isinstance(document, dict):
        return [tr("pipeline: expected a mapping with 'inputs', 'steps' and 'outputs', got {}"
                   ).format(type(document).__name__)]
    return [tr("pipeline: unknown key '{}' (known: {})").format(key, ", ".join(TOP_KEYS))
            for key in document if key not in TOP_KEYS]


def input_entries(raw_inputs, errors):
    """(name, path or None) of each entry of the document's ``inputs``."""
    entries = []
    if isinstance(raw_inputs, dict):
        entries = list(raw_inputs.items())
    elif isinstance(raw_inputs, list):
        for i, item in enumerate(raw_inputs):
            if isinstance(item, str):
                entries.append((item, None))
            elif isinstance(item, dict) and set(item) <= {"name", "path"} and "name" in item:
                entries.append((item["name"], item.get("path")))
            else:
                errors.append(tr("inputs: entry {} must be a name or {{\"name\": ..., "
                                 "\"path\": ...}}, got {}").format(i + 1, json.dumps(item)))
    elif raw_inputs is not None:
        errors.append(tr("inputs: expected a list of names, got {}").format(json.dumps(raw_inputs)))
    if raw_inputs is None or raw_inputs == [] or raw_inputs == {}:
        errors.append(tr("inputs: the pipeline names no input raster"))
    return entries


def step_label(step, index):
    """How messages name a step: by its name, else by its number."""
    name = step.get("name") if isinstance(step, dict) else None
    return tr("step '{}'").format(name) if isinstance(name, str) and name else \
        tr("step #{}").format(index + 1)


def step_header(step, index, input_names, position):
    """(name or None, parameters, problems) from a step's keys, name and parameters;
    ``position`` maps each step name to the index of its first step."""
    problems = [tr("unknown key '{}' (known: {})").format(key, ", ".join(STEP_KEYS))
                for key in step if key not in STEP_KEYS]
    name = step.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        problems.append(tr("'name' must be a name (letters, digits, _ . -, not starting "
                           "with a digit), got {}").format(json.dumps(name)))
        name = None
    elif name in input_names:
        problems.append(tr("the name '{}' is already a pipeline input").format(name))
    elif position.get(name) != index:
        problems.append(tr("the name '{}' is already used by step #{}").format(
            name, position[name] + 1))
    parameters = step.get("parameters")
    if parameters is None:
        parameters = {}
    if not isinstance(parameters, dict):
        problems.append(tr("'parameters' must be a mapping, got {}").format(
            json.dumps(parameters)))
        parameters = {}
    return name, parameters, problems


def output_names(raw_outputs, step_names, errors):
    """The document's ``outputs`` as a list (a name alone, or None for the last step)."""
    names = raw_outputs
    if names is None:
        names = [step_names[-1]] if step_names and step_names[-1] else []
    elif isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not names:
        errors.append(tr("outputs: expected a non-empty list of step names, got {}").format(
            json.dumps(raw_outputs)))
        return []
    return names
