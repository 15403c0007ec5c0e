"""Compiling a pipeline document into an engine ``Pipeline``, collecting every error.

Each message starts with what it concerns (``inputs``, ``step '<name>'``, ``outputs``). Steps
come from each Tilewise algorithm's own ``engineStep`` and are checked on the inputs' profiles
(file headers, no pixels); the engine's ``plan`` then tells whether the chain can be fused.
"""

import json
import os

from qgis.core import (QgsApplication,
                       QgsProcessing,
                       QgsProcessingParameterBand,
                       QgsProcessingParameterBoolean,
                       QgsProcessingParameterEnum,
                       QgsProcessingParameterMultipleLayers,
                       QgsProcessingParameterNumber,
                       QgsProcessingParameterRasterLayer)

from ..engine import InputError, Pipeline, check_step, plan, read_profile
from .base import TilewiseAlgorithm
from .checks import is_optional
from .pipeline_document import NAME_RE, PIPELINE_LEVEL, STEP_KEYS, TOP_KEYS, tr

#: what stands for an earlier step's output in QGIS-level checks (never a loadable layer)
STEP_SENTINEL = "tilewise-pipeline-step:{}"


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


class _Chain:
    """The steps seen so far: their names, what they produce and read, the engine Pipeline."""

    def __init__(self, step_names, input_names):
        self.names = step_names   # per step; None when not a string
        self.position = {n: i for i, n in reversed(list(enumerate(step_names))) if n}  # first
        self.produced = []        # names of the steps checked so far
        self.references = {}      # step name -> names of the steps it reads
        self.used = set()         # names read by some step or written
        self.pipeline = Pipeline(input_names or ["input"])
        self.built_ok = True


def compile_pipeline(document, layer_paths, context, base_dir=None, fuse=None, registry=None):
    """Check a pipeline document and build it; returns a CompiledPipeline whose ``errors``
    list every problem found (each message starts with the step it concerns).

    ``layer_paths`` are the INPUTS files in order. ``fuse`` (None, True, False) as in
    ``Engine.run``; True on a pipeline that cannot be fused is an error.
    """
    out = CompiledPipeline()
    if not isinstance(document, dict):
        out.errors.append(tr("pipeline: expected a mapping with 'inputs', 'steps' and "
                             "'outputs', got {}").format(type(document).__name__))
        return out
    for key in document:
        if key not in TOP_KEYS:
            out.errors.append(tr("pipeline: unknown key '{}' (known: {})").format(
                key, ", ".join(TOP_KEYS)))
    _compile_inputs(out, document.get("inputs"), layer_paths, base_dir)
    chain = _compile_steps(out, document.get("steps"), context,
                           registry or QgsApplication.processingRegistry())
    out.errors.extend(_cycle_errors(chain.references))
    _compile_outputs(out, document.get("outputs"), chain)
    if not out.errors and chain.built_ok and out.keep:
        _fusion_plan(out, chain.pipeline, fuse)
    out.pipeline = chain.pipeline
    return out


# --- inputs -----------------------------------------------------------------------------------


def _compile_inputs(out, raw_inputs, layer_paths, base_dir):
    """The inputs' names, their files (INPUTS layers, else the document's paths), profiles."""
    for name, path in _input_entries(raw_inputs, out.errors):
        if not isinstance(name, str) or not NAME_RE.match(name):
            out.errors.append(tr("inputs: '{}' is not a valid name (letters, digits, _ . -, not "
                                 "starting with a digit)").format(name))
            continue
        if name in out.input_paths:
            out.errors.append(tr("inputs: '{}' is listed twice").format(name))
            continue
        if path is not None and not isinstance(path, str):
            out.errors.append(tr("input '{}': the path must be text, got {}").format(
                name, json.dumps(path)))
            path = None
        out.input_names.append(name)
        out.input_paths[name] = path
    _bind_inputs(out, layer_paths, base_dir)
    _read_input_profiles(out)


def _input_entries(raw_inputs, errors):
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


def _bind_inputs(out, layer_paths, base_dir):
    """Each input's file: the INPUTS layers in order, else its path (relative to ``base_dir``)."""
    names = out.input_names
    if layer_paths:
        if len(layer_paths) != len(names) and names:
            out.errors.append(tr("INPUTS: {} layer(s) given, the pipeline has {} input(s) ({}), "
                                 "bound in order").format(len(layer_paths), len(names),
                                                          ", ".join(names)))
        for name, path in zip(names, layer_paths):
            out.input_paths[name] = path
        return
    for name in names:
        path = out.input_paths[name]
        if path is None:
            out.errors.append(tr("input '{}': no layer in INPUTS and no path in the pipeline"
                                 ).format(name))
        elif base_dir and not os.path.isabs(path):
            out.input_paths[name] = os.path.normpath(os.path.join(base_dir, path))


