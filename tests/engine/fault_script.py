"""A process that runs a long engine job, for fault tests that need to kill or interrupt it.

Usage: fault_script.py PLUGIN_PARENT WORKERS SECONDS_PER_TILE [OUTPUT]
Prints "pids <parent> <worker> ..." and "segments <name> ..." once the job is running, and
writes the result to OUTPUT (if given) when the job is done.
"""

import os
import sys
import threading

sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: filters_for_tests


import filters_for_tests as tf  # noqa: E402
from tilewise.engine import Engine, Profile  # noqa: E402
from tilewise.engine.store.segments import list_segments  # noqa: E402


def main():
    workers, seconds = int(sys.argv[2]), float(sys.argv[3])
    with Engine(workers=workers, tile_size=64) as eng:
        src = eng.create(Profile(1, 1024, 1024, "float32"))
        pids = eng.reduce(tf.worker_pids, src) if workers > 1 else set()

        def announce():
            print("pids", os.getpid(), *sorted(pids), flush=True)
            print("segments", *list_segments(os.getpid()), flush=True)
        threading.Timer(0.3, announce).start()
        result = eng.apply(tf.slow_copy, src, seconds=seconds)
        if len(sys.argv) > 4:
            eng.write(result, sys.argv[4])
    print("finished", flush=True)


if __name__ == "__main__":
    main()
