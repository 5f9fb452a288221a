"""The benchmark harness: failures fail a run (non-zero exit, no figure from failed work), the
percentile is the nearest rank, and the generator writes the doc's tables from JSON results."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from bench.results import ROOT, Result, percentile, run_main
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench import (
    anchoring,
    certificates,
    designs_import,
    designs_search,
    ingest,
    one_tx_per_record,
    report,
    run,
    verify,
)
from hallmark.config import Settings
from hallmark.core.times import utc
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_organisation
from hallmark.store.db import transaction
from hallmark.store.models import AnchorBatch, Record, RecordAnchor
from hallmark.store.records import NewRecord, add_records
from tests.conftest import POSTGRES_URL

SIZE = 5


def _ingest_args(**overrides: Any) -> argparse.Namespace:
    args = ingest.parse_args(["--requests", "4", "--batch", str(SIZE), "--no-worker"])
    for name, value in overrides.items():
        setattr(args, name, value)
    return args


def _server(failing: set[int]) -> httpx.MockTransport:
    """The batch endpoint, answering the requests numbered in `failing` with HTTP 503."""
    seen: list[int] = []

    def handle(request: httpx.Request) -> httpx.Response:
        number = len(seen)
        seen.append(number)
        if number in failing:
            return httpx.Response(503, json={"error": {"code": "unavailable", "message": "busy"}})
        steps = json.loads(request.content)
        rows = [{"id": f"r{number}-{i}", "status": "created"} for i in range(len(steps))]
        return httpx.Response(201, json={"created": len(rows), "results": rows})

    return httpx.MockTransport(handle)


@pytest.mark.parametrize("rate", [0.0, 1e9], ids=["closed loop", "open loop"])
def test_a_non_2xx_answer_fails_the_batch_benchmark_and_is_not_counted(
    tmp_path: Path, rate: float
) -> None:
    args = _ingest_args(rate=rate)
    result = ingest.new_result(args)
    ingest.batch_phase(
        args, result, "http://bench.invalid", "key", ["S-1", "S-2"], "", transport=_server({1})
    )
    output = tmp_path / "result.json"
    assert result.finish(output) == 1
    document = json.loads(output.read_text())
    assert document["ok"] is False
    assert any("HTTP 503" in failure for failure in document["failures"])
    batch = document["figures"]["batch"]
    assert batch["steps"] == 3 * SIZE  # three answered 201, one 503
    assert batch["steps_offered"] == 4 * SIZE
    assert batch["request_latency_s"]["count"] == 3
    assert batch["steps_per_second"] == pytest.approx(3 * SIZE / batch["seconds"])


def test_a_batch_answered_with_fewer_steps_created_is_a_failure(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        rows = [{"id": "only-one"}]
        return httpx.Response(201, json={"created": 1, "results": rows})

    args = _ingest_args(requests=1)
    result = ingest.new_result(args)
    ingest.batch_phase(
        args,
        result,
        "http://bench.invalid",
        "key",
        ["S-1"],
        "",
        transport=httpx.MockTransport(handle),
    )
    assert result.finish(None) == 1
    assert result.failures == [f"batch request: 1 of {SIZE} steps created"]


def test_all_2xx_answers_make_a_successful_run(tmp_path: Path) -> None:
    args = _ingest_args()
    result = ingest.new_result(args)
    ingest.batch_phase(
        args, result, "http://bench.invalid", "key", ["S-1", "S-2"], "", transport=_server(set())
    )
    assert result.finish(tmp_path / "ok.json") == 0
    assert json.loads((tmp_path / "ok.json").read_text())["figures"]["batch"]["steps"] == 4 * SIZE


def test_non_2xx_single_step_answers_fail_the_run_and_only_2xx_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load = {
        "ok": 100,
        "requests": 130,
        "seconds": 2.0,
        "non_2xx": 30,
        "errors": 0,
        "timeouts": 0,
        "p50_ms": 5,
        "p90_ms": 8,
        "p99_ms": 20,
        "max_ms": 40,
    }
    monkeypatch.setattr(ingest, "bench_single", lambda *args, **kwargs: load)
    args = _ingest_args(requests=0, single_seconds=2.0)
    result = ingest.new_result(args)
    ingest.single_phase(args, result, "http://bench.invalid", "key", ["S-1"], "", tmp_path)
    assert result.finish(None) == 1
    assert result.failures == ["single-step endpoint: 30 non_2xx"]
    assert result.figures["single"]["requests_per_second"] == 50.0


def test_an_exception_in_a_benchmark_is_a_failure_and_exits_non_zero(tmp_path: Path) -> None:
    def body(args: argparse.Namespace, result: Result) -> None:
        result.figures["half"] = 1
        raise TimeoutError("the deadline expired with 12 records not anchored")

    args = argparse.Namespace(json=tmp_path / "crash.json")
    with pytest.raises(SystemExit) as exited:
        run_main(lambda _: Result(benchmark="x", kind="x"), body, args)
    assert exited.value.code == 1
    document = json.loads((tmp_path / "crash.json").read_text())
    assert document["ok"] is False
    assert "12 records not anchored" in document["failures"][0]
    assert {"cores", "model", "load_average"} <= document["machine"].keys()
    assert document["commit"] and document["date"] and document["command"]


def test_percentile_is_the_nearest_rank() -> None:
    values = list(range(1, 102))  # 101 values
    assert percentile(values, 95) == 96  # a truncated index (int(0.95 * n) - 1) gives 95
    assert percentile(values, 50) == 51
    assert percentile([3.0], 95) == 3.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 95)


@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=300), st.integers(1, 100))
def test_percentile_is_the_smallest_value_with_p_percent_at_or_below(
    values: list[int], p: int
) -> None:
    value = percentile(values, p)
    n = len(values)
    assert sum(v <= value for v in values) * 100 >= p * n
    assert sum(v < value for v in values) * 100 < p * n


def _result(
    scenario: str, number: int, ok: bool, figures: dict[str, Any], **extra: Any
) -> dict[str, Any]:
    return {
        "benchmark": "ingest",
        "kind": "ingest.batch",
        "scenario": scenario,
        "run": number,
        "ok": ok,
        "failures": [] if ok else ["batch request: HTTP 503: busy"],
        "date": f"2026-12-04T06:1{number}:00+00:00",
        "commit": "abc123",
        "command": "python -m bench.ingest --json r.json --requests 20 --batch 5000",
        "machine": {
            "cores": 2,
            "model": "Test CPU",
            "system": "Linux",
            "load_average": [0.5, 0.4, 0.3],
            "cpu_steal_percent": 0.1,
        },
        "settings": {"database": "sqlite", "rate": 0},
        "figures": figures,
        **extra,
    }


def _batch_figures(steps_per_second: float, p95: float) -> dict[str, Any]:
    return {
        "batch": {
            "steps_per_second": steps_per_second,
            "request_latency_s": {"p50": 0.5, "p99": 0.9},
        },
        "batch_anchoring": {
            "from_creation_s": {"p95": p95},
            "from_answer_s": {"p95": p95 - 0.3},
            "lag_after_intake_s": 4.0,
            "records_per_batch": 1000,
            "gas_per_record": {"overall": 49.1},
        },
    }


def test_the_generator_writes_the_tables_from_the_json_results(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"command": "scripts/bench ingest"}))
    runs = [
        _result("ingest-batch-sqlite", 1, True, _batch_figures(10_000, 1.5)),
        _result("ingest-batch-sqlite", 2, True, _batch_figures(12_000, 2.5)),
        _result("ingest-batch-sqlite", 3, False, _batch_figures(99_999, 0.1)),
    ]
    for number, document in enumerate(runs, 1):
        (folder / f"ingest-batch-sqlite-{number}.json").write_text(json.dumps(document))
    smoke = _result("ingest-batch-sqlite", 1, True, _batch_figures(500, 9.0), quick=True)
    (folder / "smoke-ingest-batch-sqlite-1.json").write_text(json.dumps(smoke))
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text(f"# Benchmarks\n\nbefore\n\n{report.BEGIN}\nold tables\n{report.END}\n\nafter\n")

    assert report.main([str(folder), "--docs", str(doc)]) == 0

    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nbefore\n") and text.endswith("\n\nafter\n")
    assert "old tables" not in text
    assert "median of 1 or 3 run(s) per scenario" in text
    # The failed run's 99,999 is neither the median nor in the range.
    row = next(line for line in text.splitlines() if line.startswith("| `ingest-batch-sqlite`"))
    assert "| 2 of 3 |" in row
    assert "11,000 (10,000-12,000) steps/s" in row
    assert "2.00 (1.50-2.50)" in row  # accepted -> anchored p95 from creation
    assert "1.70 (1.20-2.20)" in row  # and from the answer
    assert "49.1" in row
    assert "99,999" not in text
    assert (
        "| batch endpoint, steps/s, worker running (unpaced) | ≥ 10,000 | `ingest-batch-sqlite` "
        "| 11,000 (10,000-12,000) steps/s | met |"
    ) in text
    # A smoke check is a row of its own, never mixed into a measurement nor held to a target.
    assert "| `ingest-batch-sqlite (quick)` | 1 of 1 | 500 steps/s |" in text
    assert "`ingest-batch-sqlite (quick)` | 500" not in text.split("### Ingestion")[0]
    assert "`ingest-batch-sqlite` run 3: batch request: HTTP 503: busy" in text
    assert "`scripts/bench ingest`" in text and "2 cores, Test CPU" in text
    assert f"- Results: `{folder}/`" in text
    assert "python -m bench.ingest --requests 20 --batch 5000   # ingest-batch-sqlite" in text


def test_the_doc_has_the_generated_section() -> None:
    text = (ROOT / "docs" / "BENCHMARKS.md").read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1


def test_the_runner_records_a_benchmark_that_wrote_nothing_as_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        run, "command", lambda *args: [sys.executable, "-c", "import sys; sys.exit(3)"]
    )
    scenario = run.Scenario("crashing", "ingest", (), ())
    assert run.run_one(scenario, 1, 1, tmp_path, quick=True, postgres=None) is False
    document = json.loads((tmp_path / "crashing-1.json").read_text())
    assert document["ok"] is False and document["exit_status"] == 3
    assert document["failures"] == ["the benchmark wrote no result (exit status 3)"]


def test_a_run_that_cannot_get_its_database_fails_and_the_others_go_on(tmp_path: Path) -> None:
    scenario = run.Scenario("needs-postgres", "ingest", (), (), "postgresql")
    unreachable = "postgresql://bench@127.0.0.1:1/none"  # nothing listens on port 1
    assert run.run_one(scenario, 1, 1, tmp_path, quick=True, postgres=unreachable) is False
    document = json.loads((tmp_path / "needs-postgres-1.json").read_text())
    assert document["ok"] is False
    assert "not run: OperationalError" in document["failures"][0]


def test_the_runner_selects_by_benchmark_or_scenario_and_refuses_unknown_names() -> None:
    assert {s.name for s in run.select(["anchoring-backlog"], postgres=False)} == {
        "anchoring-backlog-sqlite"
    }
    assert {s.name for s in run.select(["anchoring-backlog"], postgres=True)} == {
        "anchoring-backlog-sqlite",
        "anchoring-backlog-postgresql",
    }
    assert {s.benchmark for s in run.select([], postgres=False)} == {
        "ingest",
        "anchoring",
        "one_tx_per_record",
        "certificates",
        "designs_search",
        "designs_import",
        "verify",
    }
    assert {s.name for s in run.select(["designs_search"], postgres=False)} == {
        "designs-search",
        "designs-partial",
    }
    assert {s.name for s in run.select(["designs-import"], postgres=True)} == {
        "designs-import-sqlite",
        "designs-import-postgresql",
    }
    with pytest.raises(SystemExit, match="unknown benchmark nope"):
        run.select(["nope"], postgres=False)


def test_an_expired_anchoring_deadline_fails_the_backlog_benchmark(tmp_path: Path) -> None:
    output = tmp_path / "backlog.json"
    args = anchoring.parse_args(
        ["--json", str(output), "--anchor-timeout", "0", "backlog", "--records", "30"]
    )
    with pytest.raises(SystemExit) as exited:
        run_main(anchoring.new_result, anchoring.backlog, args)
    assert exited.value.code == 1
    document = json.loads(output.read_text())
    assert document["ok"] is False
    assert "records not anchored within 0 s" in " ".join(document["failures"])


@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_every_scenario_is_a_command_its_benchmark_accepts(quick: bool) -> None:
    modules = {
        "ingest": ingest,
        "anchoring": anchoring,
        "one_tx_per_record": one_tx_per_record,
        "certificates": certificates,
        "designs_search": designs_search,
        "designs_import": designs_import,
        "verify": verify,
    }
    for scenario in run.SCENARIOS:
        url = "postgresql://bench@db/bench" if scenario.database == "postgresql" else None
        line = run.command(scenario, Path("result.json"), quick, url)
        assert line[1:3] == ["-m", f"bench.{scenario.benchmark}"]
        args = modules[scenario.benchmark].parse_args(line[3:])
        assert args.json == Path("result.json")
        assert getattr(args, "database_url", None) == url


@pytest.mark.skipif(not POSTGRES_URL, reason="HALLMARK_TEST_DATABASE_URL not set (CI sets it)")
def test_every_postgresql_run_gets_a_fresh_database_dropped_afterwards() -> None:
    assert POSTGRES_URL is not None
    with run.fresh_database(POSTGRES_URL) as url:
        name = make_url(url).database
        assert name and name.startswith("hallmark_bench_")
        with psycopg.connect(
            make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        ) as connection:
            tables = connection.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
            ).fetchone()
            assert tables == (0,)
    admin = (
        make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    with psycopg.connect(admin) as connection:
        left = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        assert left.fetchone() is None


def test_a_drain_shorter_than_its_minimum_is_a_failure_not_a_rate(tmp_path: Path) -> None:
    output = tmp_path / "backlog.json"
    default = anchoring.parse_args(["--json", str(output), "backlog"])
    assert default.min_seconds == 10  # a rate needs a drain of 10 s or more
    # However slow a busy machine is, the 30 records drain in less than a day.
    args = anchoring.parse_args(
        ["--json", str(output), "backlog", "--records", "30", "--min-seconds", "86400"]
    )
    with pytest.raises(SystemExit) as exited:
        run_main(anchoring.new_result, anchoring.backlog, args)
    assert exited.value.code == 1
    document = json.loads(output.read_text())
    assert document["figures"]["anchored"] == 30  # everything was anchored, and still:
    [failure] = document["failures"]
    assert "under 86400 s: the backlog is too small for a rate" in failure
    # The clock started with the worker: its start-up is inside the drain.
    drain = document["figures"]
    assert 0 <= drain["startup_seconds"] <= drain["seconds"]


def test_accepted_to_anchored_is_reported_from_creation_and_from_the_answer_for_the_phase_only(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    runtime = start_runtime(make_settings(anchor_interval=0.05))
    assert runtime.sessions is not None
    org = create_organisation(
        sessions=runtime.sessions, chain=runtime.chain_access(), name="Bench", kind="factory"
    )

    def insert(count: int) -> list[str]:
        with transaction(runtime.sessions) as session:  # type: ignore[arg-type]
            stored = add_records(
                session, [NewRecord("production_step", org.id, {"n": i}) for i in range(count)]
            )
        return [record.id for record in stored]

    insert(5)  # before the phase: not part of it
    start = datetime.now(UTC)
    phase = insert(20)
    end = datetime.now(UTC)
    runtime.start_worker()
    url = runtime.settings.effective_database_url
    assert ingest.wait_anchored(url, timeout=60) == 0
    with runtime.sessions() as session:
        created = {id_: at for id_, at in session.execute(select(Record.id, Record.created_at))}
    answered = {id_: utc(created[id_]) + timedelta(seconds=0.25) for id_ in phase}

    figures = ingest.anchoring_figures(url, start, end, answered)

    assert figures["records"] == figures["anchored"] == 20
    from_creation, from_answer = figures["from_creation_s"], figures["from_answer_s"]
    assert from_creation["count"] == from_answer["count"] == 20
    for key in ("p50", "p95", "max"):
        assert from_answer[key] == pytest.approx(from_creation[key] - 0.25)
    with runtime.sessions() as session:
        batches = session.execute(
            select(AnchorBatch.gas_used, AnchorBatch.record_count, AnchorBatch.mined_at)
            .join(RecordAnchor, RecordAnchor.batch_id == AnchorBatch.id)
            .where(RecordAnchor.record_id.in_(phase))
            .distinct()
        ).all()
    assert figures["batches"] == len(batches)
    gas, count = sum(b.gas_used for b in batches), sum(b.record_count for b in batches)
    assert figures["gas_per_record"]["overall"] == pytest.approx(gas / count)
    last_mined = max(utc(b.mined_at) for b in batches)
    assert figures["lag_after_intake_s"] == pytest.approx((last_mined - end).total_seconds())


# --- the design benchmarks ------------------------------------------------------------------------


def test_the_code_table_is_checked_against_the_flat_index_in_the_same_run(tmp_path: Path) -> None:
    output = tmp_path / "codes.json"
    args = designs_search.parse_args(
        ["--json", str(output), "codes", "--sizes", "2000", "8000", "--queries", "30"]
    )
    with pytest.raises(SystemExit) as exited:
        run_main(designs_search.new_result, args.run, args)
    assert exited.value.code == 0
    document = json.loads(output.read_text())
    assert document["ok"] is True and document["kind"] == "designs.codes"
    figures = document["figures"]
    assert set(figures["sizes"]) == {"2000", "8000"}
    large = figures["sizes"]["8000"]
    assert large["codes"] == 8000 * 8 and large["queries"] == 60
    assert large["missed"] == 0 and large["differing_from_flat"] == 0
    assert large["flat_ms"]["count"] == 60 and large["exact_us"]["count"] == 30
    assert figures["ratio_p95"] == pytest.approx(
        large["p95_ms"] / figures["sizes"]["2000"]["p95_ms"]
    )


def test_a_code_table_answer_unlike_the_flat_scan_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = designs_search.CodeTable.within

    def loses_the_first(self: Any, code: int, radius: int) -> Any:
        owners, distances = real(self, code, radius)
        return owners[1:], distances[1:]

    monkeypatch.setattr(designs_search.CodeTable, "within", loses_the_first)
    output = tmp_path / "codes.json"
    args = designs_search.parse_args(
        ["--json", str(output), "codes", "--sizes", "1000", "--queries", "20"]
    )
    with pytest.raises(SystemExit) as exited:
        run_main(designs_search.new_result, args.run, args)
    assert exited.value.code == 1
    failures = " ".join(json.loads(output.read_text())["failures"])
    assert "near codes missed at 1000" in failures
    assert "answers differ from the flat scan at 1000" in failures


def _designs_result(scenario: str, kind: str, figures: dict[str, Any]) -> dict[str, Any]:
    return _result(scenario, 1, True, figures) | {
        "benchmark": kind.split(".", maxsplit=1)[0],
        "kind": kind,
        "command": f"python -m bench.x --json r.json {scenario}",
        "settings": {"designs": 60, "filler": 3000},
    }


def test_the_design_tables_and_targets_come_from_the_results(tmp_path: Path) -> None:
    def size(p95: float, flat: float, exact: float) -> dict[str, Any]:
        return {
            "table_ms": {"p50": p95 / 2, "p95": p95},
            "p95_ms": p95,
            "cpu_p95_ms": p95 / 3,
            "flat_p95_ms": flat,
            "flat_over_table_p95": flat / p95,
            "exact_us": {"p95": exact},
            "build_s": 2.0,
        }

    folder = tmp_path / "results"
    folder.mkdir()
    results = {
        "designs-search": _designs_result(
            "designs-search",
            "designs.codes",
            {
                "sizes": {"100000": size(0.5, 2.5, 2.0), "1000000": size(2.0, 25.0, 3.0)},
                "ratio_p95": 4.0,
                "ratio_cpu_p95": 2.0,
                "flat_ratio_p95": 10.0,
                "exact_ratio_p95": 1.5,
            },
        ),
        "designs-partial": _designs_result(
            "designs-partial",
            "designs.partial",
            {
                "vote_index": "inverted",
                "found": 118,
                "queries": 120,
                "search_ms": {"p50": 90.0, "p95": 150.0},
                "search_cpu_ms": {"p95": 80.0},
                "probe_ms": {"p95": 300.0},
            },
        ),
        "designs-import-sqlite": _designs_result(
            "designs-import-sqlite",
            "designs.import",
            {
                "designs": 1000,
                "import_seconds": 400.0,
                "designs_per_second": 2.5,
                "filing_seconds": 60.0,
                "gas_per_design": 112420.0,
                "commitment_gas_per_design": 94.0,
                "register_gas_per_design": 112326.0,
            },
        ),
    }
    for name, document in results.items():
        (folder / f"{name}-1.json").write_text(json.dumps(document))
    text = report.render(report.load([folder]))

    targets = text.split("### Targets")[1].split("###")[0]
    assert "| 2.00 ms | met |" in targets  # stage 1 p95 at 1M
    assert "| `designs-search` | 4.00 | **not met** |" in targets  # the 100k -> 1M ratio
    assert "| `designs-search` | 1.50 | met |" in targets  # exact lookup
    assert "| `designs-partial` | 150 ms | met |" in targets
    assert "| `designs-search` | 1 of 1 | 1,000,000 (8,000,000 codes) | 1.00 / 2.00 |" in text
    assert "| 25.00 | 12.5 | 3.0 | 2.0 |" in text  # flat p95, flat / table, exact µs, build
    assert "| `designs-search` | 1,000,000 / 100,000 | 4.00 | 2.00 | 10.00 | 1.50 |" in text
    assert "| `designs-partial` | 1 of 1 | 60 + 3,000 | inverted | 118 of 120 | 90 / 150 |" in text
    assert "| `designs-import-sqlite` | 1 of 1 | 1,000 | 400.0 | 2.50 | 60.0 |" in text
    assert "112,420 (94 + 112,326)" in text


def test_the_verify_page_size_target_is_in_kilobytes(tmp_path: Path) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    for scenario, total in (("verify-sqlite", 15_796), ("verify-postgresql", 60_400)):
        document = _result(scenario, 1, True, {"page_bytes": {"total": total}}) | {
            "benchmark": "verify",
            "command": f"python -m bench.verify --json r.json {scenario}",
        }
        (folder / f"{scenario}-1.json").write_text(json.dumps(document))
    targets = report.render(report.load([folder])).split("### Targets")[1].split("###")[0]
    assert "| `verify-sqlite` | 15.8 kB | met |" in targets
    assert "| `verify-postgresql` | 60.4 kB | **not met** |" in targets


def test_non_2xx_verification_answers_fail_the_run_and_only_2xx_count() -> None:
    args = verify.parse_args(["--certificates", "100", "--real", "2"])
    result = verify.new_result(args)
    answer = {
        "ok": 90,
        "requests": 100,
        "seconds": 2.0,
        "non_2xx": 10,
        "errors": 0,
        "timeouts": 1,
        "p50_ms": 5,
        "p90_ms": 8,
        "p99_ms": 20,
        "max_ms": 40,
        "bytes_per_answer": 12_000,
    }
    figures = verify.record_load(result, "100 stored, verification API", answer)
    assert figures["requests_per_second"] == 45.0
    assert result.finish(None) == 1
    assert result.failures == [
        "100 stored, verification API: 10 non_2xx",
        "100 stored, verification API: 1 timeouts",
    ]


def test_verify_store_size_counts_the_sqlite_file_and_its_log(tmp_path: Path) -> None:
    database = tmp_path / "store.sqlite3"
    database.write_bytes(b"x" * 4096)
    assert verify.store_bytes(f"sqlite:///{database}") == {"database": 4096}
    (tmp_path / "store.sqlite3-wal").write_bytes(b"y" * 1000)
    assert verify.store_bytes(f"sqlite:///{database}") == {"database": 5096}


def _verify_run(number: int, api_rps: float, block: dict[str, Any] | None) -> dict[str, Any]:
    phase = {"requests_per_second": api_rps, "latency_ms": {"p99_ms": 8.0}}
    size: dict[str, Any] = {"api": phase, "page": phase, "lookup": phase}
    if block is not None:
        size["api"] = phase | {
            "slowest_second_requests_per_second": api_rps * 0.9,
            "worst_second_p99_ms": 9.0,
        }
        size["new_block"] = {"requests_per_second": 4_000.0, "block": block}
    return _result("verify-sqlite", number, True, {"sizes": {"1000": size}}) | {
        "benchmark": "verify",
        "kind": "verify",
        "command": "python -m bench.verify --json r.json --certificates 1000",
        "settings": {"database": "sqlite", "certificates": [1000]},
    }


def test_the_verify_table_shows_a_new_block_under_load_and_names_a_collapsed_phase(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    block = {
        "number": 12,
        "before": {"requests_per_second": 5_000.0, "p99_ms": 10.0},
        "after_slowest_second_requests_per_second": 300.0,
        "after_worst_second_p99_ms": 900.0,
        "recovered_after_seconds": 2.0,
    }
    runs = [
        _verify_run(1, 10_000.0, block),
        _verify_run(2, 12.0, block | {"recovered_after_seconds": None}),
        _verify_run(3, 9_000.0, block | {"recovered_after_seconds": 4.0}),
    ]
    for run_ in runs:
        (folder / f"verify-sqlite-{run_['run']}.json").write_text(json.dumps(run_))
    text = report.render(report.load([folder]))
    row = next(line for line in text.splitlines() if line.startswith("| `verify-sqlite`"))
    assert (
        "| 5,000 (5,000-5,000) / 10.0 (10.0-10.0) | 300 (300-300) / 900.0 (900.0-900.0) "
        "| 3.0 (2.0-4.0), never in 1 of 3 |"
    ) in row
    assert "| 8,100 (11-9,000) / 9.0 (9.0-9.0) |" in row  # the API's slowest second
    assert (
        "- `verify-sqlite` run 2, 1,000 stored, api: 12 requests/s for the whole phase "
        "(median of the runs 9,000)" in text
    )
    # results from before the new figures still render, with dashes
    older = tmp_path / "older"
    older.mkdir()
    for number in (1, 2):
        run_ = _verify_run(number, 10_000.0, None)
        (older / f"verify-sqlite-{number}.json").write_text(json.dumps(run_))
    assert "| — / — | — | — / — | — / — | — |" in report.render(report.load([older]))


def test_a_load_with_no_block_mined_fails_the_verify_run() -> None:
    result = verify.new_result(verify.parse_args(["--certificates", "100", "--real", "2"]))
    answer = {
        "ok": 100,
        "requests": 100,
        "seconds": 2.0,
        "non_2xx": 0,
        "errors": 0,
        "timeouts": 0,
        "p50_ms": 5,
        "p90_ms": 8,
        "p99_ms": 20,
        "max_ms": 40,
        "bytes_per_answer": 12_000,
    }
    verify.record_new_block(result, "block", answer)
    assert result.failures == ["block: no block mined during the load"]


def test_the_verify_load_reports_each_second_and_a_block_mined_under_it() -> None:
    """bench/verify_load.mjs against a small server that also plays the chain's RPC: the
    load's seconds, and the block it mined, with the load before and after it."""
    mined: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(b'{"verdict": "genuine"}')

        def do_POST(self) -> None:
            call = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            mined.append(call["method"])
            result = "0x7" if call["method"] == "eth_blockNumber" else "0x0"
            self._answer(json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode())

        def _answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        answer = verify.load(base, ["/a", "/b"], 2, 3, mine_at=1.0, rpc_url=f"{base}/rpc")
    finally:
        server.shutdown()
        server.server_close()
    assert mined == ["evm_mine", "eth_blockNumber"]
    assert answer["ok"] > 0 and answer["non_2xx"] == 0
    assert answer["bin_seconds"] == 1 and 1 <= len(answer["bins"]) <= 3
    assert {"from_seconds", "requests_per_second", "p99_ms"} <= set(answer["bins"][0])
    block = answer["block"]
    assert block["number"] == 7 and block["mined_at_seconds"] >= 1.0
    assert block["before"]["requests_per_second"] > 0
    result = verify.new_result(verify.parse_args(["--certificates", "100", "--real", "2"]))
    figures = verify.record_new_block(result, "block", answer)
    assert result.failures == []
    assert figures["block"]["number"] == 7
