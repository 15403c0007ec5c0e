"""The engine's keyword vocabulary, written once and filled into the public docstrings, as
scipy.ndimage's ``docfiller`` does: one word means one thing everywhere."""

import re

DOCS = {
    "inputs": """inputs : SharedRaster or sequence of SharedRaster
    Rasters of this Engine (from ``open`` or ``create``), on one grid, in the
    operation's input order.""",
    "params": """**params
    The operation's keyword parameters, checked before any tile runs.""",
    "sources": """sources : str, os.PathLike or sequence of them
    Raster files or GDAL sources (``/vsi...``, ``GPKG:file:table``), in input order.""",
    "targets": """targets : str, os.PathLike or sequence of them
    One output file per output of the filter; written through a temporary file renamed
    into place, so a failure or a cancel leaves any older file untouched.""",
    "options": """options : str or sequence of str, optional
    GDAL creation options: a list of ``KEY=VALUE`` or one text, QGIS-style
    ``"COMPRESS=DEFLATE|PREDICTOR=2"`` (or space-separated); checked on the driver
    before any work.""",
    "driver": """driver : {"GTiff", "COG"}, optional
    GDAL driver of the outputs (default GTiff).""",
    "pipeline": """pipeline : Pipeline
    The chain of steps (see ``Pipeline.add``).""",
    "fuse": """fuse : bool or None, optional
    None fuses the steps into one tile pass where valid and worth it, True whenever valid,
    False runs them one by one.""",
    "raises_input": """InputError
    Naming the parameter: wrong inputs (count, grid, released, another Engine's) or a
    bad parameter value; raised before any tile runs.""",
    "raises_run": """WorkerError, WorkerCrashed, Cancelled
    A tile raised, a worker process died, or ``cancel()`` turned true. No tile is left
    running and the outputs made so far are released (or their files removed).""",
}

_PLACE = re.compile(r"^([ \t]*)%\((\w+)\)s[ \t]*$", re.M)


def docfiller(obj):
    """Fill the ``%(name)s`` lines of the docstring of ``obj`` (and, for a class, of its
    methods) from DOCS, at their indentation."""
    for target in [obj] + ([v for v in vars(obj).values() if callable(v)]
                           if isinstance(obj, type) else []):
        target = getattr(target, "__wrapped__", target)
        if target.__doc__:
            target.__doc__ = _PLACE.sub(_entry, target.__doc__)
    if isinstance(obj, type):
        for value in vars(obj).values():  # @exclusive keeps the filled text on its wrapper
            wrapped = getattr(value, "__wrapped__", None)
            if wrapped is not None:
                value.__doc__ = wrapped.__doc__
    return obj


def _entry(match):
    indent, name = match.groups()
    return "\n".join(indent + line if line else line for line in DOCS[name].split("\n"))
