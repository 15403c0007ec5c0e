"""What this process is: the caller (QGIS, a script) or one of the engine's own processes
(a worker, the script host), where a user's script may run."""

_worker = False


def mark_worker_process():
    """Say that this process is a worker or the script host: user scripts may run here."""
    global _worker
    _worker = True


def in_worker_process():
    """True in a worker or the script host; False in the caller, where scripts never run."""
    return _worker


__all__ = ["in_worker_process", "mark_worker_process"]
