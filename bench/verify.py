"""Verification benchmark: the verification API `GET /api/v1/certificates/{id}/verification`,
the verify page `GET /v/{id}` and, as the anchor, the plain lookup of the certificate's file
`GET /api/v1/certificates/{id}/document` (database only, no chain), with a growing number of
certificates stored.

Runs Hallmark as a user does (`hallmark serve`, its local anvil and worker, SQLite in a temporary
data directory or the PostgreSQL database of `--database-url`), then:

1. issues `--real` real certificates through the API: for each, a supplier's lot handed to the
   factory, a brand's product drawing 5 g of it, four production steps (casting, polishing,
   a passed inspection, packaging) and the certificate; the worker anchors every record and
   certificate on chain, and each must verify `genuine` before the load starts;
2. for each size of `--certificates`, grows the store to that many certificates by bulk insert:
   each added certificate is a copy of a real certificate's signed text (its record row, same
   text and hash, and its certificate row, with an id and number of its own), not anchored, so
   the tables and their indexes hold as many rows as a store of that size (a copy's own
   verification says `unknown`: it is not anchored, and it is not what the load asks for);
3. at each size, after one new block (so every certificate is checked afresh): the time of the
   first request for each real certificate (a fresh check against the chain, by one API
   process; the result names that process and how many of its fresh checks reused the
   verification it kept from the block before and how many were whole checks, from /readyz's
   `verifications` counts), then every other API process is warmed too (new connections until
   each process, named by /readyz's `process`, has answered every real certificate's
   verification and verify page at that block), so the steady state measured next does not
   depend on which process the load's connections land on; then autocannon
   (bench/verify_load.mjs) over `--connections` keep-alive connections for `--seconds` each on
   the verification API, the verify page and the lookup anchor, round-robin over the real
   certificates. Requests/s counts 2xx answers only;
   each phase is also reported second by second (its slowest second and worst second's p99), so
   a phase that slows down, for a while or all along, shows as such;
4. then, apart, a new block under load: the verification API loaded again for
   `--block-seconds` (default `--seconds`), with one empty block mined halfway through
   (anvil's `evm_mine`); reported: requests/s and p99 before the block, the slowest second and
   worst p99 after it, and the seconds until p99 recovered (null if it did not within the
   phase) — what a new block costs on a live chain, where each API process checks every
   certificate asked for once per block.

Every non-2xx answer, error, timeout, certificate not `genuine` or crash is a failure: it is
reported, the figures count only successful work, and the exit status is 1.

    python -m bench.verify --certificates 10000 1000000 --real 300
    python -m bench.verify --certificates 1000 5000 --real 8 --seconds 3   # a smoke check
"""

from __future__ import annotations

import argparse
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, make_url, select, text

from bench.ingest import hallmark, node_load, served
from bench.results import Result, add_output_argument, distribution, run_main
from hallmark.store.bulk import bulk_insert
from hallmark.store.db import make_engine, session_factory
from hallmark.store.models import Certificate, Record

SUPPLIER, FACTORY, BRAND = "Bench Refinery", "Bench Atelier", "Bench Maison"
#: Rows per bulk insert while growing the store.
INSERT_CHUNK = 5000
#: Seconds waited after mining a block before the fresh checks: more than the API processes'
#: block watchers take to use it (twice HALLMARK_VERIFY_BLOCK_SECONDS, 0.4 s by default).
WATCHER_WAIT = 1.0
#: New connections tried at most to reach every API process while warming them.
WARM_CONNECTIONS = 200
#: The phases loaded at each size: name, path of a certificate, what it is.
PHASES = (
    ("api", "/api/v1/certificates/{id}/verification", "verification API"),
    ("page", "/v/{id}", "verify page"),
    ("lookup", "/api/v1/certificates/{id}/document", "plain lookup (anchor)"),
)


def _ok(response: httpx.Response, what: str) -> Any:
    if not response.is_success:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:200]}")
    return response.json() if response.content else None


