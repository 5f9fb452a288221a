"""How pytest-xdist shares the tests among its workers (`--dist loadscope`, as `./scripts/test`
runs them).

A work unit is what one worker runs together: a module's tests on one database (the module
fixtures, e.g. the records tests' `world`, are built per module and database, so no unit builds
one twice and a module's two databases run side by side), or one part of a module split with
`parts` (a test too long for one worker, e.g. the OpenAPI contract, runs as parts), or one test
of a module of `TEST_UNITS` (long tests that share no module fixture, e.g. those that start
`hallmark serve`: as one unit such a module alone would outlast the rest of the run). A worker
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

#: Modules whose tests (each on one database) are units of their own: long tests, mostly waiting
#: for the processes they start, with no fixture wider than a test's but the session's.
TEST_UNITS = frozenset(
    {
        "tests/anchoring/test_anchor_recovery.py",
        "tests/anchoring/test_worker_process.py",
        "tests/designs/test_similarity_goals.py",
        "tests/foundation/test_serve.py",
        "tests/store/test_stalls.py",
    }
)

#: Seconds a unit took (its tests' setup, call and teardown in a 3-worker run, both databases,
#: 1-minute load average 5 to 10, 2026-12-04), for the units of 20 s or more that take over two
#: seconds a test; any other unit counts a second a test. The tests of `TEST_UNITS`: the sum of
#: their setup, call and teardown in a 3-worker run of those five modules alone, with coverage,
#: both databases, under other jobs' load (1-minute load average 4 to 9, 2026-12-04). Only the
#: order matters: a stale figure costs balance, never a result.
EXPECTED_SECONDS: dict[str, float] = {
    "tests/designs/test_similarity_goals.py::"
    "test_image_copies_found_and_lookalikes_not_flagged": 126,
    "tests/certificates/test_verifier_parity.py::sqlite": 101,
    "tests/certificates/test_verifier_parity.py::postgresql": 98,
    "tests/certificates/test_certificates.py::postgresql": 96,
    "tests/designs/test_rights.py::postgresql": 87,
    "tests/foundation/test_compiler.py": 80,
    "tests/foundation/test_serve.py::test_serve_with_several_api_processes": 78,
    "tests/designs/test_evidence.py::postgresql": 73,
    "tests/certificates/test_certificates.py::sqlite": 70,
    "tests/console/test_console_pages.py::postgresql": 64,
    "tests/anchoring/test_anchor_recovery.py::"
    "test_a_worker_killed_mid_batch_loses_and_duplicates_nothing::postgresql": 59,
    "tests/designs/test_rights.py::sqlite": 57,
    "tests/api/test_flags.py::sqlite": 56,
    "tests/anchoring/test_anchor_leadership.py": 54,
    "tests/designs/test_evidence.py::sqlite": 53,
    "tests/console/test_design_pages.py::postgresql": 53,
    "tests/foundation/test_serve.py::test_serve_killed_leaves_no_process_behind": 52,
    "tests/certificates/test_verification.py::postgresql": 50,
    "tests/console/test_stalls.py": 50,
    "tests/certificates/test_order_resume.py::postgresql": 50,
    "tests/designs/test_registry.py::postgresql": 50,
    "tests/store/test_conflicts.py::postgresql": 50,
    "tests/records/test_openapi_contract.py::sqlite::part1of3": 48,
    "tests/certificates/test_verification.py::sqlite": 47,
    "tests/records/test_openapi_contract.py::sqlite::part3of3": 46,
    "tests/api/test_admin_cli.py::postgresql": 45,
    "tests/store/test_durability.py": 44,
    "tests/designs/test_reassign.py::sqlite": 44,
    "tests/pages/test_design_rights_browser.py": 42,
    "tests/console/test_design_pages.py::sqlite": 41,
    "tests/pages/test_verify_page_browser.py::postgresql": 40,
    "tests/certificates/test_order_resume.py::sqlite": 40,
    "tests/foundation/test_readyz.py": 40,
    "tests/api/test_hostile_serve.py": 39,
    "tests/pages/test_console_browser.py": 39,
    "tests/foundation/test_deployment.py": 39,
    "tests/records/test_openapi_contract.py::postgresql::part2of3": 39,
    "tests/anchoring/test_anchor_faults.py": 38,
    "tests/anchoring/test_anchor_faults.py::sqlite": 38,
    "tests/pages/test_design_console_browser.py": 37,
    "tests/certificates/test_certificate_design.py::postgresql": 36,
    "tests/store/test_stalls.py::test_answers_while_another_process_holds_the_write_lock": 36,
    "tests/designs/test_cli_designs.py::postgresql": 35,
    "tests/designs/test_filing_paths.py::postgresql": 35,
    "tests/anchoring/test_worker_process.py::"
    "test_a_killed_worker_process_is_restarted_and_anchoring_goes_on": 35,
    "tests/anchoring/test_anchor_recovery.py::"
    "test_a_worker_killed_mid_batch_loses_and_duplicates_nothing::sqlite": 35,
    "tests/certificates/test_certificate_design.py::sqlite": 34,
    "tests/anchoring/test_anchor_faults.py::postgresql": 34,
    "tests/api/test_admin_cli.py::sqlite": 34,
    "tests/anchoring/test_anchor_formation.py::postgresql": 34,
    "tests/certificates/test_certificate_v1_records.py": 33,
    "tests/anchoring/test_worker_process.py::"
    "test_serve_anchors_through_a_worker_process_of_its_own::postgresql": 33,
    "tests/store/test_conflicts.py::sqlite": 32,
    "tests/anchoring/test_contract_versions.py": 31,
    "tests/store/test_stalls.py::"
    "test_denials_answer_while_the_write_lock_is_held_and_are_audited_after": 31,
    "tests/anchoring/test_fee_replacement.py::postgresql": 30,
    "tests/store/test_bounded_transaction.py": 30,
    "tests/foundation/test_node_port.py": 29,
    "tests/console/test_sign_in.py::postgresql": 29,
    "tests/pages/test_verify_page_browser.py::sqlite": 28,
    "tests/records/test_openapi_contract.py::postgresql::part1of3": 28,
    "tests/api/test_flags.py::postgresql": 27,
    "tests/designs/test_cli_designs.py::sqlite": 26,
    "tests/anchoring/test_worker_process.py::"
    "test_serve_anchors_through_a_worker_process_of_its_own::sqlite": 26,
    "tests/designs/test_console_evidence.py::postgresql": 25,
    "tests/anchoring/test_worker_process.py::"
    "test_a_killed_serve_takes_its_worker_process_with_it": 25,
    "tests/anchoring/test_anchor_formation.py::sqlite": 23,
    "tests/anchoring/test_worker_process.py::test_sigterm_stops_serve_and_its_worker_process": 22,
    "tests/anchoring/test_anchor_worker.py::sqlite": 21,
    "tests/designs/test_reassign.py::postgresql": 21,
    "tests/foundation/test_serve.py::test_serve_becomes_ready_and_stops_cleanly": 21,
    "tests/certificates/test_certificates_compromise.py::postgresql": 20,
}


def parts(count: int) -> list[Any]:
    """Parameters splitting a test into `count` parts, each a work unit of its own."""
    return [pytest.param(index, id=f"part{index + 1}of{count}") for index in range(count)]


def unit_of(nodeid: str) -> str:
    """The work unit of a test: its module (or class), or the test itself in a module of
    `TEST_UNITS`, with its database and part."""
    scope, _, name = nodeid.rpartition("::")
    if not scope:
        return nodeid
    if nodeid.partition("::")[0] in TEST_UNITS:
        scope = f"{scope}::{name.partition('[')[0]}"
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
        return EXPECTED_SECONDS.get(unit, float(len(self.workqueue[unit])))

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
