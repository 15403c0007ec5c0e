"""Fuzz driver: every Tilewise algorithm through QGIS's C++ entry points, hostile values.

Run as a script by ``test_error_boundary.py``, in a process of its own: a Python exception
that escapes a Tilewise method into QGIS's C++ side aborts this process (SIGABRT), which
the test sees as a signal exit, with the last case named on stdout.

    python3 fuzz_driver.py PLUGIN_PARENT_DIR PROFILE_DIR DATA_DIR SEED CASES_PER_ALGORITHM

Each case starts from parameters that run (inputs, band 1, a fresh output) and replaces one
to three of them with values drawn from ``hostile_values``. ``checkParameterValues`` is
called first, as qgis_process (from C++) and the dialog (from a Qt slot) do: an exception
other than QgsProcessingException escaping it exits this process with 134, as it aborts
QGIS there. Then ``QgsProcessingAlgorithm.run`` (C++) goes through ``prepareAlgorithm``,
``processAlgorithm`` and ``postProcessAlgorithm``. Prints one JSON line per case:
algorithm, the values given, ok, and whether an output file was left after a failure.
"""

import json
import os
import random
import sys


def hostile_values(data):
    return [
        None, "", " ", "abc", "0", "-1", "3.5", "1e9999", "nan", "inf", "-inf",
        0, -1, 1, 2, 3.5, -3.5, 1e308, -1e308, float("nan"), float("inf"), 2**70, -2**70,
        "9" * 400, "x" * 100000, "\x00", "a\x00b", "{}", "[]", '{"size": "x"}', "{" * 5000,
        "A@1 + " + "9" * 400, "A@99", "__import__('os')", "(" * 10000,
        os.path.join(data, "missing.tif"), data, os.path.join(data, "damaged.tif"),
        os.path.join(data, "notraster.txt"), "/vsicurl/http://127.0.0.1:9/none.tif",
        "GPKG:/nonexistent.gpkg:t", os.path.join(data, "crash_check.py"),
        os.path.join(data, "exit_filter.py"), os.path.join(data, "check_raises.py"), [], [None], ["a", "b"], {"a": 1}, True, False,
        "COMPRESS=NOPE", "BLOCKXSIZE=7", "COMPRESS=DEFLATE|ZLEVEL=99", "=", "|||",
    ]


#: values that crashed QGIS once (with the data folder's scripts): tried on every parameter
CRASHERS = ("A@1 + " + "9" * 400, "[" * 100000, "check_raises.py")


def base_parameters(alg, data, index):
    """Parameters with which ``alg`` runs (the fuzz then spoils some)."""
    from qgis.core import (QgsProcessingParameterBand, QgsProcessingParameterFeatureSource,
                           QgsProcessingParameterFile, QgsProcessingParameterFolderDestination,
                           QgsProcessingParameterMultipleLayers,
                           QgsProcessingParameterRasterDestination,
                           QgsProcessingParameterRasterLayer, QgsProcessingParameterVectorLayer,
                           QgsProcessingDestinationParameter, QgsProcessingParameterString)

    dem = os.path.join(data, "dem.tif")
    parameters = {}
    for definition in alg.parameterDefinitions():
        name = definition.name()
        if isinstance(definition, QgsProcessingParameterRasterDestination):
            parameters[name] = os.path.join(data, "out", f"{alg.name()}-{index}-{name}.tif")
        elif isinstance(definition, QgsProcessingParameterFolderDestination):
            parameters[name] = os.path.join(data, "out", f"{alg.name()}-{index}")
        elif isinstance(definition, QgsProcessingDestinationParameter):
            parameters[name] = os.path.join(data, "out", f"{alg.name()}-{index}-{name}"
                                            f".{definition.defaultFileExtension()}")
        elif isinstance(definition, QgsProcessingParameterMultipleLayers):
            parameters[name] = [dem]
        elif isinstance(definition, QgsProcessingParameterRasterLayer):
            parameters[name] = dem
        elif isinstance(definition, (QgsProcessingParameterFeatureSource,
                                     QgsProcessingParameterVectorLayer)):
            parameters[name] = os.path.join(data, "zones.geojson")
        elif isinstance(definition, QgsProcessingParameterBand):
            parameters[name] = 1
        elif isinstance(definition, QgsProcessingParameterFile) and name == "SCRIPT":
            parameters[name] = os.path.join(data, "identity.py")
        elif isinstance(definition, QgsProcessingParameterString) and name == "EXPRESSION":
            parameters[name] = "A@1 * 2"
        elif name == "WORKERS":
            parameters[name] = 1
    return parameters


def main():
    parent, profile, data, seed, cases = sys.argv[1:6]
    sys.path.insert(0, parent)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: qgis_helpers
    import qgis_helpers as qh

    qh.start_qgis(parent, profile)
    from qgis.core import (QgsApplication, QgsProcessingContext, QgsProcessingFeedback)

    os.makedirs(os.path.join(data, "out"), exist_ok=True)
    rng = random.Random(int(seed))
    pool = hostile_values(data)
    provider = QgsApplication.processingRegistry().providerById("tilewise")
    names = sorted(alg.id() for alg in provider.algorithms())
    for alg_id in names:
        definitions = [d.name() for d in QgsApplication.processingRegistry().algorithmById(
            alg_id).parameterDefinitions()]
        # every parameter spoiled alone with the classic crashers, then random mixes
        plans = [[(name, value)] for name in definitions for value in CRASHERS]
        plans += [[(name, rng.choice(pool)) for name in
                   rng.sample(definitions, k=min(len(definitions), rng.randint(1, 3)))]
                  for _ in range(int(cases))]
        for index, plan in enumerate(plans):
            alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
            parameters = base_parameters(alg, data, index)
            spoil = [name for name, _ in plan]
            parameters.update((name, os.path.join(data, value) if value in CRASHERS[2:] else value)
                              for name, value in plan)
            shown = {k: (v[:60] + "..." if isinstance(v, str) and len(v) > 60 else v)
                     for k, v in parameters.items() if k in spoil}
            print(json.dumps({"algorithm": alg_id, "spoiled": shown}, default=repr), flush=True)
            context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
            # qgis_process and the dialog call this first, from C++ or from a Qt slot: an
            # exception escaping it aborts QGIS there, so it is fatal here too
            try:
                alg.checkParameterValues(parameters, context)
            except BaseException as error:  # noqa: BLE001
                if type(error).__name__ != "QgsProcessingException":
                    print(json.dumps({"escaped": f"{type(error).__name__}: {error}"[:500]}),
                          flush=True)
                    os._exit(134)
            _, ok = alg.run(parameters, context, feedback)  # prepare, process, post-process
            outputs = [v for k, v in parameters.items() if isinstance(v, str)
                       and v.startswith(os.path.join(data, "out")) and os.path.isfile(v)]
            print(json.dumps({"ok": bool(ok), "left": [] if ok else outputs}), flush=True)
    print(json.dumps({"done": len(names)}), flush=True)


if __name__ == "__main__":
    main()
