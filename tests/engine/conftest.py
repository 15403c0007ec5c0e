"""Set-up shared by the engine tests (no QGIS): the module-scoped engines."""

import pytest

from tilewise.engine import Engine


def _closing(made):
    yield made
    for eng in made.values():
        eng.close()


@pytest.fixture(scope="module")
def engines():
    """Engines shared by a module's tests (pools start once): 1 worker (this process),
    2 workers choosing threads or processes per filter, 3 worker processes always."""
    yield from _closing({1: Engine(workers=1), 2: Engine(workers=2),
                         3: Engine(workers=3, backend="processes")})


@pytest.fixture(scope="module")
def auto_engines():
    """Engines of 1, 2 and 3 workers, each choosing threads or processes per filter (worker
    processes start only when a test needs them)."""
    yield from _closing({n: Engine(workers=n) for n in (1, 2, 3)})