def issue_certificates(base_url: str, keys: dict[str, str], count: int) -> list[str]:
    """`count` certificates issued through the API, each for a product made from a lot; their
    ids."""

    def client(org: str) -> httpx.Client:
        return httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {keys[org]}"}, timeout=60
        )

    ids = []
    with client(SUPPLIER) as supplier, client(FACTORY) as factory, client(BRAND) as brand:
        directory = _ok(brand.get("/api/v1/organisations"), "directory")["data"]
        factory_id = next(o["id"] for o in directory if o["name"] == FACTORY)
        for n in range(count):
            lot = _ok(
                supplier.post(
                    "/api/v1/lots",
                    json={
                        "lot_number": f"LOT-{uuid.uuid4().hex[:10]}",
                        "material": "gold",
                        "grade": "Au999.9",
                        "quantity": "100.000",
                        "unit": "g",
                        "origin": {"name": "Witwatersrand", "country": "ZA"},
                        "carbon_kg_co2e": "50.0",
                        "ethics": {"conflict_free": True},
                    },
                ),
                "lot",
            )
            _ok(
                supplier.post(
                    f"/api/v1/lots/{lot['id']}/transfer", json={"to_organisation": factory_id}
                ),
                "lot transfer",
            )
            serial = f"BV-{uuid.uuid4().hex[:12]}"
            _ok(
                brand.post(
                    "/api/v1/products",
                    json={
                        "serial": serial,
                        "name": "Lune ring",
                        "category": "ring",
                        "assigned_factory": factory_id,
                    },
                ),
                "product",
            )
            _ok(
                factory.post(
                    f"/api/v1/products/{serial}/materials",
                    json={"materials": [{"lot": lot["id"], "quantity": "5.000", "unit": "g"}]},
                ),
                "materials",
            )
            for kind in ("casting", "polishing", "qc_inspection", "packaging"):
                step: dict[str, Any] = {
                    "product_serial": serial,
                    "kind": kind,
                    "occurred_at": "2026-11-20T09:30:00+08:00",
                    "parameters": {"tool": "T3"},
                }
                if kind == "qc_inspection":
                    step["result"] = "pass"
                _ok(factory.post("/api/v1/steps", json=step), f"step {kind}")
            certificate = _ok(
                brand.post(
                    "/api/v1/certificates",
                    json={"serial": serial, "engraving_summary": f"bench {n}"},
                ),
                "certificate",
            )
            ids.append(str(certificate["id"]))
    return ids


def wait_genuine(base_url: str, ids: list[str], timeout: float) -> list[str]:
    """Wait until every certificate verifies `genuine` (the worker anchors them); the ids that
    did not within `timeout`."""
    pending = list(ids)
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while pending and time.monotonic() < deadline:
            still = []
            for ref in pending:
                answer = client.get(f"/api/v1/certificates/{ref}/verification")
                if not (answer.is_success and answer.json()["verdict"] == "genuine"):
                    still.append(ref)
            pending = still
            if pending:
                time.sleep(1)
    return pending


