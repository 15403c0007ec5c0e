"""tilewise:pipeline: a chain of Tilewise algorithms, described in a small file, run in memory.

The file names the pipeline's raster inputs, its steps (each a Tilewise algorithm with its QGIS
parameters, raster parameters naming inputs or earlier steps) and the outputs to write. The
whole file is checked in ``checkParameterValues`` and every problem is reported at once, each
with its step. The chain is then built as an engine ``Pipeline`` from each algorithm's own
``engineStep`` and run by ``Engine.run`` (fused into one pass over the tiles when valid and worth
it, or as asked by FUSE). Only the requested outputs are written, as ``<name>.tif`` in
OUTPUT_FOLDER. The format is documented in ``docs/pipelines.md`` and in ``FORMAT_HELP``.
"""

import json
import os
import re

from qgis.core import (QgsApplication,
                       QgsProcessing,
                       QgsProcessingAlgorithm,
                       QgsProcessingException,
                       QgsProcessingOutputMultipleLayers,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterBoolean,
                       QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterFile,
                       QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer,
                       QgsProcessingParameterString)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from ..engine import Cancelled, Engine, InputError, Pipeline, TilewiseError, check_options
from ..engine.cache import default_cache
from ..engine.pipeline import plan
from ..engine.rasterio_io import read_profile
from .base import ICON_PATH
from .feedback import FeedbackBridge

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
FUSE_CHOICES = ("auto", "always", "never")
OUTPUT_EXTENSION = ".tif"
#: what stands for an earlier step's output in QGIS-level checks (never a loadable layer)
STEP_SENTINEL = "tilewise-pipeline-step:{}"

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
    return QCoreApplication.translate("PipelineAlgorithm", string)


class PipelineErrors(Exception):
    """Every problem found in a pipeline file (a list of messages)."""

    def __init__(self, errors):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


# --- reading the file -----------------------------------------------------------------------------


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
    if yaml is None:
        raise PipelineErrors([tr("pipeline: YAML files need PyYAML (python3-yaml)")])
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PipelineErrors([tr("pipeline: not valid YAML: {}").format(
            str(error).replace("\n", " "))]) from None


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


# --- checking and building --------------------------------------------------------------------


class CompiledPipeline:
    """A checked pipeline: the engine Pipeline, where its inputs come from, what to keep."""

    def __init__(self):
        self.pipeline = None
        self.input_names = []     # in order
        self.input_paths = {}     # name -> file
        self.profiles = {}        # name -> engine Profile, for inputs and checked steps
        self.keep = []            # output names to write
        self.plan = None
        self.errors = []


def _label(step, index):
    name = step.get("name") if isinstance(step, dict) else None
    return tr("step '{}'").format(name) if isinstance(name, str) and name else \
        tr("step #{}").format(index + 1)


def _raster_parameters(alg):
    """{name: True for a multiple-layer parameter, False for a single raster}."""
    found = {}
    for d in alg.parameterDefinitions():
        if isinstance(d, QgsProcessingParameterRasterLayer):
            found[d.name()] = False
        elif isinstance(d, QgsProcessingParameterMultipleLayers) and \
                d.layerType() == QgsProcessing.TypeRaster:
            found[d.name()] = True
    return found


def _is_optional(definition):
    return bool(definition.flags() & QgsProcessingParameterDefinition.FlagOptional)


