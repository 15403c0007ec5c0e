"""Where tiles run: tile jobs (``tasks``), the backends (``backends``: inline, threads,
processes; ``stream``; ``dask_backend``) and the ``policy`` that picks one for a run; worker
processes (``worker``, ``pool``, ``session``, ``interpreter``, ``heap``) and the script
host."""
