"""Packaging: ``bash scripts/package.sh`` writes dist/tilewise-<version>.zip as plugins.qgis.org
wants it (one tilewise/ folder, LICENSE, complete metadata, no tests/bench/CI/caches); the zip,
unpacked into a fresh QGIS profile (no checkout anywhere on the paths), runs an algorithm and
the models through qgis_process.bin, and its Help URLs point into the unpacked folder."""

import configparser
import json
import os
import re
import subprocess
import zipfile

import numpy as np
import pytest

import qgis_helpers as qh

REQUIRED = ("name", "description", "version", "qgisMinimumVersion", "author", "email", "about",
            "tracker", "repository")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(["bash", str(qh.REPO_ROOT / "scripts" / "package.sh"), "--out",
                           str(out)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stdout + done.stderr
    zips = list(out.glob("*.zip"))
    assert len(zips) == 1, zips
    return zips[0]


def read_metadata(text):
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    return parser["general"]


def test_zip_layout_and_metadata(package):
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
        metadata = read_metadata(archive.read("tilewise/metadata.txt").decode("utf-8"))
        license_text = archive.read("tilewise/LICENSE").decode("utf-8")
    assert package.name == f"tilewise-{metadata['version']}.zip"
    assert {name.split("/", 1)[0] for name in names} == {"tilewise"}
    for name in names:
        parts = name.split("/")
        assert parts[1] not in ("tests", "bench", ".ci", "scripts", ".git", "dist", "out"), name
        assert "__pycache__" not in parts and not name.endswith((".pyc", ".pyo")), name
        assert ".pytest_cache" not in parts and ".hypothesis" not in parts, name
    for needed in ("__init__.py", "plugin.py", "deps.py", "metadata.txt", "LICENSE",
                   "provider/provider.py", "algorithms/base.py", "engine/api.py",
                   "resources/icon.svg", "docs/help/index.html",
                   "docs/help/performance.html", "docs/help/fillnodata.html"):
        assert f"tilewise/{needed}" in names, needed
    assert len([n for n in names if n.startswith("tilewise/resources/models/")
                and n.endswith(".model3")]) == 3
    assert "GNU GENERAL PUBLIC LICENSE" in license_text and "any later version" in license_text
    for field in REQUIRED:
        assert metadata.get(field, "").strip(), field
    assert metadata["qgisMinimumVersion"] == "3.22"
    assert f"tilewise/{metadata['icon']}" in names
    assert metadata["changelog"].strip().startswith(metadata["version"])


@pytest.fixture(scope="module")
def installed(package, tmp_path_factory):
    """A fresh QGIS profile with the zip unpacked in its plugin folder, as "Install from ZIP"
    does, and the plugin enabled; qgis_process sees no other copy of Tilewise."""
    if not os.access(qh.QGIS_PROCESS, os.X_OK):
        pytest.skip(f"{qh.QGIS_PROCESS} not installed")
    config = qh.make_qgis_profile(tmp_path_factory.mktemp("config"))
    plugins = config / "profiles" / "default" / "python" / "plugins"
    plugins.mkdir(parents=True)
    with zipfile.ZipFile(package) as archive:
        archive.extractall(plugins)
    env = {k: v for k, v in os.environ.items()
           if k not in ("QGIS_PLUGINPATH", "PYTHONPATH") and not k.startswith("TILEWISE_")}
    env.update(QT_QPA_PLATFORM="offscreen", QGIS_CUSTOM_CONFIG_PATH=str(config))
    return env, plugins / "tilewise"


def qgis_process(env, *args):
    done = subprocess.run([qh.QGIS_PROCESS, *args], env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, cwd="/")
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done


def test_unpacked_zip_runs_an_algorithm_through_qgis_process(installed, tmp_path):
    env, folder = installed
    array = np.arange(30 * 40, dtype="float32").reshape(30, 40)
    source = qh.write_geotiff(tmp_path / "in.tif", array)
    out = tmp_path / "mean.tif"
    done = qgis_process(env, "--json", "run", "tilewise:meanfilter", "--", f"INPUT={source}",
                        "SIZE=3", "WORKERS=1", f"OUTPUT={out}")
    assert json.loads(done.stdout)["results"]["OUTPUT"] == str(out)
    result = qh.read_geotiff(out)[0][0]
    assert result.shape == array.shape and np.isclose(result[10, 10], array[9:12, 9:12].mean())

    details = json.loads(qgis_process(env, "--json", "help", "tilewise:fillnodata").stdout)
    assert details["algorithm_details"]["help_url"] == \
        (folder / "docs" / "help" / "fillnodata.html").as_uri()  # the unpacked copy, not ours


def test_unpacked_zip_lists_what_about_says(installed, package):
    env, folder = installed
    listing = qgis_process(env, "list").stdout
    ids = re.findall(r"^\s+(tilewise:\S+)", listing, re.M)
    models = {"tilewise:seed_pipeline", "tilewise:ndvi_smoothing", "tilewise:dem_terrain"}
    assert models <= set(ids)
    with zipfile.ZipFile(package) as archive:
        about = read_metadata(archive.read("tilewise/metadata.txt").decode("utf-8"))["about"]
    count = int(re.search(r"(\d+) algorithms", about).group(1))
    assert count == len(set(ids) - models), "metadata.txt's about: update the count"
    assert "Three example models" in about