def _read_input_profiles(out):
    """The profile of each input file (its header), or why it cannot be read."""
    for name in out.input_names:
        path = out.input_paths.get(name)
        if not path:
            continue
        if not os.path.exists(path):
            out.errors.append(tr("input '{}': no such file: {}").format(name, path))
            continue
        try:
            out.profiles[name] = read_profile(path)
        except Exception as error:  # noqa: BLE001 - rasterio/GDAL say why
            message = error.message if isinstance(error, InputError) else str(error)
            out.errors.append(tr("input '{}': '{}' is not a raster GDAL can read ({})").format(
                name, path, message))


# --- steps ------------------------------------------------------------------------------------


def _compile_steps(out, steps, context, registry):
    """A _Chain of the document's ``steps``, each checked and, if valid, added in file order."""
    if not isinstance(steps, list) or not steps:
        out.errors.append(tr("steps: expected a non-empty list of steps, got {}").format(
            json.dumps(steps)))
        steps = []
    names = [step.get("name") if isinstance(step, dict) else None for step in steps]
    chain = _Chain([n if isinstance(n, str) else None for n in names], out.input_names)
    for i, step in enumerate(steps):
        where = _label(step, i)
        if not isinstance(step, dict):
            out.errors.append(tr("{}: expected a mapping with 'name', 'algorithm' and "
                                 "'parameters', got {}").format(where, json.dumps(step)))
            chain.built_ok = False
            continue
        name, refs, problems = _compile_step(out, chain, step, i, context, registry)
        if problems:
            chain.built_ok = False
        out.errors.extend("{}: {}".format(where, problem) for problem in problems)
        if name is not None and chain.position.get(name) == i:
            chain.produced.append(name)
            chain.references.setdefault(name, []).extend(
                r for _, r in refs if r in chain.position)
    return chain


def _label(step, index):
    """How messages name a step: by its name, else by its number."""
    name = step.get("name") if isinstance(step, dict) else None
    return tr("step '{}'").format(name) if isinstance(name, str) and name else \
        tr("step #{}").format(index + 1)


def _compile_step(out, chain, step, index, context, registry):
    """(name or None, raster references, problems) of one step; without problems, the step is
    added to ``chain.pipeline``."""
    name, parameters, problems = _step_header(step, index, out.input_names, chain.position)
    alg, more = _step_algorithm(step.get("algorithm"), registry)
    problems.extend(more)
    refs, qgis_parameters, rasters = [], {}, {}
    if alg is not None:
        rasters = _raster_parameters(alg)
        qgis_parameters, refs, more = _step_parameters(alg, rasters, parameters, name, context)
        problems.extend(more)
    problems.extend(_reference_problems(chain, refs, name, index, out.input_names))
    if alg is not None and not problems:
        engine_step, problems = _checked_engine_step(alg, qgis_parameters, refs, rasters, out,
                                                     context)
        if engine_step is not None:
            problems = _add_step(out, chain, alg, name, engine_step, refs)
    return name, refs, problems


def _step_header(step, index, input_names, position):
    """(name or None, parameters, problems) from a step's keys, name and parameters."""
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


def _step_algorithm(algorithm_id, registry):
    """(algorithm or None, problems) for a step's ``algorithm`` id."""
    if not isinstance(algorithm_id, str) or not algorithm_id:
        return None, [tr("'algorithm' must be a Tilewise algorithm id, got {}").format(
            json.dumps(algorithm_id))]
    full_id = algorithm_id if ":" in algorithm_id else "tilewise:" + algorithm_id
    alg = registry.createAlgorithmById(full_id)
    if alg is None:
        return None, [tr("unknown algorithm '{}' (Tilewise algorithms: {})").format(
            algorithm_id, ", ".join(_chainable_ids(registry)))]
    if not _chainable(alg):
        return None, [tr("'{}' cannot be a pipeline step (only Tilewise algorithms that run "
                         "one engine filter can: {})").format(
            algorithm_id, ", ".join(_chainable_ids(registry)))]
    return alg, []


def _chainable(alg):
    """True for a Tilewise algorithm that is one engine call (its ``engineStep``)."""
    return (isinstance(alg, TilewiseAlgorithm)
            and type(alg).engineStep is not TilewiseAlgorithm.engineStep
            and type(alg).runEngine is TilewiseAlgorithm.runEngine)


