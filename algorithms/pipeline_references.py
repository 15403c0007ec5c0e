"""The references between pipeline steps: a raster parameter names a pipeline input or an
earlier step; forward, unknown and circular references are errors.

``chain`` is the driver's record of the steps seen so far (see :mod:`.pipeline_compile`):
``position`` (step name -> index of its first step), ``produced`` (the steps checked so far),
``references`` (step name -> the step names it reads) and ``used`` (names read or written).
"""

from .pipeline_document import tr


def reference_problems(chain, refs, name, index, input_names):
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


def cycle_errors(references):
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
