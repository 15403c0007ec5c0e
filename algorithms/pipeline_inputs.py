"""The inputs of a pipeline: their names, their files (the INPUTS layers in order, else the
document's paths) and their profiles (the files' headers, no pixels).
"""

import json
import os

from ..engine import InputError, read_profile
from .pipeline_document import NAME_RE, input_entries, tr


def compile_inputs(out, raw_inputs, layer_paths, base_dir):
    """The inputs' names, their files (INPUTS layers, else the document's paths), profiles."""
    for name, path in input_entries(raw_inputs, out.errors):
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
