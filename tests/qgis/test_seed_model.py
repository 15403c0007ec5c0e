"""The example models in resources/models: the provider lists them, the seed model runs through
qgis_process.bin (by file) and equals the three algorithms run by hand; a broken model file is
skipped with a warning."""

import json
import os
import shutil
import subprocess
from xml.etree.ElementTree import canonicalize

import pytest

import qgis_helpers as qh

NODATA = -9999.0
MODELS = qh.REPO_ROOT / "resources" / "models"
SEED_MODEL = MODELS / "seed_pipeline.model3"
CACHED = "taken from the shared-memory cache"


@pytest.fixture(scope="session")
def dem(tmp_path_factory):
    array = qh.punch_holes(qh.synthetic_dem(64, 80, seed=31), NODATA, seed=32)
    return qh.write_geotiff(tmp_path_factory.mktemp("dem") / "dem.tif", array, nodata=NODATA)


def qgis_process(env, *args):
    done = subprocess.run([qh.QGIS_PROCESS, *args], env=env, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done


def run_json(env, algorithm, **parameters):
    done = qgis_process(env, "--json", "run", str(algorithm), "--",
                        *(f"{key}={value}" for key, value in parameters.items()))
    return json.loads(done.stdout), done.stderr


def test_list_shows_the_models_under_tilewise(qgis_env):
    listing = qgis_process(qgis_env, "list").stdout
    section = listing.split("Tilewise", 1)[1].split("\n\n", 1)[0]
    assert "tilewise:seed_pipeline" in section
    for path in MODELS.glob("*.model3"):  # every shipped model (others ship their own too)
        assert f"tilewise:{path.stem}" in section, (path.name, section)


@pytest.mark.parametrize("cache", ["default", "off"])
def test_seed_model_equals_the_algorithms_by_hand(qgis_env, dem, tmp_path, cache):
    env = dict(qgis_env)
    env.pop("TILEWISE_CACHE", None)
    if cache == "off":
        env["TILEWISE_CACHE"] = "0"
    by_hand = tmp_path / "by-hand"
    by_hand.mkdir()
    run_json(env, "tilewise:nodatamask", INPUT=dem, BAND=1, OUTPUT=by_hand / "mask.tif")
    run_json(env, "tilewise:fillnodata", INPUT=dem, BAND=1, MASK=by_hand / "mask.tif",
             MAX_DISTANCE=100, SMOOTHING_ITERATIONS=0, OUTPUT=by_hand / "filled.tif")
    run_json(env, "tilewise:meanfilter", INPUT=by_hand / "filled.tif", SIZE=3,
             OUTPUT=by_hand / "smooth.tif")
    model = tmp_path / "model"
    model.mkdir()
    result, stderr = run_json(env, SEED_MODEL, DSM=dem, **{
        "nodatamask:Nodata mask": model / "mask.tif", "fillnodata:Filled DSM": model / "filled.tif",
        "meanfilter:Smoothed DSM": model / "smooth.tif"})
    assert result["results"] == {"nodatamask:Nodata mask": str(model / "mask.tif"),
                                 "fillnodata:Filled DSM": str(model / "filled.tif"),
                                 "meanfilter:Smoothed DSM": str(model / "smooth.tif")}
    for name in ("mask", "filled", "smooth"):
        a, profile_a = qh.read_geotiff(by_hand / f"{name}.tif")
        b, profile_b = qh.read_geotiff(model / f"{name}.tif")
        assert profile_a["dtype"] == profile_b["dtype"] and a.tobytes() == b.tobytes(), name
    info = "\n".join(result["log"].get("info", []))
    if cache == "off":
        assert CACHED not in info
    else:  # the mask and the filled raster came from shared memory, not from the files
        assert f"{model / 'mask.tif'}: {CACHED}" in info, info
        assert f"{model / 'filled.tif'}: {CACHED}" in info, info
    assert "leaked shared_memory" not in stderr  # the cache is freed when qgis_process exits


def test_seed_model_by_id(qgis_env, dem, tmp_path):
    # qgis_process 3.22 hands a model output left out to its child as an empty path, which
    # Tilewise's output check refuses: give each one (TEMPORARY_OUTPUT for a temporary file)
    result, _ = run_json(qgis_env, "tilewise:seed_pipeline", DSM=dem, **{
        "nodatamask:Nodata mask": "TEMPORARY_OUTPUT", "fillnodata:Filled DSM": "TEMPORARY_OUTPUT",
        "meanfilter:Smoothed DSM": tmp_path / "smooth.tif"})
    assert (tmp_path / "smooth.tif").exists()
    assert result["results"]["meanfilter:Smoothed DSM"] == str(tmp_path / "smooth.tif")
    assert result["results"]["nodatamask:Nodata mask"].endswith(".tif")  # deleted when QGIS exits


def test_build_script_rebuilds_the_same_model(tmp_path):
    out = tmp_path / "seed.model3"
    subprocess.run(["/usr/bin/python3", str(MODELS / "build_seed_model.py"), str(out)],
                   check=True, timeout=120, capture_output=True,
                   env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    # Qt writes the attributes of an element in a random order: compare canonical forms
    def canonical(path):
        text = path.read_text().split("\n", 1)[1]  # without <!DOCTYPE model>
        return canonicalize(text, strip_text=True)
    assert canonical(out) == canonical(SEED_MODEL)


def test_broken_model_is_skipped_with_a_warning(plugin, tmp_path):
    from qgis.core import QgsApplication

    from tilewise.provider.provider import TilewiseProvider

    shutil.copy(SEED_MODEL, tmp_path / "a_good.model3")
    (tmp_path / "b_broken.model3").write_text("<!DOCTYPE model>\n<Option type=\"Map\"><oops")
    (tmp_path / "c_empty.model3").write_text("")
    messages = []

    def keep(message, tag, level):
        messages.append((tag, message))
    log = QgsApplication.messageLog()
    log.messageReceived.connect(keep)
    try:
        provider = TilewiseProvider()
        provider.loadModels(str(tmp_path))
        ids = [a.id() for a in provider.algorithms()]
    finally:
        log.messageReceived.disconnect(keep)
    # a shipped model's id is its file's name; the toolbox shows the model's own name
    assert ids == ["tilewise:a_good"] or [a.name() for a in provider.algorithms()] == ["a_good"]
    assert [a.displayName() for a in provider.algorithms()] == ["Seed Pipeline"]
    skipped = [m for tag, m in messages if tag == "Tilewise" and "skipped the model" in m]
    assert len(skipped) == 2 and "b_broken.model3" in skipped[0] and "c_empty" in skipped[1]


def test_cache_mb_setting_0_turns_the_cache_off(qgis_env, dem, tmp_path):
    """``[tilewise] cache_mb=0`` in the profile's QGIS3.ini: no step takes a shared copy."""
    env = dict(qgis_env)
    env.pop("TILEWISE_CACHE", None)
    env.pop("TILEWISE_CACHE_MB", None)
    config = qh.make_qgis_profile(tmp_path / "config")
    ini = config / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.write_text(ini.read_text() + "\n[tilewise]\ncache_mb=0\n")
    env["QGIS_CUSTOM_CONFIG_PATH"] = str(config)
    result, _ = run_json(env, SEED_MODEL, DSM=dem, **{
        "nodatamask:Nodata mask": tmp_path / "mask.tif", "fillnodata:Filled DSM": tmp_path / "filled.tif",
        "meanfilter:Smoothed DSM": tmp_path / "smooth.tif"})
    assert CACHED not in "\n".join(result["log"].get("info", []))
