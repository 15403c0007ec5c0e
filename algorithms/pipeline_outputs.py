"""The outputs of a pipeline (the steps to write; a step neither written nor read is an error)
and the engine's plan of the valid pipeline (whether and how its steps fuse into one pass).
"""

import json

from ..engine import InputError, plan
from .pipeline_document import output_names, tr


def compile_outputs(out, raw_outputs, chain):
    """The steps to write (default: the last one); a step neither written nor read is an error."""
    names = output_names(raw_outputs, chain.names, out.errors)
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


def fusion_plan(out, pipeline, fuse):
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
