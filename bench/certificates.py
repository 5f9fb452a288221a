"""Certificates benchmark: bulk issuance of an order of --certificates finished products until every
certificate is signed, anchored and served with its evidence (what its QR code leads to); and
`hallmark verify` of a certificate whose bundle holds --bundle-records records, against the
local node.

    python -m bench.certificates --certificates 40000 --verify-runs 0
    python -m bench.certificates --certificates 0 --bundle-records 40 --verify-runs 10

Hallmark's runtime starts on a fresh data directory (its own anvil; SQLite unless
--database-url), serves its API with uvicorn on a loopback port and runs its anchoring worker
as a supervised child process, as `hallmark serve` does. A supplier, a factory and a brand are
made with a key each. Set-up, not measured, over the batch endpoints: one lot handed to the
brand, the brand's products drawing from it, each product's casting and passing final QC
(the factory); the worker anchors all of it before the measurement starts.

Issuance (--certificates > 0): one `POST /api/v1/certificate-orders` naming every product; the
clock runs from the request until the order is done (every product issued or refused) and then
until every certificate record is in a mined batch. A certificate counts once it is issued and
anchored; a refused product, a certificate not anchored by --anchor-timeout, or one of a sample
of --sample certificates whose public document is not served with its anchoring evidence and a
signature that recovers to the issuer's account, or whose QR code (rendered on request, as a
customer's scan asks for it) does not hold the link to its verify page, is a failure (the run
exits 1). Figures: issue seconds, anchored-after seconds, total seconds and certificates per
second, against the goal of 40,000 in 60 s.

Verify (--verify-runs > 0): one more product with --bundle-records records in its story (its
product, draw and lot records and production steps), certified and anchored; its document and
bundle saved; then `python -m hallmark verify CERT --bundle BUNDLE --rpc URL` run --verify-runs
times as a user runs it (a new process each time: start-up included). A run counts only when it
exits 0 with the verdict genuine; its wall time is measured. Goal: at most 2 s.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import func, select

from bench.results import Result, add_output_argument, distribution, run_main
from bench.runtime import serve_in_thread, start_runtime
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_api_key, create_organisation
from hallmark.services.certificates import document as doc
from hallmark.store.models import AnchorBatch, AnchorQueueEntry, Record, RecordAnchor

SUPPLIER, FACTORY, BRAND = "Bench Refinery", "Bench Factory", "Bench Maison"
#: Rows per batch request of the set-up.
BATCH = 5000
#: Grams drawn for each product.
DRAWN = 5
#: Seconds between reads of the order's progress, as `hallmark certificates issue --order` reads
#: it (each read answers every product's outcome so far).
POLL = 0.5


def _ok(response: httpx.Response, what: str) -> Any:
    if not response.is_success:
        raise RuntimeError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")
    return response.json()


def _unanchored(runtime: Runtime, kind: str | None = None) -> int:
    """Records (of `kind`) not yet in a mined batch."""
    assert runtime.sessions is not None
    with runtime.sessions() as session:
        records = select(func.count()).select_from(Record)
        mined = (
            select(func.count())
            .select_from(RecordAnchor)
            .join(Record, Record.id == RecordAnchor.record_id)
            .join(AnchorBatch, AnchorBatch.id == RecordAnchor.batch_id)
            .where(AnchorBatch.mined_at.is_not(None))
        )
        if kind is not None:
            records = records.where(Record.kind == kind)
            mined = mined.where(Record.kind == kind)
        queued = session.scalar(select(func.count()).select_from(AnchorQueueEntry)) or 0
        total = int(session.scalar(records) or 0) - int(session.scalar(mined) or 0)
        return max(total, int(queued) if kind is None else 0)


def _wait_anchored(runtime: Runtime, timeout: float, kind: str | None = None) -> int:
    deadline = time.monotonic() + timeout
    while (pending := _unanchored(runtime, kind)) and time.monotonic() < deadline:
        time.sleep(0.25)
    return pending


class Bench:
    """The served Hallmark, its organisations and clients."""

    def __init__(self, runtime: Runtime, url: str, keys: dict[str, str], ids: dict[str, str]):
        self.runtime = runtime
        self.ids = ids
        self.clients = {
            name: httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600
            )
            for name, key in keys.items()
        }
        self.public = httpx.Client(base_url=url, timeout=60)

    def close(self) -> None:
        for client in (*self.clients.values(), self.public):
            client.close()

    def lot(self, grams: int) -> str:
        supplier = self.clients[SUPPLIER]
        lot = _ok(
            supplier.post(
                "/api/v1/lots",
                json={
                    "lot_number": f"LOT-{uuid.uuid4().hex[:10]}",
                    "material": "gold",
                    "grade": "Au999.9",
                    "quantity": f"{grams}.000",
                    "unit": "g",
                    "origin": {"name": "Recycled jewellery, Shenzhen", "country": "CN"},
                    "recycled": True,
                    "carbon_kg_co2e": "12.5",
                },
            ),
            "lot",
        )
        _ok(
            supplier.post(
                f"/api/v1/lots/{lot['id']}/transfer", json={"to_organisation": self.ids[BRAND]}
            ),
            "lot transfer",
        )
        return str(lot["id"])

    def products(self, count: int, lot: str, steps: int = 1) -> list[str]:
        """`count` finished products drawing from `lot`: `steps` casting or polishing steps and
        a passing final QC each."""
        serials = [f"C-{uuid.uuid4().hex[:14]}" for _ in range(count)]
        brand, factory = self.clients[BRAND], self.clients[FACTORY]
        for start in range(0, count, BATCH):
            rows = [
                {
                    "serial": serial,
                    "name": "Bench ring",
                    "category": "ring",
                    "assigned_factory": self.ids[FACTORY],
                    "materials": [{"lot": lot, "quantity": f"{DRAWN}.000", "unit": "g"}],
                }
                for serial in serials[start : start + BATCH]
            ]
            _ok(brand.post("/api/v1/products/batch", json=rows), "products")
        kinds = [("casting" if n == 0 else "polishing") for n in range(steps)] + ["qc_inspection"]
        for kind in kinds:
            for start in range(0, count, BATCH):
                rows = [
                    {
                        "product_serial": serial,
                        "kind": kind,
                        "occurred_at": "2026-11-20T09:30:00+08:00",
                        **({"result": "pass"} if kind == "qc_inspection" else {}),
                    }
                    for serial in serials[start : start + BATCH]
                ]
                _ok(factory.post("/api/v1/steps/batch", json=rows), f"{kind} steps")
        return serials


def setup(args: argparse.Namespace, base: Path) -> tuple[Runtime, uvicorn.Server, Bench]:
    runtime = start_runtime(base / "data", args.database_url, anchor_interval=0.5)
    assert runtime.sessions is not None
    keys, ids = {}, {}
    for name, kind in ((SUPPLIER, "supplier"), (FACTORY, "factory"), (BRAND, "brand")):
        organisation = create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name=name, kind=kind
        )
        ids[name] = organisation.id
        _, keys[name] = create_api_key(
            sessions=runtime.sessions, organisation_ref=name, principal_name="bench", role=kind
        )
    server, _thread, url = serve_in_thread(runtime)
    runtime.start_worker_process()
    return runtime, server, Bench(runtime, url, keys, ids)


def issuance(args: argparse.Namespace, result: Result, bench: Bench) -> None:
    setup_started = time.perf_counter()
    lot = bench.lot(DRAWN * args.certificates + 1000)
    serials = bench.products(args.certificates, lot)
    pending = _wait_anchored(bench.runtime, args.anchor_timeout)
    result.check(pending == 0, f"set-up: {pending} records not anchored before issuing")
    result.figures["setup_seconds"] = round(time.perf_counter() - setup_started, 1)
    brand = bench.clients[BRAND]
    started = time.perf_counter()
    order = _ok(
        brand.post("/api/v1/certificate-orders", json={"serials": serials, "reference": "BENCH"}),
        "order",
    )
    deadline = time.monotonic() + args.anchor_timeout
    while order["status"] != "done" and time.monotonic() < deadline:
        time.sleep(POLL)
        order = _ok(
            brand.get(f"/api/v1/certificate-orders/{order['id']}?results_limit=0"),
            "order progress",
        )
    issued_at = time.perf_counter()
    order = _ok(brand.get(f"/api/v1/certificate-orders/{order['id']}"), "order outcomes")
    result.check(order["status"] == "done", f"order not done: {order['processed']} processed")
    result.check(
        order["failed"] == 0,
        f"{order['failed']} products refused, first: "
        f"{next((r for r in order['results'] if r['status'] != 'issued'), None)}",
    )
    not_anchored = _wait_anchored(
        bench.runtime, max(deadline - time.monotonic(), 1), kind="certificate"
    )
    anchored_at = time.perf_counter()
    result.check(not_anchored == 0, f"{not_anchored} certificates not anchored in time")
    issued = [r["certificate"] for r in order["results"] if r["status"] == "issued"]
    sample = random.Random(7).sample(issued, min(args.sample, len(issued)))
    served = sum(_served(bench, certificate) for certificate in sample)
    result.check(
        served == len(sample),
        f"{len(sample) - served} sampled certificates not served with their evidence and QR code",
    )
    counted = len(issued) if not not_anchored else 0
    total = anchored_at - started
    result.figures.update(
        {
            "certificates": counted,
            "issue_seconds": round(issued_at - started, 2),
            "anchored_after_seconds": round(anchored_at - issued_at, 2),
            "total_seconds": round(total, 2),
            "certificates_per_second": round(counted / total, 1) if total else 0,
            "goal_seconds_for_40000": 60,
        }
    )
    print(
        f"issued {counted} certificates in {issued_at - started:.1f} s, all anchored "
        f"{anchored_at - issued_at:.1f} s later: {total:.1f} s in all "
        f"({result.figures['certificates_per_second']} per s)"
    )


def _served(bench: Bench, certificate: str) -> bool:
    """The certificate's public document is served with its anchoring evidence, its signature
    recovers to the issuer's account, and its QR code (rendered on request) holds the link to
    its verify page."""
    answer = bench.public.get(f"/api/v1/certificates/{certificate}/document")
    if not answer.is_success:
        return False
    document = answer.json()
    signer = doc.recover_signer(document, document["proof"]["signatureValue"])
    code = bench.public.get(f"/api/v1/certificates/{certificate}/qr.svg")
    number = document["credentialSubject"]["certificateNumber"]
    return (
        document["proof"]["anchor"] is not None
        and signer == document["issuer"]["account"]
        and code.is_success
        and code.headers.get("X-QR-URL", "").endswith(f"/v/{number}")
        and int(code.headers.get("X-QR-Version", "99")) <= 5
    )


def verification(args: argparse.Namespace, result: Result, bench: Bench, base: Path) -> None:
    # The story: the product record (with its draw), the lot, the steps (the last a final QC).
    steps = max(args.bundle_records - 3, 1)
    [serial] = bench.products(1, bench.lot(100), steps=steps)
    certificate = _ok(
        bench.clients[BRAND].post("/api/v1/certificates", json={"serial": serial}), "certificate"
    )
    pending = _wait_anchored(bench.runtime, args.anchor_timeout)
    result.check(pending == 0, f"{pending} records not anchored")
    document = _ok(bench.public.get(f"/api/v1/certificates/{certificate['id']}/document"), "doc")
    bundle = _ok(bench.public.get(f"/api/v1/certificates/{certificate['id']}/bundle"), "bundle")
    cert_file, bundle_file = base / "cert.json", base / "bundle.json"
    cert_file.write_text(json.dumps(document))
    bundle_file.write_text(json.dumps(bundle))
    assert bench.runtime.chain is not None
    command = [sys.executable, "-m", "hallmark", "verify", str(cert_file)]
    command += ["--bundle", str(bundle_file), "--rpc", bench.runtime.chain.url]
    seconds: list[float] = []
    for run in range(args.verify_runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        elapsed = time.perf_counter() - started
        if done.returncode == 0 and "verdict: genuine" in done.stdout:
            seconds.append(elapsed)
        else:
            result.fail(f"verify run {run + 1} exited {done.returncode}: {done.stdout[-300:]}")
    result.check(
        len(bundle["records"]) == args.bundle_records,
        f"the bundle holds {len(bundle['records'])} records, not {args.bundle_records}",
    )
    result.figures.update(
        {
            "bundle_records": len(bundle["records"]),
            "verify_seconds": {k: round(v, 3) for k, v in distribution(seconds).items()},
            "verify_goal_seconds": 2,
        }
    )
    if seconds:
        print(
            f"hallmark verify with a {len(bundle['records'])}-record bundle: "
            f"p50 {distribution(seconds)['p50']:.2f} s, max {max(seconds):.2f} s "
            f"over {len(seconds)} runs"
        )


def run(args: argparse.Namespace, result: Result) -> None:
    base = Path(tempfile.mkdtemp(prefix="hallmark-bench-certificates-"))
    runtime, server, bench = setup(args, base)
    try:
        if args.certificates > 0:
            issuance(args, result, bench)
        if args.verify_runs > 0:
            verification(args, result, bench, base)
    finally:
        bench.close()
        server.should_exit = True
        runtime.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--certificates", type=int, default=40_000)
    parser.add_argument("--bundle-records", type=int, default=40)
    parser.add_argument("--verify-runs", type=int, default=5)
    parser.add_argument("--sample", type=int, default=50, help="documents fetched to check")
    parser.add_argument("--anchor-timeout", type=float, default=900.0)
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temp dir")
    add_output_argument(parser)
    return parser.parse_args(argv)


def new_result(args: argparse.Namespace) -> Result:
    settings = {k: v for k, v in vars(args).items() if k not in {"json", "database_url"}}
    settings["database"] = "postgresql" if args.database_url else "sqlite"
    return Result(benchmark="certificates", kind="certificates", settings=settings)


if __name__ == "__main__":
    arguments = parse_args()
    run_main(new_result, run, arguments)
