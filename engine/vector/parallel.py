"""Run independent batches on threads (numpy releases the GIL), in order, with progress."""

import os
from concurrent.futures import ThreadPoolExecutor

from ..core.errors import Cancelled


def thread_count(workers):
    """``workers`` (0 = all cores) as a thread count >= 1."""
    return max(1, int(workers) or os.cpu_count() or 1)


def thread_pool(workers):
    """A thread pool for ``map_batches(..., pool=)``: one for many calls saves starting
    threads each time (a context manager; None for one thread)."""
    threads = thread_count(workers)
    if threads <= 1:
        from contextlib import nullcontext
        return nullcontext()
    return ThreadPoolExecutor(threads, thread_name_prefix="tilewise-vector")


def map_batches(func, batches, workers=0, progress=None, cancel=None, pool=None):
    """``[func(b) for b in batches]``, run on ``workers`` threads (of ``pool`` when given, see
    ``thread_pool``); ``progress(fraction)`` after each batch, ``cancel() -> bool`` polled
    between batches (raises Cancelled)."""
    batches = list(batches)
    results = [None] * len(batches)
    threads = min(thread_count(workers), len(batches))

    def report(done):
        if progress is not None:
            progress(done / len(batches))
    if threads <= 1:
        for i, batch in enumerate(batches):
            if cancel is not None and cancel():
                raise Cancelled("cancelled by the caller")
            results[i] = func(batch)
            report(i + 1)
        return results
    from contextlib import nullcontext
    with (ThreadPoolExecutor(threads, thread_name_prefix="tilewise-vector") if pool is None
          else nullcontext(pool)) as pool:
        futures = [pool.submit(func, batch) for batch in batches]
        try:
            for i, future in enumerate(futures):
                while True:
                    if cancel is not None and cancel():
                        raise Cancelled("cancelled by the caller")
                    try:
                        results[i] = future.result(timeout=0.1)
                        break
                    except TimeoutError:
                        continue
                report(i + 1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return results

