"""A certificate issued after `hallmark deploy --new` whose records were anchored on contracts
version 1 stays verifiable: its document, its bundle (each record with the ledger it was anchored
on) and `hallmark verify`; a v1 record's evidence pointed elsewhere is found out."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from hallmark.api.app import create_app
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_api_key, create_organisation
from hallmark.services.anchoring.status import records_status
from hallmark.services.certificates import verifier
from hallmark.store.models import Record
from tests.certificates.builders import LEDGER_ABI, REGISTRY_ABI, complete_product, fetch
from tests.certificates.test_verifier_parity import JavaScriptVerifier, outcome, python_answer
from tests.conftest import World
from tests.records.factories import BRAND, FACTORY, SUPPLIER

FAST = {"anchor_interval": 0.2, "anchor_retry_max": 0.5, "worker_standby_interval": 0.2}
ORGANISATIONS = {SUPPLIER: "supplier", FACTORY: "factory", BRAND: "brand"}


def _v1_world(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> tuple[Runtime, dict[str, Any], dict[str, str]]:
    """A Hallmark whose recorded deployment is version 1, with a supplier, a factory and a
    brand and a key each."""
    settings = make_settings(**FAST)
    first = Runtime(settings)
    try:
        first.start_for_deploy()
        first.deploy(version="1.0.0")
    finally:
        first.stop()
    runtime = start_runtime(settings)
    assert runtime.sessions is not None
    organisations, keys = {}, {}
    for name, kind in ORGANISATIONS.items():
        organisations[name] = create_organisation(
            sessions=runtime.sessions, chain=runtime.chain_access(), name=name, kind=kind
        )
        _, keys[f"{name}/{kind}"] = create_api_key(
            sessions=runtime.sessions, organisation_ref=name, principal_name="writer", role=kind
        )
    return runtime, organisations, keys


def _anchor_everything(runtime: Runtime) -> None:
    """Run the worker until every stored record is anchored, then stop it (as `hallmark serve`
    is stopped before and restarted after `deploy --new`)."""
    assert runtime.sessions is not None
    worker = runtime.start_worker()
    try:
        deadline = time.monotonic() + 360
        while True:
            with runtime.sessions() as session:
                ids = list(session.scalars(select(Record.id)))
                found = records_status(session=session, record_ids=ids)
            if all(found[i].status in ("anchored", "confirmed") for i in ids):
                return
            assert time.monotonic() < deadline, {i: found[i].status for i in ids}
            time.sleep(0.2)
    finally:
        worker.stop()
        runtime.worker = None


def _verify(runtime: Runtime, document: Any, bundle: Any) -> verifier.Report:
    assert runtime.chain is not None
    return verifier.verify_at(
        runtime.chain.url,
        document=document,
        bundle=bundle,
        ledger_abi=LEDGER_ABI,
        registry_abi=REGISTRY_ABI,
    )


def test_certificate_over_records_anchored_on_version_1_verifies(
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
    tmp_path: Path,
) -> None:
    runtime, organisations, keys = _v1_world(make_settings, start_runtime)
    with TestClient(create_app(runtime)) as http:
        world = World(runtime=runtime, http=http, organisations=organisations, keys=keys)
        serial = complete_product(world)
        _anchor_everything(runtime)
        v1_ledger = runtime.ledger
        assert v1_ledger.version == 1

        runtime.deploy()  # `hallmark deploy --new`: version 2 beside version 1
        v2_ledger = runtime.ledger
        assert v2_ledger.version == 2
        issued = http.post(
            "/api/v1/certificates", json={"serial": serial}, headers=world.headers(BRAND)
        )
        assert issued.status_code == 201, issued.text
        _anchor_everything(runtime)
        document, bundle = fetch(world, issued.json()["id"])

    assert document["credentialStatus"]["ledger"] == v2_ledger.address
    assert document["proof"]["deployment"]["ledger"] == v2_ledger.address
    assert document["proof"]["anchor"]["ledger"] == v2_ledger.address
    ledgers = {(r["anchor"]["ledger"], r["anchor"]["contractsVersion"]) for r in bundle["records"]}
    assert ledgers == {(v1_ledger.address, "1.0.0")}  # every record of the story is on v1

    report = _verify(runtime, document, bundle)
    assert report.ok, report.as_json()
    [bundle_check] = [c for c in report.checks if c.name == "bundle"]
    assert f"{len(bundle['records'])} records verified" in bundle_check.detail

    # `hallmark verify` with only the files and the node.
    assert runtime.chain is not None
    cert_file, bundle_file = tmp_path / "cert.json", tmp_path / "bundle.json"
    cert_file.write_text(json.dumps(document))
    bundle_file.write_text(json.dumps(bundle))
    command = [sys.executable, "-m", "hallmark", "verify", str(cert_file)]
    command += ["--bundle", str(bundle_file), "--rpc", runtime.chain.url]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: genuine" in done.stdout

    # A v1 record's evidence pointed at another transaction, claimed on version 2, or moved to
    # another root is found out.
    bundles = [bundle]
    first = bundle["records"][0]["anchor"]
    other = next(
        r["anchor"]["transaction"]
        for r in bundle["records"]
        if r["anchor"]["transaction"] != first["transaction"]
    )
    for change in (
        {"transaction": document["proof"]["anchor"]["transaction"]},
        {
            "transaction": other,
            "block": next(
                r["anchor"]["block"]
                for r in bundle["records"]
                if r["anchor"]["transaction"] == other
            ),
        },
        {"contractsVersion": "2.0.0"},
        {"ledger": v2_ledger.address},
    ):
        tampered = copy.deepcopy(bundle)
        tampered["records"][0]["anchor"] |= change
        bundles.append(tampered)
        report = _verify(runtime, document, tampered)
        assert report.verdict == "tampered", (change, report.as_json())
        assert [c.name for c in report.checks if not c.ok] == ["bundle"], change

    # The JavaScript verifier (docs/VERIFY.md, section 7) gives the same verdict and the same
    # outcome of every check, for the genuine bundle and each changed one.
    javascript = JavaScriptVerifier(tmp_path)
    try:
        for index, files in enumerate(bundles):
            changed = tmp_path / f"bundle-{index}.json"
            changed.write_text(json.dumps(files))
            python = python_answer(cert_file, changed, runtime.chain.url)
            assert outcome(javascript.answer(cert_file, changed, runtime.chain.url)) == outcome(
                python
            ), (index, python)
            assert python["ok"] == (index == 0), python
    finally:
        javascript.close()
