"""Suite-wide hooks: how pytest-xdist's workers (make pytest) share the tests out."""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadGroupScheduling

# Modules whose module-scoped fixture is a costly run (a simulated demo, ~11 s of CPU): all
# their tests go to one worker, which builds the fixture once instead of once per worker.
ONE_WORKER = frozenset({"tests/demo/test_demo.py", "tests/demo/test_job_world.py"})


class _SharedModules(LoadGroupScheduling):  # type: ignore[misc]  # xdist ships no types
    """--dist loadgroup, with each ONE_WORKER module one group.

    The xdist_group mark can't say this on pytest 9.2: xdist 3.8 groups by a suffix it writes
    into the node id, which pytest 9.2 no longer reads (pytest-xdist issue 1386), so marked
    tests were spread over the workers and the fixture built on each.
    """

    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        if module in ONE_WORKER:
            return module
        scope: str = super()._split_scope(nodeid)
        return scope


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Our scheduler for --dist loadgroup; xdist's own for any other mode."""
    if config.getvalue("dist") != "loadgroup":
        return None
    return _SharedModules(config, log)
