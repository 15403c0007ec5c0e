"""Every model shipped in resources/models/ validates clean in the modeler's terms
(``QgsProcessingModelAlgorithm.validate()``), has a human name and human output names, is
registered under the id of its file with all its outputs, and a run from qgis_process without
output paths names the mandatory outputs before it starts."""

import os
import re
import subprocess

import pytest

import qgis_helpers as qh

MODELS = qh.REPO_ROOT / "resources" / "models"
MODEL_FILES = sorted(MODELS.glob("*.model3"))


def test_there_are_models_to_check():
    assert len(MODEL_FILES) >= 3


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_model_file_validates_clean(plugin, path):
    from qgis.core import QgsProcessingModelAlgorithm

    model = QgsProcessingModelAlgorithm()
    assert model.fromFile(str(path))
    ok, issues = model.validate()
    assert issues == [] and ok, issues
    for child in model.childAlgorithms().values():
        assert child.algorithm() is not None, child.algorithmId()


@pytest.mark.parametrize("path", MODEL_FILES, ids=lambda p: p.stem)
def test_registered_model_validates_and_has_human_names(plugin, path):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    model = registry.algorithmById(f"tilewise:{path.stem}")
    assert model is not None, f"tilewise:{path.stem} is not registered"
    ok, issues = model.validate()
    assert issues == [] and ok, issues
    # a human name: words starting with a capital letter, no underscores
    name = model.displayName()
    assert "_" not in name and re.fullmatch(r"[A-Z][\w-]*( [A-Z][\w-]*)*", name), name
    outputs = model.destinationParameterDefinitions()
    assert outputs, "the registered model lost its outputs (children not resolved)"
    for output in outputs:
        text = output.description()
        assert text and "_" not in text and text[0].isupper(), (output.name(), text)
        # the name the modeler's output box shows: "nodatamask:Nodata mask" -> "Nodata mask"
        shown = output.name().split(":", 1)[1]
        assert "_" not in shown and shown[0].isupper(), output.name()
    # a fresh instance (what the dialog and qgis_process run) is the same model
    created = registry.createAlgorithmById(f"tilewise:{path.stem}")
    assert created.id() == f"tilewise:{path.stem}" and created.displayName() == name
    assert sorted(p.name() for p in created.destinationParameterDefinitions()) == \
        sorted(p.name() for p in outputs)
    assert created.validate() == (True, [])


def test_advanced_parameters_are_optional_for_models(plugin):
    """The modeler accepts steps that leave WORKERS, TILE_SIZE, OPTIONS and COG unset."""
    from qgis.core import QgsApplication, QgsProcessingParameterDefinition

    provider = QgsApplication.processingRegistry().providerById("tilewise")
    for algorithm in provider.algorithms():
        for name in ("WORKERS", "TILE_SIZE", "MEMORY", "OPTIONS", "COG"):
            definition = algorithm.parameterDefinition(name)
            if definition is not None:
                assert definition.flags() & QgsProcessingParameterDefinition.FlagOptional, \
                    (algorithm.id(), name)


@pytest.mark.parametrize("by", ["id", "file"])
def test_qgis_process_without_outputs_names_the_mandatory_outputs(plugin_parent_dir, tmp_path,
                                                                  by):
    if not os.access(qh.QGIS_PROCESS, os.X_OK):
        pytest.skip(f"{qh.QGIS_PROCESS} not installed")
    env = qh.qgis_process_env(qh.make_qgis_profile(tmp_path / "config"), plugin_parent_dir)
    dem = qh.write_geotiff(tmp_path / "dem.tif", qh.synthetic_dem(20, 30), nodata=-9999.0)
    model = "tilewise:dem_terrain" if by == "id" else str(MODELS / "dem_terrain.model3")
    done = subprocess.run([qh.QGIS_PROCESS, "run", model, "--", f"dem={dem}"], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    text = done.stdout + done.stderr
    assert done.returncode == 1, text
    assert "mandatory parameters were not specified" in text, text
    for output in ("fill:Filled DEM", "slope:Slope", "hillshade:Hillshade"):
        assert output in text, text
    assert "GeoTIFF" not in text and not list(tmp_path.glob("*.tif"))[1:], text