def _convert_value(definition, value):
    """(value, problem): JSON values made into what the QGIS parameter takes."""
    if isinstance(definition, QgsProcessingParameterEnum) and isinstance(value, str):
        uses_strings = getattr(definition, "usesStaticStrings", lambda: False)()
        if not uses_strings:
            options = [o.lower() for o in definition.options()]
            if value.strip().lower() in options:
                return options.index(value.strip().lower()), None
            if value.strip().isdigit():
                return int(value), None
            return value, tr("'{}' is not one of {}").format(
                value, ", ".join(definition.options()))
    if isinstance(definition, (QgsProcessingParameterNumber, QgsProcessingParameterBand)):
        if isinstance(value, bool) or not (value is None or isinstance(value, (int, float))):
            return value, tr("expected a number, got {}").format(json.dumps(value))
        if isinstance(definition, QgsProcessingParameterNumber) and value is not None:
            if (definition.dataType() == QgsProcessingParameterNumber.Integer
                    and float(value) != int(value)):
                return value, tr("expected an integer, got {}").format(value)
            if value < definition.minimum() or value > definition.maximum():
                high = definition.maximum()
                limits = tr(">= {:g}").format(definition.minimum()) if high > 1e300 else \
                    tr("between {:g} and {:g}").format(definition.minimum(), high)
                return value, tr("must be {}, got {:g}").format(limits, value)
    if isinstance(definition, QgsProcessingParameterBoolean) and not isinstance(value, bool):
        return value, tr("expected true or false, got {}").format(json.dumps(value))
    return value, None


def _find_cycles(graph):
    """Cycles (lists of step names, first repeated at the end) in ``graph`` {step: refs}."""
    cycles, state, stack = [], {}, []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt]
                if not any(set(cycle) == set(c) for c in cycles):
                    cycles.append(cycle)
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2
    for node in graph:
        if node not in state:
            visit(node)
    return cycles


