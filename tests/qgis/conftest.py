"""Set-up shared by the QGIS tests: one headless QGIS per process, with Processing and the
Tilewise provider registered."""

import os

import pytest

import qgis_helpers as qh


@pytest.fixture(scope="session")
def plugin(plugin_parent_dir, tmp_path_factory):
    """The ``TilewisePlugin`` whose provider is registered in a headless QgsApplication
    (started once; an isolated settings profile)."""
    return qh.start_qgis(plugin_parent_dir, tmp_path_factory.mktemp("qgis-profile"))


@pytest.fixture(scope="session")
def processing(plugin):
    """QGIS's ``processing`` module, Tilewise's algorithms registered."""
    import processing

    return processing


@pytest.fixture(scope="session")
def qgis_env(plugin_parent_dir, tmp_path_factory):
    """The environment of a ``qgis_process.bin`` run: headless, an isolated profile with
    Tilewise enabled, small images still sent to the worker processes."""
    if not os.access(qh.QGIS_PROCESS, os.X_OK):
        pytest.skip(f"{qh.QGIS_PROCESS} not installed")
    env = qh.qgis_process_env(qh.make_qgis_profile(tmp_path_factory.mktemp("qgis-config")),
                              plugin_parent_dir)
    env["TILEWISE_MIN_PARALLEL_PIXELS"] = "0"
    return env
