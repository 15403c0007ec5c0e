"""Shared-memory limits, full or read-only disks, and the worker interpreter."""

import os
import subprocess
import sys
from contextlib import contextmanager

import numpy as np
import pytest
import rasterio

from tilewise.engine import Engine, InputError, Profile, SharedMemoryError, TilewiseError, filters
from tilewise.engine.store import segments as shm
from tilewise.engine.execution.interpreter import candidates, resolve_worker_python
from tilewise.engine.store.segments import list_segments

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@contextmanager
def small_tmpfs(path, size="1m", readonly=False):
    path.mkdir(exist_ok=True)
    opts = f"size={size}" + (",ro" if readonly else "")
    subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def test_segment_names_fit_macos_limit():
    for _ in range(100):
        assert len(shm.new_name()) <= 30
    assert len(f"tw{4194304:x}_" + "a" * 10) <= 30  # the largest Linux pid


@needs_root
def test_small_dev_shm_falls_back_to_a_file_backed_map(tmp_path, monkeypatch):
    with small_tmpfs(tmp_path / "shm", "1m") as small:
        monkeypatch.setattr(shm, "SHM_DIR", str(small))
        data = np.random.default_rng(0).random((1, 600, 600)).astype(np.float32)  # 1.4 MB
        with Engine(workers=2, tile_size=128) as eng:
            src = eng.create(Profile(1, 600, 600, "float32"))
            assert src.ref.segment.kind == "file"
            src.writable_array()[...] = data
            out = eng.apply(filters.mean, src, size=3)
            assert out.ref.segment.kind == "file"
            result = np.array(out.array)
        with Engine(workers=1) as eng:
            src = eng.create(Profile(1, 600, 600, "float32"))
            src.writable_array()[...] = data
            np.testing.assert_array_equal(result, eng.apply(filters.mean, src, size=3).array)
    assert list_segments(os.getpid()) == []


@needs_root
def test_no_room_anywhere_says_how_much_is_needed_and_available(tmp_path, monkeypatch):
    with small_tmpfs(tmp_path / "shm", "1m") as small, small_tmpfs(tmp_path / "tmp", "1m") as tmp:
        monkeypatch.setattr(shm, "SHM_DIR", str(small))
        monkeypatch.setenv("TILEWISE_TMPDIR", str(tmp))
        with Engine(workers=1) as eng:
            with pytest.raises(SharedMemoryError) as err:
                eng.create(Profile(1, 1000, 1000, "float64"))
    message = str(err.value)
    assert "7.6 MiB" in message and "free in" in message and "TILEWISE_TMPDIR" in message


def _raster_file(path, shape=(1, 800, 800)):
    with rasterio.open(path, "w", driver="GTiff", width=shape[2], height=shape[1], count=shape[0],
                       dtype="float32") as dst:
        dst.write(np.random.default_rng(1).random(shape).astype(np.float32))
    return path


@needs_root
@pytest.mark.parametrize("options", ["", "COMPRESS=DEFLATE|NUM_THREADS=1"])
def test_full_disk_leaves_no_file_and_keeps_the_old_one(tmp_path, options):
    src_path = _raster_file(tmp_path / "in.tif")  # random floats: deflate cannot shrink them
    with small_tmpfs(tmp_path / "full", "1m") as full:
        target = full / "out.tif"
        target.write_bytes(b"old result")
        with Engine(workers=1) as eng:
            src = eng.open(src_path)
            with pytest.raises(InputError) as err:
                eng.write(src, target, options=options)
        assert err.value.param == "output"
        assert "space" in str(err.value)
        assert target.read_bytes() == b"old result"
        assert os.listdir(full) == ["out.tif"]


@needs_root
def test_read_only_folder_is_named(tmp_path):
    src_path = _raster_file(tmp_path / "in.tif", (1, 8, 8))
    with small_tmpfs(tmp_path / "ro", "1m", readonly=True) as ro:
        with Engine(workers=1) as eng:
            src = eng.open(src_path)
            with pytest.raises(InputError) as err:
                eng.write(src, ro / "out.tif")
    assert err.value.param == "output" and "not writable" in str(err.value)


def test_missing_output_folder_is_named(tmp_path):
    with Engine(workers=1) as eng:
        src = eng.create(Profile(1, 4, 4, "uint8"))
        with pytest.raises(InputError, match="does not exist") as err:
            eng.write(src, tmp_path / "nope" / "out.tif")
    assert err.value.param == "output"


# -- the worker interpreter -------------------------------------------------------------------

def _files(*paths):
    return lambda p: p in paths


def _yes(path, version):
    return True


def test_linux_inside_qgis_ignores_the_python3_first_on_path():
    # QGIS's embedded Python sets sys.executable to the first python3 on PATH (here, pyenv's)
    found = resolve_worker_python("/root/.pyenv/shims/python3", "/usr", (3, 11), "linux", {},
                                  _files("/usr/bin/python3.11", "/root/.pyenv/shims/python3"),
                                  _yes)
    assert found == "/usr/bin/python3.11"


