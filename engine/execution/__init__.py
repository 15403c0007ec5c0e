"""Where tiles run: tile jobs (``tasks``); the backends (``backends``: inline, threads, a
pool with the caller; ``pool``: worker processes) and the ``policy`` that picks one for a
run; streamed runs (``stream``) and Dask runs (``dask_backend``, ``dask_reduce`` over
``dask_cluster``); worker processes (``worker``, ``session``, ``interpreter``, ``heap``) and
the script host."""