def grow(database_url: str, real: list[str], target: int) -> float:
    """Bulk-insert copies of the real certificates until `target` are stored; the seconds it
    took."""
    started = time.monotonic()
    engine = make_engine(database_url)
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            stored = session.scalar(select(func.count()).select_from(Certificate)) or 0
            models = {
                c.id: c
                for c in session.scalars(select(Certificate).where(Certificate.id.in_(real)))
            }
            records = {r.id: r for r in session.scalars(select(Record).where(Record.id.in_(real)))}
        number = stored
        while number < target:
            chunk = min(INSERT_CHUNK, target - number)
            record_rows, certificate_rows = [], []
            for i in range(chunk):
                source = real[(number + i) % len(real)]
                record, certificate = records[source], models[source]
                new_id = str(uuid.uuid4())
                record_rows.append(
                    {
                        "id": new_id,
                        "kind": record.kind,
                        "organisation_id": record.organisation_id,
                        "principal_id": record.principal_id,
                        "record_hash": record.record_hash,
                        "canonical": record.canonical,
                        "corrects_id": None,
                        "created_at": record.created_at,
                    }
                )
                certificate_rows.append(
                    {
                        "id": new_id,
                        "number": f"HB-{number + i:010d}",
                        "product_id": certificate.product_id,
                        "organisation_id": certificate.organisation_id,
                        "order_id": None,
                        "issuance_id": certificate.issuance_id,
                        "certificate_hash": certificate.certificate_hash,
                        "signer": certificate.signer,
                        "signature": certificate.signature,
                        "personal": None,
                        "personal_salt": None,
                        "status": "valid",
                        "revoke_reason": None,
                        "revoked_at": None,
                        "supersedes_id": None,
                        "superseded_by_id": None,
                        "superseded_at": None,
                        "created_at": certificate.created_at,
                    }
                )
            with sessions() as session, session.begin():
                bulk_insert(session, Record.__table__, record_rows)  # type: ignore[arg-type]
                bulk_insert(session, Certificate.__table__, certificate_rows)  # type: ignore[arg-type]
            number += chunk
    finally:
        engine.dispose()
    return time.monotonic() - started


