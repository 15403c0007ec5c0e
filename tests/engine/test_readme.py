"""The README's Python example runs exactly as written, and its commands exist."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import rasterio

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def _example(marker):
    block = README.split(f"<!-- {marker}:start -->")[1].split(f"<!-- {marker}:end -->")[0]
    return re.search(r"```python\n(.*?)```", block, re.S).group(1)


@pytest.mark.parametrize("marker", ["readme-example", "readme-pipeline"])
def test_readme_example_runs_as_written(tmp_path, plugin_parent_dir, marker):
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from make_dsm import make_dsm, write_dsm  # noqa: F401
    finally:
        sys.path.pop(0)
    array, profile = make_dsm((300, 400), seed=3, holes=0.05, nodata=-9999.0)
    with rasterio.open(tmp_path / "dsm.tif", "w", **profile) as dst:
        dst.write(array if array.ndim == 3 else array[None])
    (tmp_path / "example.py").write_text(_example(marker))
    env = {**os.environ, "PYTHONPATH": str(plugin_parent_dir)}
    done = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    if marker == "readme-example":
        assert "valid pixels: [120000]" in done.stdout
    with rasterio.open(tmp_path / "smooth.tif") as ds:
        smooth = ds.read(1)
    with rasterio.open(tmp_path / "mask.tif") as ds:
        mask = ds.read(1)
    assert mask.sum() == (array.reshape(300, 400) == -9999).sum() > 0
    assert np.isfinite(smooth).all() and (smooth != -9999).all()


def test_readme_commands_are_the_ones_ci_and_users_run():
    assert "bash scripts/demo.sh" in README and (REPO / "scripts/demo.sh").exists()
    assert "bash scripts/test.sh" in README
    assert "bash scripts/test.sh" in (REPO / ".ci/run").read_text()