def test_windows_osgeo4w_and_standalone_use_the_apps_python_not_qgis_bin():
    for root in (r"C:\OSGeo4W", r"C:\Program Files\QGIS 3.22.16"):
        prefix = root + r"\apps\Python39"
        exe = root + r"\bin\qgis-ltr-bin.exe"
        tried = candidates(exe, prefix, (3, 9), "win32")
        assert exe not in tried
        assert tried[0] == os.path.join(prefix, "python.exe")


def test_macos_bundle_uses_its_own_python_not_the_qgis_binary():
    exe = "/Applications/QGIS-LTR.app/Contents/MacOS/QGIS"
    prefix = "/Applications/QGIS-LTR.app/Contents/Frameworks/Python.framework/Versions/3.9"
    tried = candidates(exe, prefix, (3, 9), "darwin")
    assert exe not in tried
    assert tried[0] == prefix + "/bin/python3.9"
    assert "/Applications/QGIS-LTR.app/Contents/MacOS/bin/python3.9" in tried
    found = resolve_worker_python(exe, "/nonexistent", (3, 9), "darwin", {},
                                  _files("/Applications/QGIS-LTR.app/Contents/MacOS/bin/python3"),
                                  _yes)
    assert found == "/Applications/QGIS-LTR.app/Contents/MacOS/bin/python3"


def test_a_candidate_of_another_version_is_skipped():
    def only(good):
        return lambda path, version: path == good
    found = resolve_worker_python("/usr/local/bin/python3", "/usr/local", (3, 12), "linux", {},
                                  _files("/usr/local/bin/python3.12", "/usr/local/bin/python3"),
                                  only("/usr/local/bin/python3"))
    assert found == "/usr/local/bin/python3"
    with pytest.raises(TilewiseError, match="TILEWISE_PYTHON"):
        resolve_worker_python("/opt/qgis/bin/qgis", "/opt/qgis", (3, 11), "linux", {},
                              _files("/opt/qgis/bin/python3.11"), lambda p, v: False)


def test_tilewise_python_overrides_and_must_exist():
    assert resolve_worker_python(environ={"TILEWISE_PYTHON": "/usr/bin/python3"},
                                 isfile=_files("/usr/bin/python3")) == "/usr/bin/python3"
    with pytest.raises(TilewiseError, match="not a file"):
        resolve_worker_python(environ={"TILEWISE_PYTHON": "/nope/python"}, isfile=_files())


def test_the_real_interpreter_here_matches_this_one():
    import sys
    found = resolve_worker_python()
    out = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == str(tuple(sys.version_info[:2]))


HEAP_CHURN = """
import resource, sys
import numpy as np
from tilewise.engine.execution.heap import give_back_free_memory, keep_freed_tile_memory
if sys.argv[1] != "default":
    assert keep_freed_tile_memory()
def churn():  # what a tile does: a few float64 temporaries of 1 MiB alive, then freed
    for _ in range(20):
        temporaries = [np.empty(2**17) for _ in range(4)]
        for a in temporaries:
            a.fill(1.0)
        del temporaries, a
churn()
if sys.argv[1] == "trimmed":
    give_back_free_memory()  # as between two runs
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not os.path.exists("/usr/lib/x86_64-linux-gnu/libc.so.6")
                    and not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6"),
                    reason="glibc only")
def test_freed_tile_temporaries_are_reused_without_page_faults(plugin_parent_dir):
    def faults(mode):
        out = subprocess.run([sys.executable, "-c", HEAP_CHURN, mode], check=True, text=True,
                             capture_output=True, env={**os.environ,
                                                       "PYTHONPATH": str(plugin_parent_dir)})
        return int(out.stdout)
    pages = 20 * 4 * 2**20 // 4096
    assert faults("default") > pages // 2  # glibc gives the pages back and faults them in again
    assert faults("keep") < pages // 20    # after engine.execution.heap: the heap's pages are reused
    assert faults("trimmed") > pages // 40  # given back between runs: faulted in once more


def test_this_installations_versioned_interpreter_is_trusted_without_starting_it(monkeypatch):
    """<exec_prefix>/bin/python3.X of the running version needs no subprocess to ask its
    version (qgis_process paid 80 ms a run for it); any other path is asked."""
    import subprocess
    import sys

    from tilewise.engine.execution.interpreter import same_version
    started = []
    real = subprocess.run
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: started.append(a) or real(*a, **k))
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis_process.bin")
    own = "%s/bin/python%d.%d" % ((sys.exec_prefix,) + sys.version_info[:2])
    if not os.access(own, os.X_OK):
        pytest.skip(f"no {own}")
    assert same_version(own, sys.version_info[:2]) and not started
    assert not same_version(own, (2, 7)) and started  # another version: asked, and refused