def compile_pipeline(document, layer_paths, context, base_dir=None, fuse=None, registry=None):
    """Check a pipeline document and build it; returns a CompiledPipeline whose ``errors``
    list every problem found (each message starts with the step it concerns).

    ``layer_paths`` are the INPUTS files in order. ``fuse`` (None, True, False) as in
    ``Engine.run``; True on a pipeline that cannot be fused is an error.
    """
    out = CompiledPipeline()
    errors = out.errors
    registry = registry or QgsApplication.processingRegistry()
    if not isinstance(document, dict):
        errors.append(tr("pipeline: expected a mapping with 'inputs', 'steps' and 'outputs', "
                         "got {}").format(type(document).__name__))
        return out
    for key in document:
        if key not in TOP_KEYS:
            errors.append(tr("pipeline: unknown key '{}' (known: {})").format(
                key, ", ".join(TOP_KEYS)))

    # inputs ---------------------------------------------------------------------------------
    raw_inputs = document.get("inputs")
    entries = []  # (name, path or None)
    if isinstance(raw_inputs, dict):
        entries = [(name, path) for name, path in raw_inputs.items()]
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
    seen = set()
    for name, path in entries:
        if not isinstance(name, str) or not NAME_RE.match(name):
            errors.append(tr("inputs: '{}' is not a valid name (letters, digits, _ . -, not "
                             "starting with a digit)").format(name))
            continue
        if name in seen:
            errors.append(tr("inputs: '{}' is listed twice").format(name))
            continue
        if path is not None and not isinstance(path, str):
            errors.append(tr("input '{}': the path must be text, got {}").format(
                name, json.dumps(path)))
            path = None
        seen.add(name)
        out.input_names.append(name)
        out.input_paths[name] = path
    names_in_file = list(out.input_names)
    if layer_paths:
        if len(layer_paths) != len(names_in_file) and names_in_file:
            errors.append(tr("INPUTS: {} layer(s) given, the pipeline has {} input(s) ({}), "
                             "bound in order").format(len(layer_paths), len(names_in_file),
                                                      ", ".join(names_in_file)))
        for name, path in zip(names_in_file, layer_paths):
            out.input_paths[name] = path
    else:
        for name in names_in_file:
            path = out.input_paths[name]
            if path is None:
                errors.append(tr("input '{}': no layer in INPUTS and no path in the pipeline"
                                 ).format(name))
            elif base_dir and not os.path.isabs(path):
                out.input_paths[name] = os.path.normpath(os.path.join(base_dir, path))
    for name in names_in_file:
        path = out.input_paths.get(name)
        if not path:
            continue
        if not os.path.exists(path):
            errors.append(tr("input '{}': no such file: {}").format(name, path))
            continue
        try:
            out.profiles[name] = read_profile(path)
        except Exception as error:  # noqa: BLE001 - rasterio/GDAL say why
            message = error.message if isinstance(error, InputError) else str(error)
            errors.append(tr("input '{}': '{}' is not a raster GDAL can read ({})").format(
                name, path, message))

    # steps ----------------------------------------------------------------------------------
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        errors.append(tr("steps: expected a non-empty list of steps, got {}").format(
            json.dumps(steps)))
        steps = []
    step_names = []
    for i, step in enumerate(steps):
        name = step.get("name") if isinstance(step, dict) else None
        step_names.append(name if isinstance(name, str) else None)
    position = {n: i for i, n in reversed(list(enumerate(step_names))) if n}
    produced = {}           # output name -> step name, for steps checked so far
    references = {}         # step name -> names of the steps it reads
    used = set()            # names read by some step
    pipeline = Pipeline(out.input_names or ["input"])
    built_ok = True
    for i, step in enumerate(steps):
        where = _label(step, i)
        problems = []
        if not isinstance(step, dict):
            errors.append(tr("{}: expected a mapping with 'name', 'algorithm' and 'parameters', "
                             "got {}").format(where, json.dumps(step)))
            built_ok = False
            continue
        for key in step:
            if key not in STEP_KEYS:
                problems.append(tr("unknown key '{}' (known: {})").format(
                    key, ", ".join(STEP_KEYS)))
        name = step.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(tr("'name' must be a name (letters, digits, _ . -, not starting "
                               "with a digit), got {}").format(json.dumps(name)))
            name = None
        elif name in out.input_names:
            problems.append(tr("the name '{}' is already a pipeline input").format(name))
        elif position.get(name) != i:
            problems.append(tr("the name '{}' is already used by step #{}").format(
                name, position[name] + 1))
        parameters = step.get("parameters", {})
        if parameters is None:
            parameters = {}
        if not isinstance(parameters, dict):
            problems.append(tr("'parameters' must be a mapping, got {}").format(
                json.dumps(parameters)))
            parameters = {}

        alg = None
        algorithm_id = step.get("algorithm")
        if not isinstance(algorithm_id, str) or not algorithm_id:
            problems.append(tr("'algorithm' must be a Tilewise algorithm id, got {}").format(
                json.dumps(algorithm_id)))
        else:
            full_id = algorithm_id if ":" in algorithm_id else "tilewise:" + algorithm_id
            alg = registry.createAlgorithmById(full_id)
            if alg is None:
                problems.append(tr("unknown algorithm '{}' (Tilewise algorithms: {})").format(
                    algorithm_id, ", ".join(_chainable_ids(registry))))
            elif not _chainable(alg):
                problems.append(tr("'{}' cannot be a pipeline step (only Tilewise algorithms "
                                   "that run one engine filter can: {})").format(
                    algorithm_id, ", ".join(_chainable_ids(registry))))
                alg = None

        refs = []
        qgis_parameters = {}
        if alg is not None:
            rasters = _raster_parameters(alg)
            known = [d.name() for d in alg.parameterDefinitions()]
            for key, value in parameters.items():
                definition = alg.parameterDefinition(key) if isinstance(key, str) else None
                if key in PIPELINE_LEVEL:
                    problems.append(tr("parameter '{}' is set once for the whole pipeline (the "
                                       "pipeline algorithm's own {}), not per step").format(
                        key, key))
                elif definition is None:
                    settable = [k for k in known if k not in PIPELINE_LEVEL and not
                                alg.parameterDefinition(k).isDestination()]
                    problems.append(tr("unknown parameter '{}' for {} (its parameters: {})"
                                       ).format(key, alg.id(), ", ".join(settable)))
                elif definition.isDestination():
                    problems.append(tr("parameter '{}' is an output: list the step in "
                                       "'outputs' to write it as {}.tif").format(
                        key, name or "<name>"))
                elif key in rasters:
                    if value is None or value == "" or value == []:
                        continue
                    values = value if rasters[key] and isinstance(value, list) else [value]
                    if not all(isinstance(v, str) and v for v in values):
                        problems.append(tr("parameter '{}' must name {}, got {}").format(
                            key, tr("pipeline inputs or earlier steps (a list)") if rasters[key]
                            else tr("a pipeline input or an earlier step"), json.dumps(value)))
                        continue
                    qgis_parameters[key] = values if rasters[key] else value
                    refs.extend((key, v) for v in values)
                else:
                    converted, problem = _convert_value(definition, value)
                    if problem is None and value is not None and not \
                            definition.checkValueIsAcceptable(converted, context):
                        problem = tr("{} is not an acceptable value").format(json.dumps(value))
                    if problem:
                        problems.append(tr("parameter '{}': bad value: {}").format(key, problem))
                    else:
                        qgis_parameters[key] = converted
            for definition in alg.parameterDefinitions():
                key = definition.name()
                if key in parameters or key in PIPELINE_LEVEL or definition.isDestination():
                    continue
                if key in rasters:
                    if not _is_optional(definition):
                        problems.append(tr("parameter '{}' is required: name a pipeline input "
                                           "or an earlier step").format(key))
                elif definition.defaultValue() is not None:
                    qgis_parameters[key] = definition.defaultValue()
                elif not _is_optional(definition):
                    problems.append(tr("parameter '{}' is required (it has no default)"
                                       ).format(key))

        # references: to inputs or earlier steps only
        for key, ref in refs:
            if ref in out.input_names or ref in produced:
                used.add(ref)
            elif ref == name:
                problems.append(tr("parameter '{}' reads the step's own output (a cycle)"
                                   ).format(key))
            elif ref in position and position[ref] > i:
                references.setdefault(name, []).append(ref)
                problems.append(tr("parameter '{}': forward reference to step '{}', which comes "
                                   "later (steps run in file order)").format(key, ref))
                used.add(ref)
            elif ref.split(":")[0] in position and position[ref.split(":")[0]] < i:
                used.add(ref.split(":")[0])
                problems.append(tr("parameter '{}': step '{}' produces no output '{}'").format(
                    key, ref.split(":")[0], ref))
            else:
                known_names = out.input_names + list(produced)
                problems.append(tr("parameter '{}': unknown reference '{}' (known here: {})"
                                   ).format(key, ref, ", ".join(known_names) or tr("none")))

        # the algorithm's own checks, then its engine step and the engine's checks
        engine_step = None
        if alg is not None and not problems:
            check_parameters = dict(qgis_parameters)
            for key in {k for k, _ in refs}:
                stand_ins = [out.input_paths.get(r) if r in out.input_names
                             else STEP_SENTINEL.format(r) for k, r in refs if k == key]
                check_parameters[key] = stand_ins if rasters[key] else stand_ins[0]
            try:
                for key, problem in alg.parameterErrors(check_parameters, context):
                    problems.append(tr("parameter '{}': bad value: {}").format(key, problem))
            except Exception as error:  # noqa: BLE001 - a check that needs real layers
                problems.append(tr("cannot be checked: {}").format(error))
            if not problems:
                try:
                    engine_step = alg.engineStep(qgis_parameters, context)
                except NotImplementedError:
                    problems.append(tr("{} cannot be a pipeline step").format(alg.id()))
                except Exception as error:  # noqa: BLE001
                    problems.append(tr("bad parameters: {}").format(error))
        if engine_step is not None:
            filter_, raster_names, engine_params = engine_step
            bound = {}
            for key, ref in refs:
                bound.setdefault(key, []).append(ref)
            missing = [n for n in raster_names if n not in bound]
            if missing:
                problems.append(tr("{} reads raster parameter '{}', which is not set").format(
                    alg.id(), missing[0]))
            else:
                inputs = [ref for n in raster_names for ref in bound[n]]
                raster_names = [n for n in raster_names for _ in bound[n]]
                pipeline.add(name, filter_, inputs, **engine_params)
                in_profiles = [out.profiles.get(n) for n in inputs]
                if all(p is not None for p in in_profiles):
                    problems.extend(_engine_check(alg, filter_, raster_names, inputs, in_profiles,
                                                  engine_params, name, out.profiles))
        if problems:
            built_ok = False
        for problem in problems:
            errors.append("{}: {}".format(where, problem))
        if name is not None and position.get(name) == i:
            produced[name] = name
            references.setdefault(name, [])
            references[name].extend(r for _, r in refs if r in position)

    # cycles among forward references
    graph = {k: [r for r in v if r in references] for k, v in references.items()}
    for cycle in _find_cycles(graph):
        errors.append(tr("step '{}': circular reference: {}").format(cycle[0], " -> ".join(cycle)))

    # outputs ----------------------------------------------------------------------------------
    raw_outputs = document.get("outputs")
    if raw_outputs is None:
        raw_outputs = [step_names[-1]] if step_names and step_names[-1] else []
    elif isinstance(raw_outputs, str):
        raw_outputs = [raw_outputs]
    if not isinstance(raw_outputs, list) or not raw_outputs:
        errors.append(tr("outputs: expected a non-empty list of step names, got {}").format(
            json.dumps(document.get("outputs"))))
        raw_outputs = []
    for name in raw_outputs:
        if not isinstance(name, str):
            errors.append(tr("outputs: expected step names, got {}").format(json.dumps(name)))
        elif name in out.keep:
            errors.append(tr("outputs: '{}' is listed twice").format(name))
        elif name in out.input_names:
            errors.append(tr("outputs: '{}' is a pipeline input, not produced by any step; "
                             "outputs name steps").format(name))
        elif name not in position:
            errors.append(tr("outputs: '{}' is not produced by any step (steps: {})").format(
                name, ", ".join(n for n in step_names if n) or tr("none")))
        else:
            out.keep.append(name)
            used.add(name)
    for i, name in enumerate(step_names):
        if name and position.get(name) == i and name not in used and raw_outputs:
            errors.append(tr("step '{}': its output is never used (neither in 'outputs' nor "
                             "read by a later step)").format(name))

    # the engine's own plan, once everything above is fine --------------------------------------
    if not errors and built_ok and out.keep:
        try:
            out.plan = plan(pipeline, [out.profiles[n] for n in out.input_names], out.keep)
        except InputError as error:
            errors.append(tr("pipeline: {}").format(error.message))
        else:
            if fuse and not out.plan.fusable:
                unfusable = [s.name for s in out.plan.steps if not s.filter.fusable]
                errors.append(tr("step '{}': FUSE is 'always' but this step cannot be fused "
                                 "(it depends on more than its margin)").format(unfusable[0]))
    out.pipeline = pipeline
    return out


