"""Wall time and peak memory of a command and all its processes (not a benchmark itself).

Peak memory is the largest sum, over the command's process tree, of each process's PSS
(proportional set size, /proc/PID/smaps_rollup), sampled every few milliseconds. PSS
splits shared pages (the engine's shared-memory rasters) between the processes that map
them, so the sum counts each page once: the tree's real footprint, shared memory included.
"""

import subprocess
import tempfile
import time

SAMPLE_SECONDS = 0.01


def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


def _tree(pid):
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def _pss(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measure(command, env=None, cwd=None):
    """Run ``command``; return (seconds, peak bytes, CompletedProcess-like stdout/stderr)."""
    with tempfile.TemporaryFile("w+") as out_file, tempfile.TemporaryFile("w+") as err_file:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out_file, stderr=err_file, text=True, env=env,
                                cwd=cwd)
        peak = 0
        while proc.poll() is None:  # files, not pipes: a chatty child cannot block
            peak = max(peak, sum(_pss(p) for p in _tree(proc.pid)))
            time.sleep(SAMPLE_SECONDS)
        seconds = time.perf_counter() - started
        out_file.seek(0)
        err_file.seek(0)
        out, err = out_file.read(), err_file.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({proc.returncode}):\n{err}")
    return seconds, peak, out


def mib(nbytes):
    return f"{nbytes / 2**20:7.0f} MiB"
