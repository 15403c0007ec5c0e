"""Wall time and peak memory of a command and all its processes (not a benchmark itself).

Peak memory is the largest sum, over the command's process tree, of each process's PSS
(proportional set size, /proc/PID/smaps_rollup), sampled every few milliseconds. PSS
splits shared pages (the engine's shared-memory rasters) between the processes that map
them, so the sum counts each page once: the tree's real footprint, shared memory included.
"""

import os
import subprocess
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
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=cwd)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, sum(_pss(p) for p in _tree(proc.pid)))
        time.sleep(SAMPLE_SECONDS)
    out, err = proc.communicate()
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({proc.returncode}):\n{err}")
    return seconds, peak, out


def mib(nbytes):
    return f"{nbytes / 2**20:7.0f} MiB"
