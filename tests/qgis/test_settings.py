"""Provider settings (Processing → Options → Providers → Tilewise), through ProcessingConfig:
registered under the provider's name, read and written, removed on unload; WORKERS' default
follows the setting and an algorithm's own value overrides it; the cache and temporary-folder
settings reach the engine's environment variables, which win when the user set them."""

import os

import numpy as np
import pytest

import qgis_helpers as qh
from feedback_helpers import RecordingFeedback

ENV = ("TILEWISE_CACHE", "TILEWISE_CACHE_MB", "TILEWISE_TMPDIR")


@pytest.fixture
def settings(plugin, monkeypatch):
    """The settings module; every setting is back to its default afterwards, and the
    environment variables are as before."""
    from tilewise.provider import settings

    for name in ENV:
        monkeypatch.setenv(name, "")  # so that monkeypatch restores what was there before
        monkeypatch.delenv(name)
    settings._set_by_us.clear()
    yield settings
    for name, (_, default, _) in settings.SETTINGS.items():
        settings.set_value(name, default)
    settings._set_by_us.clear()


def test_settings_are_in_processing_config_under_the_provider(plugin, settings):
    from processing.core.ProcessingConfig import ProcessingConfig

    group = ProcessingConfig.getSettings()[plugin.provider.name()]  # what the dialog lists
    assert {s.name for s in group} == set(settings.SETTINGS) == {
        "TILEWISE_ACTIVATE", "TILEWISE_WORKERS", "TILEWISE_MEMORY_MB", "TILEWISE_CACHE",
        "TILEWISE_CACHE_MB", "TILEWISE_TMPDIR", "TILEWISE_DASK_SCHEDULER"}
    for setting in group:
        assert setting.description and setting.group == "Tilewise"
    assert settings.PROVIDER_NAME in ProcessingConfig.settingIcons


def test_read_and_write_every_setting(settings, tmp_path):
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.core import QgsSettings

    assert settings.value(settings.WORKERS) == 0 and settings.value(settings.ACTIVATE) is True
    assert settings.memory_budget_mb() is None and settings.dask_scheduler() is None
    values = {settings.ACTIVATE: False, settings.WORKERS: 3, settings.MEMORY_MB: 2048,
              settings.CACHE: False, settings.CACHE_MB: 512, settings.TMPDIR: str(tmp_path),
              settings.DASK_SCHEDULER: "tcp://127.0.0.1:8786"}
    for name, new in values.items():
        settings.set_value(name, new)
    for name, new in values.items():
        assert settings.value(name) == new, name
        # stored where ProcessingConfig keeps it, so that it survives a restart
        assert str(QgsSettings().value("Processing/Configuration/" + name)).lower() == \
            str(new).lower()
    ProcessingConfig.readSettings()  # what QGIS does at start: values come back as text
    assert settings.value(settings.WORKERS) == 3 and settings.value(settings.CACHE) is False
    assert settings.memory_budget_mb() == 2048
    assert settings.dask_scheduler() == "tcp://127.0.0.1:8786"
    QgsSettings().setValue("Processing/Configuration/TILEWISE_WORKERS", "x")  # edited by hand
    ProcessingConfig.readSettings()
    assert settings.value(settings.WORKERS) == 0


def test_activate_setting_is_the_provider_switch(plugin, settings):
    provider = plugin.provider
    assert provider.isActive()
    provider.setActive(False)
    assert not provider.isActive() and settings.value(settings.ACTIVATE) is False
    provider.setActive(True)
    assert provider.isActive()


def run_meanfilter(tmp_path, **extra):
    import processing
    from qgis.core import QgsProcessingContext

    path = qh.write_geotiff(tmp_path / "in.tif",
                            np.arange(20 * 30, dtype="float32").reshape(20, 30))
    feedback = RecordingFeedback()
    processing.run("tilewise:meanfilter", {"INPUT": path, "SIZE": 3,
                                           "OUTPUT": str(tmp_path / "out.tif"), **extra},
                   context=QgsProcessingContext(), feedback=feedback)
    return [line for line in feedback.of("debug") if line.startswith("Tilewise: workers=")]