def mine_block(rpc_url: str) -> int:
    """Mine one empty block on the local chain; its number."""
    with httpx.Client(timeout=30) as client:
        client.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []})
        answer = client.post(
            rpc_url, json={"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []}
        )
    return int(answer.json()["result"], 16)


def api_process(client: httpx.Client) -> int:
    """The API process that answers on `client`'s connection (its pid, from /readyz)."""
    return int(_ok(client.get("/readyz"), "readiness")["process"])


def api_counts(client: httpx.Client) -> tuple[int, dict[str, int]]:
    """The API process that answers on `client`'s connection and how many verifications it has
    reused at a new block and checked whole since it started (from /readyz)."""
    ready = _ok(client.get("/readyz"), "readiness")
    counts = ready.get("verifications") or {}
    return int(ready["process"]), {k: int(counts.get(k, 0)) for k in ("reused", "whole")}


def _check_answer(result: Result, answer: httpx.Response, ref: str, size: int, block: int) -> None:
    body = answer.json() if answer.is_success else {}
    verdict = body.get("verdict", answer.status_code)
    result.check(verdict == "genuine", f"{size} stored: {ref} answered {verdict}")
    checked = body.get("checked_at_block")
    result.check(checked == block, f"{size} stored: {ref} checked at block {checked}, not {block}")


def _page(client: httpx.Client, ref: str) -> None:
    page = client.get(f"/v/{ref}")
    if not page.is_success:
        raise RuntimeError(f"verify page of {ref}: HTTP {page.status_code}")


def fresh_checks(
    base_url: str, ids: list[str], result: Result, size: int, block: int
) -> tuple[dict[str, float], int, dict[str, int]]:
    """The first request for each certificate after a new block: a check against the chain,
    over one connection (so by one API process); their distribution (ms), that process, and
    how many of them it answered by reusing its kept verification (nothing read had changed)
    and how many by a whole check (from /readyz's counts before and after, on the same
    connection). Each API process learns the new block from its block watcher within twice
    `HALLMARK_VERIFY_BLOCK_SECONDS` (0.4 s by default): after `WATCHER_WAIT`, every answer
    must say it was checked at that block (else it was a kept answer, and the run fails)."""
    time.sleep(WATCHER_WAIT)
    seconds = []
    with httpx.Client(base_url=base_url, timeout=60) as client:
        process, before = api_counts(client)
        for ref in ids:
            started = time.perf_counter()
            answer = client.get(f"/api/v1/certificates/{ref}/verification")
            seconds.append(time.perf_counter() - started)
            _check_answer(result, answer, ref, size, block)
        answered, after = api_counts(client)
        for ref in ids:
            _page(client, ref)
    result.check(
        answered == process,
        f"{size} stored: the fresh checks' connection moved from process {process} to {answered}",
    )
    kinds = {k: after[k] - before[k] for k in ("reused", "whole")}
    return {k: v * 1000 for k, v in distribution(seconds).items()}, process, kinds


def warm_processes(
    base_url: str,
    ids: list[str],
    processes: int,
    warmed: set[int],
    result: Result,
    size: int,
    block: int,
) -> dict[str, Any]:
    """Open new connections until `processes` API processes have answered every certificate's
    verification (checked at `block`) and verify page; `warmed` are those that already have.
    A process not reached within `WARM_CONNECTIONS` connections fails the run."""
    started = time.monotonic()
    seen = set(warmed)
    tried = 0
    while len(seen) < processes and tried < WARM_CONNECTIONS:
        tried += 1
        with httpx.Client(base_url=base_url, timeout=60) as client:  # a new connection
            process = api_process(client)
            if process in seen:
                continue
            for ref in ids:
                answer = client.get(f"/api/v1/certificates/{ref}/verification")
                _check_answer(result, answer, ref, size, block)
                _page(client, ref)
            seen.add(process)
    result.check(
        len(seen) == processes,
        f"{size} stored: {len(seen)} of {processes} API processes reached in {tried} connections",
    )
    return {"processes": len(seen), "connections": tried, "seconds": time.monotonic() - started}


def store_bytes(database_url: str) -> dict[str, int]:
    """The database's size on disk: the SQLite file (and its write-ahead log); on PostgreSQL
    the database and, of it, the `records` and `certificates` tables with their indexes."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        files = [path, path.with_name(path.name + "-wal")]
        return {"database": sum(f.stat().st_size for f in files if f.exists())}
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            database = connection.scalar(text("SELECT pg_database_size(current_database())"))
            tables = connection.scalar(
                text(
                    "SELECT pg_total_relation_size('records')"
                    " + pg_total_relation_size('certificates')"
                )
            )
    finally:
        engine.dispose()
    return {"database": int(database or 0), "records_and_certificates": int(tables or 0)}


def page_size(base_url: str, ref: str) -> dict[str, int]:
    """Bytes of the verify page's HTML and of the style sheets it links (a browser's first
    visit; later visits have the style sheet cached)."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        html = client.get(f"/v/{ref}")
        sheets = [
            len(client.get(href).content)
            for href in _stylesheets(html.text)
            if href.startswith("/")
        ]
    return {
        "html": len(html.content),
        "stylesheets": sum(sheets),
        "total": len(html.content) + sum(sheets),
    }


def _stylesheets(html: str) -> list[str]:
    found = []
    for part in html.split("<link")[1:]:
        tag = part.split(">", 1)[0]
        if 'rel="stylesheet"' in tag and 'href="' in tag:
            found.append(tag.split('href="', 1)[1].split('"', 1)[0])
    return found


def load(
    base_url: str,
    paths: list[str],
    connections: int,
    seconds: float,
    *,
    mine_at: float | None = None,
    rpc_url: str | None = None,
) -> dict[str, Any]:
    """GETs of `paths` from autocannon (bench/verify_load.mjs) in its own Node process; with
    `mine_at`, one block mined on `rpc_url` that many seconds into the load."""
    options = ["--connections", str(connections), "--seconds", str(seconds)]
    if mine_at is not None:
        options += ["--mine-at", str(mine_at), "--rpc", str(rpc_url)]
    return node_load("verify_load.mjs", [base_url], paths, options, seconds)