def _engine_check(alg, filter_, raster_names, inputs, in_profiles, params, name, profiles):
    """The filter's own checks on the real profiles; records the step's output profiles."""
    problems = []
    low, high = filter_.inputs
    if not low <= len(inputs) <= high:
        return [tr("{} takes {} to {} rasters, got {}").format(alg.id(), low, high, len(inputs))]
    for parameter, ref, profile in zip(raster_names[1:], inputs[1:], in_profiles[1:]):
        if not in_profiles[0].same_grid(profile):
            problems.append(tr("parameter '{}': '{}' is not on the grid of '{}' ({} x {} vs "
                               "{} x {} pixels, or another CRS or transform)").format(
                parameter, ref, inputs[0], profile.width, profile.height,
                in_profiles[0].width, in_profiles[0].height))
    if problems:
        return problems
    try:
        checked = filter_.check(in_profiles, dict(params))
        out_profiles = list(filter_.outputs(in_profiles, checked))
    except InputError as error:
        if hasattr(alg, "engineParameterName"):
            parameter = alg.engineParameterName(error.param) or error.param
        else:
            parameter = getattr(alg, "ENGINE_PARAMETERS", {}).get(error.param, error.param)
        return [tr("parameter '{}': bad value: {}").format(parameter, error.message)]
    if len(out_profiles) == 1:
        profiles[name] = out_profiles[0]
    else:
        for i, profile in enumerate(out_profiles):
            profiles[f"{name}:{i}"] = profile
    return problems


