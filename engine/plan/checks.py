"""The checks of one step: an operation on its inputs' profiles with its parameters.

One set, called by every run that checks a step before any tile: ``Engine.apply`` and
``Engine.reduce``, streamed runs, ``plan`` for each step of a pipeline, and the QGIS
pipeline algorithm (which collects every step's error instead of stopping at the first).
"""

from ..core.filter import Filter, check_input_count
from ..core.profile import check_same_grid


def check_step(op, profiles, params, labels=None):
    """Check that ``op`` can run on inputs of these ``profiles`` with ``params``.

    Parameters
    ----------
    op : Filter or Reducer
        The operation of the step.
    profiles : sequence of Profile
        Its inputs' profiles, in its input order.
    params : dict
        Its keyword parameters, as given.
    labels : sequence of str, optional
        The inputs' names in messages (default ``input 0``, ``input 1``, ...).

    Returns
    -------
    params : dict
        The parameters as checked (defaults filled in, values converted).
    outputs : tuple of Profile
        A Filter's output profiles; empty for a Reducer.

    Raises
    ------
    InputError
        Naming ``inputs`` for a wrong number of inputs or an input off the first one's
        grid, else the bad parameter.
    """
    check_input_count(op, len(profiles))
    check_same_grid(profiles, labels)
    params = op.check(list(profiles), dict(params))
    outputs = tuple(op.outputs(list(profiles), params)) if isinstance(op, Filter) else ()
    return params, outputs