def test_workers_default_follows_the_setting_and_the_parameter_overrides_it(settings, tmp_path):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    settings.set_value(settings.WORKERS, 2)
    assert registry.createAlgorithmById("tilewise:meanfilter").parameterDefinition(
        "WORKERS").defaultValue() == 2
    assert run_meanfilter(tmp_path)[0].startswith("Tilewise: workers=2,")
    assert run_meanfilter(tmp_path, WORKERS=1)[0].startswith("Tilewise: workers=1,")
    # the shipped models still validate with a non-default setting
    for model_id in ("tilewise:seed_pipeline", "tilewise:dem_terrain"):
        assert registry.createAlgorithmById(model_id).validate() == (True, [])
    settings.set_value(settings.WORKERS, 0)
    assert registry.createAlgorithmById("tilewise:meanfilter").parameterDefinition(
        "WORKERS").defaultValue() == 0


def test_cache_and_tmpdir_settings_reach_the_engine_environment(settings, tmp_path):
    assert settings.apply_environment() == dict.fromkeys(ENV)
    settings.set_value(settings.CACHE_MB, 256)
    settings.set_value(settings.TMPDIR, str(tmp_path))
    assert settings.apply_environment() == {"TILEWISE_CACHE": None, "TILEWISE_CACHE_MB": "256",
                                            "TILEWISE_TMPDIR": str(tmp_path)}
    settings.set_value(settings.CACHE, False)
    assert settings.apply_environment()["TILEWISE_CACHE"] == "0"
    from tilewise.engine.store.cache import default_cache

    assert default_cache() is None  # the engine reads it at each run
    settings.set_value(settings.CACHE, True)
    settings.set_value(settings.CACHE_MB, 0)
    settings.set_value(settings.TMPDIR, "")
    assert settings.apply_environment() == dict.fromkeys(ENV)  # what we set is taken back


def test_environment_set_by_the_user_wins(settings, monkeypatch, tmp_path):
    monkeypatch.setenv("TILEWISE_CACHE", "1")
    monkeypatch.setenv("TILEWISE_TMPDIR", "/somewhere")
    settings.set_value(settings.CACHE, False)
    settings.set_value(settings.CACHE_MB, 64)
    settings.set_value(settings.TMPDIR, str(tmp_path))
    assert settings.apply_environment() == {"TILEWISE_CACHE": "1", "TILEWISE_CACHE_MB": None,
                                            "TILEWISE_TMPDIR": "/somewhere"}
    monkeypatch.delenv("TILEWISE_CACHE")
    monkeypatch.setenv("TILEWISE_CACHE_MB", "32")  # either cache variable decides
    assert settings.apply_environment()["TILEWISE_CACHE_MB"] == "32"
    assert "TILEWISE_CACHE" not in os.environ


def test_legacy_cache_key_is_moved_to_the_settings(settings):
    from qgis.core import QgsSettings

    for name in (settings.CACHE, settings.CACHE_MB):
        QgsSettings().remove("Processing/Configuration/" + name)
    QgsSettings().setValue(settings.LEGACY_CACHE_KEY, "0")
    settings._migrate_legacy_cache_key()
    assert QgsSettings().value(settings.LEGACY_CACHE_KEY) is None
    assert str(QgsSettings().value("Processing/Configuration/TILEWISE_CACHE")).lower() == "false"
    QgsSettings().setValue(settings.LEGACY_CACHE_KEY, "300")
    settings._migrate_legacy_cache_key()
    assert int(QgsSettings().value("Processing/Configuration/TILEWISE_CACHE_MB")) == 300


def test_settings_are_removed_on_unload_and_come_back(plugin):
    from processing.core.ProcessingConfig import ProcessingConfig
    from qgis.core import QgsApplication

    from tilewise.provider import settings

    plugin.unload()
    try:
        assert not set(settings.SETTINGS) & set(ProcessingConfig.settings)
        assert settings.PROVIDER_NAME not in ProcessingConfig.getSettings()
    finally:
        plugin.initProcessing()
    assert set(settings.SETTINGS) <= set(ProcessingConfig.settings)
    assert QgsApplication.processingRegistry().algorithmById("tilewise:seed_pipeline")


def test_options_dialog_ok_refreshes_the_provider_with_its_models(plugin, settings, tmp_path):
    """What Processing > Options does on OK: every provider's refreshAlgorithms(); the models
    come back resolved, and a changed temporary folder reaches the environment."""
    from qgis.core import QgsApplication

    settings.set_value(settings.TMPDIR, str(tmp_path))
    plugin.provider.refreshAlgorithms()
    assert os.environ["TILEWISE_TMPDIR"] == str(tmp_path)
    model = QgsApplication.processingRegistry().algorithmById("tilewise:dem_terrain")
    assert model is not None and model.destinationParameterDefinitions()
    assert model.validate() == (True, [])