def _chainable_ids(registry):
    provider = registry.providerById("tilewise")
    if provider is None:
        return []
    return sorted(a.id() for a in provider.algorithms() if _chainable(a))


# --- parameters of a step ---------------------------------------------------------------------


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


def _step_parameters(alg, rasters, parameters, name, context):
    """(QGIS parameters, raster references as (parameter, name), problems): the values given,
    converted, then the defaults of the others."""
    qgis_parameters, refs, problems = {}, [], []
    for key, value in parameters.items():
        problem = _misplaced_parameter(alg, key, name)
        if problem is None and key in rasters:
            if value is None or value == "" or value == []:
                continue
            values = value if rasters[key] and isinstance(value, list) else [value]
            if all(isinstance(v, str) and v for v in values):
                qgis_parameters[key] = values if rasters[key] else value
                refs.extend((key, v) for v in values)
            else:
                problem = tr("parameter '{}' must name {}, got {}").format(
                    key, tr("pipeline inputs or earlier steps (a list)") if rasters[key]
                    else tr("a pipeline input or an earlier step"), json.dumps(value))
        elif problem is None:
            definition = alg.parameterDefinition(key)
            converted, problem = _convert_value(definition, value)
            if problem is None and value is not None and not \
                    definition.checkValueIsAcceptable(converted, context):
                problem = tr("{} is not an acceptable value").format(json.dumps(value))
            if problem:
                problem = tr("parameter '{}': bad value: {}").format(key, problem)
            else:
                qgis_parameters[key] = converted
        if problem:
            problems.append(problem)
    defaults, missing = _default_parameters(alg, rasters, parameters)
    qgis_parameters.update(defaults)
    return qgis_parameters, refs, problems + missing


def _misplaced_parameter(alg, key, name):
    """Why a step may not set parameter ``key`` (None if it may)."""
    definition = alg.parameterDefinition(key) if isinstance(key, str) else None
    if key in PIPELINE_LEVEL:
        return tr("parameter '{}' is set once for the whole pipeline (the pipeline "
                  "algorithm's own {}), not per step").format(key, key)
    if definition is None:
        settable = [d.name() for d in alg.parameterDefinitions()
                    if d.name() not in PIPELINE_LEVEL and not d.isDestination()]
        return tr("unknown parameter '{}' for {} (its parameters: {})").format(
            key, alg.id(), ", ".join(settable))
    if definition.isDestination():
        return tr("parameter '{}' is an output: list the step in 'outputs' to write it as "
                  "{}.tif").format(key, name or "<name>")
    return None


def _default_parameters(alg, rasters, parameters):
    """(defaults of the parameters not given, problems for required ones without one)."""
    defaults, problems = {}, []
    for definition in alg.parameterDefinitions():
        key = definition.name()
        if key in parameters or key in PIPELINE_LEVEL or definition.isDestination():
            continue
        if key in rasters:
            if not is_optional(definition):
                problems.append(tr("parameter '{}' is required: name a pipeline input or an "
                                   "earlier step").format(key))
        elif definition.defaultValue() is not None:
            defaults[key] = definition.defaultValue()
        elif not is_optional(definition):
            problems.append(tr("parameter '{}' is required (it has no default)").format(key))
    return defaults, problems


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


# --- references -------------------------------------------------------------------------------


def _reference_problems(chain, refs, name, index, input_names):
    """Raster references to anything but an input or an earlier step; records what is read."""
    problems = []
    for key, ref in refs:
        step = ref.split(":")[0]
        if ref in input_names or ref in chain.produced:
            chain.used.add(ref)
        elif ref == name:
            problems.append(tr("parameter '{}' reads the step's own output (a cycle)"
                               ).format(key))
        elif ref in chain.position and chain.position[ref] > index:
            chain.references.setdefault(name, []).append(ref)
            problems.append(tr("parameter '{}': forward reference to step '{}', which comes "
                               "later (steps run in file order)").format(key, ref))
            chain.used.add(ref)
        elif step in chain.position and chain.position[step] < index:
            chain.used.add(step)
            problems.append(tr("parameter '{}': step '{}' produces no output '{}'").format(
                key, step, ref))
        else:
            known_names = input_names + chain.produced
            problems.append(tr("parameter '{}': unknown reference '{}' (known here: {})"
                               ).format(key, ref, ", ".join(known_names) or tr("none")))
    return problems