def _chainable(alg):
    from .base import TilewiseAlgorithm
    if not isinstance(alg, TilewiseAlgorithm) or isinstance(alg, PipelineAlgorithm):
        return False
    if type(alg).engineStep is TilewiseAlgorithm.engineStep:
        return False
    # an algorithm that does more than one engine call overrides runEngine
    run_engine = getattr(type(alg), "runEngine", None)
    return run_engine is None or run_engine is getattr(TilewiseAlgorithm, "runEngine", None)


def _chainable_ids(registry):
    provider = registry.providerById("tilewise")
    if provider is None:
        return []
    return sorted(a.id() for a in provider.algorithms() if _chainable(a))


def _cog_available():
    from osgeo import gdal

    return gdal.GetDriverByName("COG") is not None


def output_file(folder, name):
    return os.path.join(folder, name.replace(":", "_") + OUTPUT_EXTENSION)


# --- the algorithm ----------------------------------------------------------------------------


class PipelineAlgorithm(QgsProcessingAlgorithm):
    PIPELINE = "PIPELINE"
    PIPELINE_TEXT = "PIPELINE_TEXT"
    INPUTS = "INPUTS"
    FUSE = "FUSE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    OUTPUTS = "OUTPUTS"
    WORKERS = "WORKERS"
    TILE_SIZE = "TILE_SIZE"
    OPTIONS = "OPTIONS"
    COG = "COG"

    def __init__(self):
        super().__init__()
        self._compiled = None
        self._folder = None
        self._fuse = None

    def createInstance(self):
        return type(self)()

    def tr(self, string):
        return tr(string)

    def name(self):
        return "pipeline"

    def displayName(self):
        return self.tr("Run a pipeline")

    def group(self):
        return self.tr("Pipelines")

    def groupId(self):
        return "pipelines"

    def tags(self):
        return self.tr("pipeline,chain,model,workflow,fused,in memory,batch").split(",")

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):
        return ICON_PATH

    def shortDescription(self):
        return self.tr("Runs a chain of Tilewise algorithms in memory, described in a pipeline "
                       "file.")

    def shortHelpString(self):
        return self.tr(
            "Runs a chain of Tilewise algorithms described in a pipeline file, in memory: each "
            "input is read once, intermediate results never touch the disk, and, when valid "
            "and worth it, the whole chain runs as one pass over the tiles (fused). Results "
            "are identical, bit for bit, to running the algorithms one by one.\n"
            "PIPELINE: the pipeline file (.json, or .yaml/.yml).\n"
            "PIPELINE_TEXT: the pipeline itself as text, instead of a file.\n"
            "INPUTS: raster layers bound, in order, to the pipeline's input names.\n"
            "FUSE: auto (fuse when valid and worth it), always (fuse; an error if a step "
            "cannot be fused), never (run the steps one by one, intermediates in shared "
            "memory).\n"
            "OUTPUT_FOLDER: the folder the pipeline's outputs are written to, as <name>.tif.\n"
            "WORKERS: worker processes, 0 = all CPU cores, 1 = run in the QGIS process.\n"
            "TILE_SIZE: tile side in pixels, 0 = automatic.\n"
            "OPTIONS: GDAL creation options for every output, KEY=VALUE|KEY=VALUE (GeoTIFF "
            "driver, or COG driver when COG is checked).\n"
            "COG: write Cloud Optimized GeoTIFFs (GDAL's COG driver) instead of plain GeoTIFFs "
            "(default: no).\n"
            "OUTPUTS (result): the files written.\n") + "\n" + self.tr(FORMAT_HELP) + "\n" + \
            self.tr("Examples: resources/pipelines/ in the plugin folder. Documentation: "
                    "docs/pipelines.md.")

    def initAlgorithm(self, config=None):
        pipeline = QgsProcessingParameterFile(
            self.PIPELINE, self.tr("Pipeline file"), optional=True,
            fileFilter=self.tr("Pipeline files (*.json *.yaml *.yml);;All files (*)"))
        self.addParameter(pipeline)
        self.addParameter(QgsProcessingParameterString(
            self.PIPELINE_TEXT, self.tr("Pipeline text (instead of a file)"), multiLine=True,
            optional=True))
        self.addParameter(QgsProcessingParameterMultipleLayers(
            self.INPUTS, self.tr("Input rasters (bound in order to the pipeline's inputs)"),
            layerType=QgsProcessing.TypeRaster, optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.FUSE, self.tr("Fuse the steps into one pass"), options=list(FUSE_CHOICES),
            defaultValue=0))
        advanced = [
            QgsProcessingParameterNumber(
                self.WORKERS, self.tr("Worker processes (0 = all CPU cores)"),
                type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
            QgsProcessingParameterNumber(
                self.TILE_SIZE, self.tr("Tile size in pixels (0 = automatic)"),
                type=QgsProcessingParameterNumber.Integer, defaultValue=0, minValue=0),
            QgsProcessingParameterString(
                self.OPTIONS, self.tr("Additional creation options"), defaultValue="",
                optional=True),
            QgsProcessingParameterBoolean(
                self.COG, self.tr("Write Cloud Optimized GeoTIFFs (COG)"), defaultValue=False)]
        advanced[2].setMetadata({"widget_wrapper": {
            "class": "processing.algs.gdal.ui.RasterOptionsWidget.RasterOptionsWidgetWrapper"}})
        for parameter in advanced:
            parameter.setFlags(parameter.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(parameter)
        self.addParameter(QgsProcessingParameterFolderDestination(
            self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputMultipleLayers(self.OUTPUTS, self.tr("Output files")))

    # --- checks ---------------------------------------------------------------------------------

    def _document(self, parameters, context):
        """(document, base folder) from PIPELINE or PIPELINE_TEXT; raises PipelineErrors."""
        path = self.parameterAsFile(parameters, self.PIPELINE, context)
        text = self.parameterAsString(parameters, self.PIPELINE_TEXT, context)
        if path and text and text.strip():
            raise PipelineErrors([self.tr("PIPELINE and PIPELINE_TEXT are both set; give one")])
        if path:
            return read_pipeline_file(path)
        if text and text.strip():
            return parse_pipeline_text(text), None
        raise PipelineErrors([self.tr("no pipeline: set PIPELINE (a file) or PIPELINE_TEXT")])

    def _layerPaths(self, parameters, context, errors):
        paths = []
        for i, layer in enumerate(self.parameterAsLayerList(parameters, self.INPUTS, context)):
            if layer.providerType() != "gdal":
                errors.append(self.tr("INPUTS: layer {} ('{}') uses the '{}' data provider; "
                                      "Tilewise needs file-based GDAL rasters").format(
                    i + 1, layer.name(), layer.providerType()))
            paths.append(layer.source().split("|")[0])
        given = parameters.get(self.INPUTS)
        if isinstance(given, str):
            given = [given] if given else []
        if isinstance(given, (list, tuple)) and len(given) != len(paths):
            errors.append(self.tr("INPUTS: {} of the {} layers given could not be loaded as "
                                  "rasters").format(len(given) - len(paths), len(given)))
        return paths

    def compile(self, parameters, context):
        """A CompiledPipeline for these parameters (with every error found in ``errors``)."""
        errors = []
        fuse = (None, True, False)[self.parameterAsEnum(parameters, self.FUSE, context)]
        layer_paths = self._layerPaths(parameters, context, errors)
        try:
            document, base_dir = self._document(parameters, context)
        except PipelineErrors as error:
            compiled = CompiledPipeline()
            compiled.errors = errors + error.errors
            return compiled, fuse
        compiled = compile_pipeline(document, layer_paths, context, base_dir, fuse)
        compiled.errors[:0] = errors
        folder = self.parameterAsFileOutput(parameters, self.OUTPUT_FOLDER, context)
        compiled.errors.extend(self._folderErrors(folder, compiled))
        driver = self._driver(parameters, context)
        if driver == "COG" and not _cog_available():
            compiled.errors.append(self.tr("COG: this GDAL has no COG driver (GDAL 3.1 or later "
                                           "needed)"))
        else:
            try:
                check_options(self.parameterAsString(parameters, self.OPTIONS, context), driver)
            except InputError as error:
                compiled.errors.append(self.tr("OPTIONS: {}").format(error.message))
        return compiled, fuse

    def _driver(self, parameters, context):
        return "COG" if self.parameterAsBoolean(parameters, self.COG, context) else "GTiff"

    def _folderErrors(self, folder, compiled):
        if not folder:
            return
        if os.path.exists(folder) and not os.path.isdir(folder):
            yield self.tr("OUTPUT_FOLDER: '{}' is a file, not a folder").format(folder)
            return
        existing = folder
        while existing and not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if existing and not os.access(existing, os.W_OK | os.X_OK):
            yield self.tr("OUTPUT_FOLDER: the folder {} is not writable").format(existing)
        for name in compiled.keep:
            target = output_file(folder, name)
            for input_name, path in compiled.input_paths.items():
                if path and os.path.exists(path) and os.path.realpath(path) == \
                        os.path.realpath(target):
                    yield self.tr("outputs: '{}' would be written to {}, which is the input "
                                  "'{}'; choose another OUTPUT_FOLDER").format(
                        name, target, input_name)

    def checkParameterValues(self, parameters, context):
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        compiled, _ = self.compile(parameters, context)
        if compiled.errors:
            return False, self.errorReport(compiled.errors)
        return True, ""

    def errorReport(self, errors):
        head = self.tr("The pipeline has {} error(s):").format(len(errors)) if len(errors) > 1 \
            else self.tr("The pipeline has an error:")
        return head + "\n" + "\n".join("- " + e for e in errors)

    # --- run ------------------------------------------------------------------------------------

    def prepareAlgorithm(self, parameters, context, feedback):
        compiled, fuse = self.compile(parameters, context)
        if compiled.errors:
            raise QgsProcessingException(self.errorReport(compiled.errors))
        self._compiled, self._fuse = compiled, fuse
        self._folder = self.parameterAsFileOutput(parameters, self.OUTPUT_FOLDER, context)
        os.makedirs(self._folder, exist_ok=True)
        return True

    def processAlgorithm(self, parameters, context, feedback):
        compiled = self._compiled
        bridge = FeedbackBridge(feedback)
        workers = self.parameterAsInt(parameters, self.WORKERS, context)
        tile_size = self.parameterAsInt(parameters, self.TILE_SIZE, context)
        options = self.parameterAsString(parameters, self.OPTIONS, context)
        driver = self._driver(parameters, context)
        fused = compiled.plan.worth_fusing if self._fuse is None else self._fuse
        feedback.pushInfo(self.tr("Pipeline: {} step(s) ({}), {}; writing {}").format(
            len(compiled.plan.steps), ", ".join(s.name for s in compiled.plan.steps),
            self.tr("fused into one pass") if fused else self.tr("step by step"),
            ", ".join(compiled.keep)))
        written = []
        try:
            with Engine(workers=workers, tile_size=tile_size, progress=bridge.progress,
                        cancel=bridge.cancel, log=bridge.log, cache=default_cache()) as eng:
                feedback.setProgressText(self.tr("Reading input rasters"))
                inputs = {n: eng.open(compiled.input_paths[n]) for n in compiled.input_names}
                feedback.setProgressText(self.tr("Processing tiles"))
                results = eng.run(compiled.pipeline, inputs, keep=compiled.keep, fuse=fused)
                eng.release(*inputs.values())
                for name in compiled.keep:
                    target = output_file(self._folder, name)
                    feedback.setProgressText(self.tr("Writing {}").format(target))
                    written.append(eng.write(results[name], target, options=options,
                                             driver=driver))
                    eng.release(results[name])
        except Cancelled:
            feedback.pushInfo(self.tr("Canceled: outputs not written by then were not "
                                      "written."))
            return {}
        except InputError as error:
            raise QgsProcessingException(self.tr("Invalid input ({}): {}").format(
                error.param, error.message))
        except TilewiseError as error:
            raise QgsProcessingException(str(error))
        return {self.OUTPUT_FOLDER: self._folder, self.OUTPUTS: [str(p) for p in written]}
