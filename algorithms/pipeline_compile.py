"""Compiling a pipeline document into an engine ``Pipeline``, collecting every error.

Each message starts with what it concerns (``inputs``, ``step '<name>'``, ``outputs``). This
module is the driver: it walks the document in order and hands each part to the module of its
idea, all of which report into the same CompiledPipeline:

- :mod:`.pipeline_document`: the document's shape (keys, names, the types of its parts);
- :mod:`.pipeline_inputs`: the inputs' files and profiles (file headers, no pixels);
- :mod:`.pipeline_parameters`: a step's JSON values made into its algorithm's QGIS parameters;
- :mod:`.pipeline_references`: what each step reads (forward, unknown, circular references);
- :mod:`.pipeline_binding`: each Tilewise algorithm's own checks and ``engineStep``, checked by
  the engine on the inputs' profiles;
- :mod:`.pipeline_outputs`: the steps to write, then the engine's ``plan`` (can it be fused).
"""

import json

from qgis.core import QgsApplication

from ..engine import Pipeline
from .pipeline_binding import add_step, checked_engine_step, step_algorithm
from .pipeline_document import document_errors, step_header, step_label, tr
from .pipeline_inputs import compile_inputs
from .pipeline_outputs import compile_outputs, fusion_plan
from .pipeline_parameters import raster_parameters, step_parameters
from .pipeline_references import cycle_errors, reference_problems


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
    out.errors.extend(document_errors(document))
    if not isinstance(document, dict):
        return out
    compile_inputs(out, document.get("inputs"), layer_paths, base_dir)
    chain = _compile_steps(out, document.get("steps"), context,
                           registry or QgsApplication.processingRegistry())
    out.errors.extend(cycle_errors(chain.references))
    compile_outputs(out, document.get("outputs"), chain)
    if not out.errors and chain.built_ok and out.keep:
        fusion_plan(out, chain.pipeline, fuse)
    out.pipeline = chain.pipeline
    return out


def _compile_steps(out, steps, context, registry):
    """A _Chain of the document's ``steps``, each checked and, if valid, added in file order."""
    if not isinstance(steps, list) or not steps:
        out.errors.append(tr("steps: expected a non-empty list of steps, got {}").format(
            json.dumps(steps)))
        steps = []
    names = [step.get("name") if isinstance(step, dict) else None for step in steps]
    chain = _Chain([n if isinstance(n, str) else None for n in names], out.input_names)
    for i, step in enumerate(steps):
        where = step_label(step, i)
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


def _compile_step(out, chain, step, index, context, registry):
    """(name or None, raster references, problems) of one step; without problems, the step is
    added to ``chain.pipeline``."""
    name, parameters, problems = step_header(step, index, out.input_names, chain.position)
    alg, more = step_algorithm(step.get("algorithm"), registry)
    problems.extend(more)
    refs, qgis_parameters, rasters = [], {}, {}
    if alg is not None:
        rasters = raster_parameters(alg)
        qgis_parameters, refs, more = step_parameters(alg, rasters, parameters, name, context)
        problems.extend(more)
    problems.extend(reference_problems(chain, refs, name, index, out.input_names))
    if alg is not None and not problems:
        engine_step, problems = checked_engine_step(alg, qgis_parameters, refs, rasters, out,
                                                    context)
        if engine_step is not None:
            problems = add_step(out, chain, alg, name, engine_step, refs)
    return name, refs, problems
