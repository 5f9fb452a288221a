"""How parallel workers share the tests (`tests.scheduling`): a module's databases and parts are
units of their own, and the longest unit left goes first."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests import scheduling
from tests.scheduling import EXPECTED_SECONDS, PART_ID, UnitScheduling, parts, unit_of


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/a.py::test_x", "tests/a.py"),
        ("tests/a.py::test_x[sqlite]", "tests/a.py::sqlite"),
        ("tests/a.py::test_x[postgresql-create lot-supplier]", "tests/a.py::postgresql"),
        ("tests/a.py::test_x[sqlite-part2of3]", "tests/a.py::sqlite::part2of3"),
        ("tests/a.py::Cls::test_x[postgresql]", "tests/a.py::Cls::postgresql"),
        ("tests/a.py::test_x[sqlite_file-0]", "tests/a.py"),
    ],
)
def test_a_unit_is_a_module_on_one_database_or_a_part(nodeid: str, unit: str) -> None:
    assert unit_of(nodeid) == unit


def test_a_test_of_a_module_of_test_units_is_a_unit_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(scheduling, "TEST_UNITS", frozenset({"tests/b.py"}))
    assert unit_of("tests/b.py::test_x") == "tests/b.py::test_x"
    assert unit_of("tests/b.py::test_x[sqlite]") == "tests/b.py::test_x::sqlite"
    assert unit_of("tests/b.py::test_x[postgresql-3]") == "tests/b.py::test_x::postgresql"
    assert unit_of("tests/b.py::Cls::test_x[sqlite-part1of2]") == (
        "tests/b.py::Cls::test_x::sqlite::part1of2"
    )
    assert unit_of("tests/a.py::test_x[sqlite]") == "tests/a.py::sqlite"  # other modules: as before


def test_the_modules_of_test_units_exist_and_share_no_module_fixture() -> None:
    """Their tests may run on different workers: a module fixture would be built on each."""
    root = Path(__file__).parents[2]
    for module in scheduling.TEST_UNITS:
        path = root / module
        for source in (path, path.parent / "conftest.py", root / "tests" / "conftest.py"):
            text = source.read_text() if source.exists() else ""
            assert 'scope="module"' not in text and 'scope="package"' not in text, source


def test_every_expected_figure_names_a_unit_of_the_suite() -> None:
    """A figure under a name no unit has (a module since split into tests) counts for nothing."""
    root = Path(__file__).parents[2]
    for unit in EXPECTED_SECONDS:
        module, *keys = unit.split("::")
        assert (root / module).is_file(), unit
        names = [k for k in keys if k not in scheduling.DATABASE_IDS and not PART_ID.match(k)]
        if module in scheduling.TEST_UNITS:
            assert len(names) == 1, unit
            assert f"def {names[0]}(" in (root / module).read_text(), unit
        else:
            assert names == [], unit


def test_parts_are_named_for_their_units() -> None:
    assert [p.id for p in parts(3)] == ["part1of3", "part2of3", "part3of3"]
    assert [p.values for p in parts(2)] == [(0,), (1,)]


class _Node:
    def __init__(self) -> None:
        self.sent: list[list[int]] = []
        self.shutting_down = False

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True


def _scheduler(collection: list[str]) -> tuple[UnitScheduling, Any]:
    """A scheduler with one worker, its work queue built from `collection` as xdist would."""
    scheduler = UnitScheduling.__new__(UnitScheduling)
    node = _Node()
    scheduler.workqueue = OrderedDict()
    for nodeid in collection:
        scheduler.workqueue.setdefault(unit_of(nodeid), {})[nodeid] = False
    scheduler.assigned_work = {node: {}}  # type: ignore[dict-item]
    scheduler.registered_collections = {node: collection}  # type: ignore[dict-item]
    scheduler.log = SimpleNamespace()  # type: ignore[assignment]
    return scheduler, node


def test_the_longest_unit_goes_first(monkeypatch: pytest.MonkeyPatch) -> None:
    collection = [
        "tests/few.py::test_a",
        "tests/many.py::test_a[sqlite]",
        "tests/many.py::test_b[sqlite]",
        "tests/many.py::test_c[sqlite]",
        "tests/slow.py::test_a",
    ]
    scheduler, node = _scheduler(collection)
    scheduler._assign_work_unit(node)
    assert node.sent == [[1, 2, 3]]  # three tests beat one, without a figure
    monkeypatch.setitem(EXPECTED_SECONDS, "tests/slow.py", 100.0)
    scheduler._assign_work_unit(node)
    assert node.sent[-1] == [4]  # a unit measured as long beats its test count
    scheduler._assign_work_unit(node)
    assert node.sent[-1] == [0]
    assert not scheduler.workqueue