def record_load(result: Result, what: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The figures of one load phase, from 2xx answers only; any other answer, error or timeout
    is a failure of the run."""
    for name in ("non_2xx", "errors", "timeouts"):
        result.check(not answer[name], f"{what}: {answer[name]} {name}")
    figures = {
        "requests_2xx": answer["ok"],
        "seconds": answer["seconds"],
        "requests_per_second": answer["ok"] / answer["seconds"],
        "latency_ms": {k: answer[k] for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")},
        "bytes_per_answer": answer["bytes_per_answer"],
        "non_2xx": answer["non_2xx"],
        "errors": answer["errors"],
        "timeouts": answer["timeouts"],
        # second by second: a phase that slows down for a while, or all along, shows here
        "slowest_second_requests_per_second": answer.get("slowest_bin_requests_per_second"),
        "worst_second_p99_ms": answer.get("worst_bin_p99_ms"),
        "seconds_measured": answer.get("bins", []),
    }
    print(
        f"{what}: {figures['requests_per_second']:,.0f} requests/s (2xx), p50 "
        f"{answer['p50_ms']:.1f} ms, p99 {answer['p99_ms']:.1f} ms, "
        f"{answer['bytes_per_answer']:,.0f} bytes per answer; slowest second "
        f"{_or_dash(answer.get('slowest_bin_requests_per_second'), 0)} requests/s, worst "
        f"second's p99 {_or_dash(answer.get('worst_bin_p99_ms'), 1)} ms; non-2xx "
        f"{answer['non_2xx']}, errors {answer['errors']}, timeouts {answer['timeouts']}",
        flush=True,
    )
    return figures


def _or_dash(value: float | None, decimals: int) -> str:
    return "—" if value is None else f"{value:,.{decimals}f}"


def record_new_block(result: Result, what: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The figures of the phase with a new block mined under load: the load's figures, and
    before and after the block. A block not mined, or p99 not recovered by the phase's end,
    is reported (recovered_after_seconds null), not a failure: it is what was measured."""
    figures = record_load(result, what, answer)
    block = answer.get("block")
    result.check(block is not None, f"{what}: no block mined during the load")
    if block is None:
        return figures
    before = block["before"]
    figures["block"] = {
        "number": block["number"],
        "mined_at_seconds": block["mined_at_seconds"],
        "before": {
            "requests_per_second": before["requests_per_second"],
            "p99_ms": before["p99_ms"],
        },
        "after_slowest_second_requests_per_second": block["slowest_bin_requests_per_second"],
        "after_worst_second_p99_ms": block["worst_bin_p99_ms"],
        "recovered_after_seconds": block["recovered_after_seconds"],
        "seconds_after": block["after"],
    }
    recovered = block["recovered_after_seconds"]
    print(
        f"{what}: block {block['number']} mined at {block['mined_at_seconds']:.1f} s; before it "
        f"{before['requests_per_second']:,.0f} requests/s, p99 "
        f"{_or_dash(before['p99_ms'], 1)} ms; after it the slowest second "
        f"{_or_dash(block['slowest_bin_requests_per_second'], 0)} requests/s, worst p99 "
        f"{_or_dash(block['worst_bin_p99_ms'], 1)} ms; p99 recovered "
        + ("never, within the phase" if recovered is None else f"after {recovered:.1f} s"),
        flush=True,
    )
    return figures


def measure(args: argparse.Namespace, result: Result) -> None:
    with served(result, args.database_url, args.processes) as server:
        env, base_url, database_url = server.env, server.base_url, server.database_url
        rpc_url = server.rpc_url
        keys = {}
        for name, kind in ((SUPPLIER, "supplier"), (FACTORY, "factory"), (BRAND, "brand")):
            hallmark(env, "admin", "org", "create", name, "--kind", kind)
            keys[name] = hallmark(env, "admin", "key", "create", name, "--role", kind).strip()
        started = time.monotonic()
        real = issue_certificates(base_url, keys, args.real)
        pending = wait_genuine(base_url, real, args.anchor_timeout)
        result.check(not pending, f"{len(pending)} real certificates not genuine in time")
        result.figures["seed"] = {"real": len(real), "seconds": time.monotonic() - started}
        if pending:
            return
        result.figures["page_bytes"] = page_size(base_url, real[0])
        sizes: dict[str, Any] = {}
        for size in sorted(args.certificates):
            grown = grow(database_url, real, size)
            block = mine_block(rpc_url)
            fresh, first, kinds = fresh_checks(base_url, real, result, size, block)
            figures: dict[str, Any] = {
                "grow_seconds": grown,
                "store_bytes": store_bytes(database_url),
                "block": block,
                "fresh_check_ms": fresh,
                # Which API process made the fresh checks, and how many of them reused its
                # kept verification (nothing read had changed) or were whole checks.
                "fresh_checks": {"process": first, **kinds},
                "warm": warm_processes(
                    base_url, real, args.processes, {first}, result, size, block
                ),
            }
            for phase, template, what in PHASES:
                paths = [template.format(id=ref) for ref in real]
                answer = load(base_url, paths, args.connections, args.seconds)
                figures[phase] = record_load(result, f"{size:,} stored, {what}", answer)
            paths = [PHASES[0][1].format(id=ref) for ref in real]
            block_seconds = args.block_seconds or args.seconds
            answer = load(
                base_url,
                paths,
                args.connections,
                block_seconds,
                mine_at=block_seconds / 2,
                rpc_url=rpc_url,
            )
            figures["new_block"] = record_new_block(
                result, f"{size:,} stored, verification API, a block mined under load", answer
            )
            print(
                f"{size:,} stored: fresh check after a new block p50 "
                f"{figures['fresh_check_ms']['p50']:.1f} ms, p99 "
                f"{figures['fresh_check_ms']['p99']:.1f} ms ({len(real)} certificates: "
                f"{kinds['reused']} reused, {kinds['whole']} whole, by process {first}); "
                f"grown in {grown:.1f} s; database "
                f"{figures['store_bytes']['database'] / 1e6:,.0f} MB",
                flush=True,
            )
            sizes[str(size)] = figures
        result.figures["sizes"] = sizes
        smallest, largest = (
            sizes[str(min(args.certificates))],
            sizes[str(max(args.certificates))],
        )
        result.figures["cost_ratio"] = {
            phase: {
                "p99": largest[phase]["latency_ms"]["p99_ms"]
                / max(smallest[phase]["latency_ms"]["p99_ms"], 1e-9),
                "time_per_request": smallest[phase]["requests_per_second"]
                / max(largest[phase]["requests_per_second"], 1e-9),
            }
            for phase, _, _ in PHASES
        }
        result.figures["largest"] = largest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    parser.add_argument("--processes", type=int, default=2, help="API processes of the server")
    parser.add_argument(
        "--certificates",
        type=int,
        nargs="+",
        default=[10_000, 1_000_000],
        help="certificates stored at each size measured",
    )
    parser.add_argument("--real", type=int, default=300, help="certificates issued for real")
    parser.add_argument("--connections", type=int, default=32, help="load connections")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds of load per phase")
    parser.add_argument(
        "--block-seconds",
        type=float,
        default=None,
        help="seconds of the load with a new block mined halfway (default: --seconds)",
    )
    parser.add_argument(
        "--anchor-timeout", type=float, default=300.0, help="seconds for the real ones to anchor"
    )
    add_output_argument(parser)
    args = parser.parse_args(argv)
    if args.real < 1 or min(args.certificates) < args.real:
        parser.error("--real must be at least 1 and at most the smallest --certificates")
    return args


def new_result(args: argparse.Namespace) -> Result:
    return Result(
        benchmark="verify",
        kind="verify",
        settings={
            "database": "postgresql" if args.database_url else "sqlite",
            "processes": args.processes,
            "certificates": sorted(args.certificates),
            "real": args.real,
            "connections": args.connections,
            "seconds": args.seconds,
            "block_seconds": args.block_seconds or args.seconds,
        },
    )


if __name__ == "__main__":
    run_main(new_result, measure, parse_args())
