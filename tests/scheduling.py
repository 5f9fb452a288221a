"""How pytest-xdist shares the tests among its workers (`--dist loadscope`, as `./scripts/test`
runs them).

A work unit is what one worker runs together: a module's tests on one database (the module
fixtures, e.g. the records tests' `world`, are built per module and database, so no unit builds
one twice and a module's two databases run side by side), or one part of a module split with
`parts` (a test too long for one worker, e.g. the OpenAPI contract, runs as parts). A worker
takes the longest unit left (`EXPECTED_SECONDS`, else a second per test), so that the run ends
with short ones, and it takes its next unit only when one test of the last is left.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

#: Parameter ids that start a unit of their own: the database, and a part of a split module.
DATABASE_IDS = frozenset({"sqlite", "postgresql"})
PART_ID = re.compile(r"part\d+of\d+")

#: Seconds a unit takes on a quiet machine (`pytest --durations`, one database), for the modules
#: far from a second per test. Only the order matters: a stale figure costs balance, not results.
EXPECTED_SECONDS: dict[str, float] = {}


def parts(count: int) -> list[Any]:
    """Parameters splitting a test into `count` parts, each a work unit of its own."""
    return [pytest.param(index, id=f"part{index + 1}of{count}") for index in range(count)]


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its module (or class), with its database and part."""
    scope, _, name = nodeid.rpartition("::")
    if not scope:
        return nodeid
    keys: list[str] = []
    if name.endswith("]") and "[" in name:
        params = name[name.index("[") + 1 : -1].split("-")
        keys = [p for p in params if p in DATABASE_IDS or PART_ID.fullmatch(p)]
    return "::".join([scope, *keys])


class UnitScheduling(LoadScopeScheduling):
    """`loadscope`, with the units of `unit_of`, longest first."""

    def _split_scope(self, nodeid: str) -> str:
        return unit_of(nodeid)

    def _expected(self, unit: str) -> float:
        module = unit.split("::", 1)[0]
        return EXPECTED_SECONDS.get(module, float(len(self.workqueue[unit])))

    def _assign_work_unit(self, node: WorkerController) -> None:
        longest = max(self.workqueue, key=self._expected)
        self.workqueue.move_to_end(longest, last=False)
        super()._assign_work_unit(node)

    def _reschedule(self, node: WorkerController) -> None:
        # A worker runs a test once it knows the next one (or that none comes), so it gets its
        # next unit with one test left, not two (xdist's default): a unit given too early
        # waits behind a long test while another worker may be idle.
        if (
            not node.shutting_down
            and self.workqueue
            and self._pending_of(self.assigned_work[node]) > 1
        ):
            return
        super()._reschedule(node)
