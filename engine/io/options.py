"""GDAL creation options: parsing, validation before any work, and fitting them to a dtype."""

import uuid
import xml.etree.ElementTree as ET

import numpy as np

from ..core.errors import InputError

_BOOLEANS = {"YES", "NO", "TRUE", "FALSE", "ON", "OFF", "1", "0"}


def parse_options(options):
    """Creation options as a list of ``KEY=VALUE`` strings.

    Accepts None, a list of strings, or a QGIS-style string ``"A=1|B=2"`` (also
    space- or newline-separated). Raises InputError("options") for malformed items.
    """
    if options is None:
        return []
    if isinstance(options, str):
        items = options.replace("\n", "|").replace(" ", "|").split("|")
    else:
        items = list(options)
    parsed = []
    for item in items:
        item = str(item).strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InputError("options", f"creation option {item!r} is not of the form KEY=VALUE")
        parsed.append(f"{key.strip().upper()}={value.strip()}")
    return parsed


def option_dict(options):
    """Creation options (as ``parse_options`` takes them) as ``{KEY: value}``, unchecked."""
    return dict(opt.split("=", 1) for opt in parse_options(options))


def check_options(options, driver="GTiff"):
    """Validate creation options for ``driver``; returns them as a dict.

    Names, enumerated values, integer/float/boolean types and limits come from GDAL's option
    list; a 1x1 trial file in memory then catches what only the driver knows (for example a
    block size that is not a multiple of 16). Raises InputError("options") naming the option.
    """
    parsed = option_dict(options)
    allowed = _driver_options(driver)
    if allowed is None:
        return parsed
    for key, value in parsed.items():
        if key not in allowed:
            raise InputError("options", f"{key} is not a {driver} creation option "
                             f"(valid: {', '.join(sorted(allowed))})")
        problem = _value_problem(value, **allowed[key])
        if problem:
            raise InputError("options", f"{key}={value}: {problem}")
    _trial_create(parsed, driver)
    return parsed


def _value_problem(value, kind, choices, low, high):
    if choices:
        return None if value.upper() in choices else f"choose from {', '.join(sorted(choices))}"
    if kind == "boolean":
        return None if value.upper() in _BOOLEANS else "expected YES or NO"
    if kind in ("int", "float"):
        try:
            number = int(value) if kind == "int" else float(value)
        except ValueError:
            return f"expected {'an integer' if kind == 'int' else 'a number'}"
        if low is not None and number < low:
            return f"must be >= {low:g}"
        if high is not None and number > high:
            return f"must be <= {high:g}"
    return None


def _driver_options(driver):
    """{option: dict(kind, choices, low, high)} from GDAL, or None if GDAL says nothing."""
    try:
        from osgeo import gdal
    except ImportError:
        return None
    drv = gdal.GetDriverByName(driver)
    if drv is None:
        raise InputError("driver", f"GDAL has no driver named {driver!r}")
    text = drv.GetMetadataItem("DMD_CREATIONOPTIONLIST")
    if not text:
        return None

    def limit(option, name):
        value = option.get(name)
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None
    return {opt.get("name").upper(): {
        "kind": (opt.get("type") or "string").lower(),
        "choices": {(v.text or "").upper() for v in opt.findall("Value")},
        "low": limit(opt, "min"), "high": limit(opt, "max")}
        for opt in ET.fromstring(text).findall("Option")}


def _trial_create(creation, driver):
    """Create, write and close a 1x1 float32 file in GDAL's memory file system."""
    import rasterio

    from .gdal_errors import gdal_failures
    from .gdal_lock import GDAL_IO
    path = f"/vsimem/tilewise-options-{uuid.uuid4().hex}.tif"
    try:
        with GDAL_IO, gdal_failures() as failures, rasterio.Env():  # see gdal_lock
            with rasterio.open(path, "w", driver=driver, width=1, height=1, count=1,
                               dtype="float32", transform=rasterio.Affine(10, 0, 1000, 0, -10, 1000),
                               **adapt_options(creation, "float32")) as dst:
                dst.write(np.zeros((1, 1, 1), np.float32))
    except Exception as exc:  # rasterio's errors for a bad option vary by driver
        failures = [str(exc)]
    finally:
        try:
            from rasterio.shutil import delete
            delete(path)
        except Exception:
            pass
    if failures:
        raise InputError("options", f"GDAL rejects these creation options: {failures[-1]}")


def adapt_options(creation, dtype):
    """Creation options that fit ``dtype``: one option string serves every output.

    GeoTIFF's floating-point predictor (PREDICTOR=3) exists for float data only; integer
    outputs get the horizontal-differencing predictor (2) instead.
    """
    creation = dict(creation)
    if creation.get("PREDICTOR") == "3" and np.dtype(dtype).kind != "f":
        creation["PREDICTOR"] = "2"
    return creation