def _cycle_errors(references):
    """A message per cycle among the steps' references {step: names it reads}."""
    graph = {k: [r for r in v if r in references] for k, v in references.items()}
    return [tr("step '{}': circular reference: {}").format(cycle[0], " -> ".join(cycle))
            for cycle in _find_cycles(graph)]


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


# --- the engine step --------------------------------------------------------------------------


def _checked_engine_step(alg, qgis_parameters, refs, rasters, out, context):
    """(engine step or None, problems): the algorithm's own checks, then its ``engineStep``.
    For the checks, a reference stands as its input file, or STEP_SENTINEL for a step."""
    problems = []
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
    if problems:
        return None, problems
    try:
        return alg.engineStep(qgis_parameters, context), []
    except NotImplementedError:
        return None, [tr("{} cannot be a pipeline step").format(alg.id())]
    except Exception as error:  # noqa: BLE001
        return None, [tr("bad parameters: {}").format(error)]


def _add_step(out, chain, alg, name, engine_step, refs):
    """Add the step to ``chain.pipeline``, its inputs bound to ``refs``; problems found by the
    engine's checks when the inputs' profiles are known."""
    filter_, raster_names, engine_params = engine_step
    bound = {}
    for key, ref in refs:
        bound.setdefault(key, []).append(ref)
    missing = [n for n in raster_names if n not in bound]
    if missing:
        return [tr("{} reads raster parameter '{}', which is not set").format(
            alg.id(), missing[0])]
    inputs = [ref for n in raster_names for ref in bound[n]]
    raster_names = [n for n in raster_names for _ in bound[n]]
    chain.pipeline.add(name, filter_, inputs, **engine_params)
    in_profiles = [out.profiles.get(n) for n in inputs]
    if any(p is None for p in in_profiles):
        return []
    return _engine_check(alg, filter_, raster_names, inputs, in_profiles, engine_params, name,
                         out.profiles)


def _engine_check(alg, filter_, raster_names, inputs, in_profiles, params, name, profiles):
    """The filter's own checks on the real profiles; records the step's output profiles."""
    try:
        _, out_profiles = check_step(filter_, in_profiles, params,
                                     labels=[f"{p}={r}" for p, r in zip(raster_names, inputs)])
    except InputError as error:
        if error.param == "inputs":
            return [tr("{}: {}").format(alg.id(), error.message)]
        return [tr("parameter '{}': bad value: {}").format(
            alg.engineParameterName(error.param), error.message)]
    if len(out_profiles) == 1:
        profiles[name] = out_profiles[0]
    else:
        for i, profile in enumerate(out_profiles):
            profiles[f"{name}:{i}"] = profile
    return []


# --- outputs and fusion -----------------------------------------------------------------------


def _compile_outputs(out, raw_outputs, chain):
    """The steps to write (default: the last one); a step neither written nor read is an error."""
    names = _output_names(raw_outputs, chain.names, out.errors)
    for name in names:
        if not isinstance(name, str):
            out.errors.append(tr("outputs: expected step names, got {}").format(json.dumps(name)))
        elif name in out.keep:
            out.errors.append(tr("outputs: '{}' is listed twice").format(name))
        elif name in out.input_names:
            out.errors.append(tr("outputs: '{}' is a pipeline input, not produced by any step; "
                                 "outputs name steps").format(name))
        elif name not in chain.position:
            out.errors.append(tr("outputs: '{}' is not produced by any step (steps: {})").format(
                name, ", ".join(n for n in chain.names if n) or tr("none")))
        else:
            out.keep.append(name)
            chain.used.add(name)
    for i, name in enumerate(chain.names):
        if name and chain.position.get(name) == i and name not in chain.used and names:
            out.errors.append(tr("step '{}': its output is never used (neither in 'outputs' nor "
                                 "read by a later step)").format(name))


def _output_names(raw_outputs, step_names, errors):
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


def _fusion_plan(out, pipeline, fuse):
    """The engine's plan of a valid pipeline; FUSE 'always' on one that cannot be fused is an
    error."""
    try:
        out.plan = plan(pipeline, [out.profiles[n] for n in out.input_names], out.keep)
    except InputError as error:
        out.errors.append(tr("pipeline: {}").format(error.message))
        return
    if fuse and not out.plan.fusable:
        unfusable = [s.name for s in out.plan.steps if not s.filter.fusable]
        out.errors.append(tr("step '{}': FUSE is 'always' but this step cannot be fused (it "
                             "depends on more than its margin)").format(unfusable[0]))
