"""The design registry end to end: register over the API, commit through the outbox, file on a
real chain with priority, conflicts, review queue, lineage, access to files, crash recovery,
front-running by another organisation, reindex from the chain."""

from __future__ import annotations

import hashlib
import io
import json
import math
import shutil
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import func, select
from typer.testing import CliRunner

from hallmark.chain.registry import CommitmentRef
from hallmark.cli import app
from hallmark.core.errors import ContractRevertError
from hallmark.core.hashing import design_commitment
from hallmark.core.merkle import StandardMerkleTree
from hallmark.services.access.organisations import create_api_key, organisation_account
from hallmark.services.anchoring.worker import AnchorWorker
from hallmark.services.designs.registry import RegistryIndex, reindex
from hallmark.store.models import DesignRegistration, DesignReview, Organisation, Record
from hallmark.store.records import RECORD_KINDS
from tests.conftest import World, anchor_worker
from tests.designs.corpus import draw_design, encode, image_variant
from tests.serving import served_api
from tests.shared_chain import create_organisations

LEGAL = "Lune Legal"
FAST = {"anchor_interval": 0.2, "anchor_retry_max": 0.5, "worker_standby_interval": 0.2}


# --- helpers -----------------------------------------------------------------------------------


def register(
    world: World,
    data: bytes,
    *,
    filename: str = "design.png",
    org: str = LEGAL,
    role: str = "legal",
    **fields: Any,
) -> Any:
    metadata = {"title": "Moon pendant", "owner_ref": "customer:4711", **fields}
    return world.http.post(
        "/api/v1/designs",
        headers=world.headers(org, role),
        files={"file": (filename, data, "application/octet-stream")},
        data={"metadata": json.dumps(metadata)},
    )


def search(world: World, data: bytes, org: str = LEGAL, role: str = "legal") -> Any:
    answer = world.http.post(
        "/api/v1/designs/search",
        headers=world.headers(org, role),
        files={"file": ("probe.png", data, "application/octet-stream")},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def crash_before_broadcast(crashing: AnchorWorker, step: str) -> None:
    """Step `crashing` until its sender `step` (a step's name) has committed a signed
    transaction and is killed before broadcasting it (the kill happens in its broadcast)."""
    sender = dict(crashing._steps)[step].__self__  # type: ignore[attr-defined]

    def crash(raw_tx: str) -> None:
        raise KeyboardInterrupt("process killed after the commit, before the broadcast")

    sender._broadcast = crash
    deadline = time.monotonic() + 90
    crashed = False
    while time.monotonic() < deadline and not crashed:
        try:
            time.sleep(min(crashing.step(), 0.05))
        except KeyboardInterrupt:
            crashed = True
    assert crashed


def make_worker(world: World) -> AnchorWorker:
    runtime = world.runtime
    assert runtime.chain is not None
    worker = anchor_worker(runtime, **FAST)
    runtime.add_design_filer(worker, runtime.chain)
    return worker


@pytest.fixture
def workers(world: World) -> Iterator[list[AnchorWorker]]:
    made: list[AnchorWorker] = []
    yield made
    for worker in made:
        assert worker.stop()
        worker.leader.release()


def statuses(world: World) -> dict[str, str]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return {
            number: status
            for number, status in session.execute(
                select(DesignRegistration.number, DesignRegistration.status)
            )
        }


def file_all(world: World, workers: list[AnchorWorker], timeout: float = 40.0) -> None:
    """Step a worker until no registration is committed or filing."""
    worker = make_worker(world)
    workers.append(worker)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(min(worker.step(), 0.05))
        if not {"committed", "filing"} & set(statuses(world).values()):
            return
    raise AssertionError(f"not filed in {timeout} s: {statuses(world)} {worker.report()}")


def counts(world: World) -> tuple[int, int, int]:
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        return (
            int(session.scalar(select(func.count()).select_from(DesignRegistration)) or 0),
            int(session.scalar(select(func.count()).select_from(Record)) or 0),
            int(session.scalar(select(func.count()).select_from(DesignReview)) or 0),
        )


def stored_files(world: World) -> int:
    files = world.runtime.settings.effective_files_dir
    return sum(1 for p in files.rglob("*") if p.is_file()) if files.exists() else 0


@pytest.fixture(scope="module")
def designs() -> list[np.ndarray]:
    return [draw_design(seed) for seed in (501, 502, 503, 504)]


# --- registration, filing, priority -------------------------------------------------------------


def test_register_then_filed_on_chain_with_priority_evidence(
    world: World, workers: list[AnchorWorker], designs: list[np.ndarray]
) -> None:
    data = encode(designs[0])
    answer = register(world, data, designers=["A. Chen"], inspiration=["lotus pond"])
    assert answer.status_code == 201, answer.text
    design = answer.json()["design"]
    assert design["status"] == "committed"
    assert design["fingerprint"] == hashlib.sha256(data).hexdigest()
    assert design["chain"]["tx_hash"] is None

    file_all(world, workers)

    shown = world.http.get(f"/api/v1/designs/{design['number']}", headers=world.headers(LEGAL))
    assert shown.status_code == 200, shown.text
    filed = shown.json()
    legal = world.organisations[LEGAL]
    assert filed["status"] == "registered"
    chain = filed["chain"]
    assert chain["registrant"] == legal.account_address
    assert chain["tx_hash"] and chain["block_number"] and chain["filed_at"]
    # Priority comes from the commitment's earlier block.
    assert chain["filed_block"] < chain["block_number"]
    priority = filed["priority"]
    assert priority["anchor_block"] == chain["filed_block"]
    assert priority["commitment"] == design_commitment(
        filed["fingerprint"], legal.account_address, priority["salt"]
    )
    assert priority["proof"] is not None
    # The metadata document hashes to the on-chain metadataHash; the owner is a salted hash.
    assert filed["metadata_hash"] == "0x" + hashlib.sha256(filed["metadata"].encode()).hexdigest()
    metadata = json.loads(filed["metadata"])
    assert metadata["owner"]["ref"] == "customer:4711"
    salted = bytes.fromhex(metadata["owner"]["salt"]) + b"customer:4711"
    assert filed["owner_ref_hash"] == "0x" + hashlib.sha256(salted).hexdigest()
    on_chain = world.runtime.registry.retrieve_design(filed["fingerprint"])
    assert on_chain.registrant == legal.account_address
    assert on_chain.metadata_hash == filed["metadata_hash"]
    assert on_chain.owner_ref == filed["owner_ref_hash"]
    assert on_chain.filed_block == chain["filed_block"]
    assert b"customer" not in bytes.fromhex(on_chain.owner_ref[2:])
    # Found by fingerprint and by lookups.
    by_sha = world.http.get(f"/api/v1/designs/{data_sha(data)}", headers=world.headers(LEGAL))
    assert by_sha.json()["number"] == design["number"]
    found = world.http.get(
        "/api/v1/designs", params={"designer": "a. chen"}, headers=world.headers(LEGAL)
    ).json()
    assert [d["number"] for d in found["data"]] == [design["number"]]
    found = world.http.get(
        "/api/v1/designs", params={"owner_ref": "customer:9"}, headers=world.headers(LEGAL)
    ).json()
    assert found["count"] == 0


def data_sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_exact_duplicate_is_refused_naming_the_registration(
    world: World, designs: list[np.ndarray]
) -> None:
    data = encode(designs[1])
    first = register(world, data, owner_ref="brand:maison-lune")
    assert first.status_code == 201
    before = counts(world)
    again = register(world, data, title="Same file, another title")
    assert again.status_code == 409, again.text
    error = again.json()["error"]
    assert error["code"] == "design_already_registered"
    assert error["details"]["registration"] == first.json()["design"]["number"]
    assert error["details"]["owner_ref"] == "brand:maison-lune"
    assert "registered_at" in error["details"] and "block_number" in error["details"]
    assert counts(world) == before


def test_near_duplicate_is_registered_flagged_and_queued(
    world: World, designs: list[np.ndarray]
) -> None:
    original = register(world, encode(designs[2]))
    assert original.status_code == 201
    rotated = image_variant(designs[2], "rotation", np.random.default_rng(7), 7)
    answer = register(world, rotated, filename="rotated.png", title="Rotated copy")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["design"]["flagged"] is True
    assert "never a verdict" in body["note"]
    [match] = [
        m for m in body["matches"] if m["registration"] == original.json()["design"]["number"]
    ]
    assert match["coverage"] > 0
    unrelated = register(world, encode(designs[3]), title="Unrelated")
    assert unrelated.json()["design"]["flagged"] is False

    queue = world.http.get("/api/v1/designs/reviews", headers=world.headers(LEGAL)).json()
    [entry] = queue["data"]
    assert entry["registration"] == body["design"]["number"]
    assert entry["state"] == "open"
    denied = world.http.get(
        "/api/v1/designs/reviews", headers=world.headers("Maison Lune", "brand")
    )
    assert denied.status_code == 403
    decided = world.http.post(
        f"/api/v1/designs/reviews/{entry['id']}",
        json={"decision": "derived", "note": "licensed variant"},
        headers=world.headers(LEGAL),
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["state"] == "derived" and decided.json()["reviewer"]
    twice = world.http.post(
        f"/api/v1/designs/reviews/{entry['id']}",
        json={"decision": "distinct"},
        headers=world.headers(LEGAL),
    )
    assert twice.status_code == 409
    bad = world.http.post(
        f"/api/v1/designs/reviews/{entry['id']}",
        json={"decision": "guilty"},
        headers=world.headers(LEGAL),
    )
    assert bad.status_code == 422
    assert (
        world.http.get("/api/v1/designs/reviews", headers=world.headers(LEGAL)).json()["count"] == 0
    )


def test_drafts_form_a_lineage_filed_in_order(
    world: World, workers: list[AnchorWorker], designs: list[np.ndarray]
) -> None:
    numbers = []
    parent = None
    for seed in (611, 612, 613):
        answer = register(world, encode(draw_design(seed)), title=f"draft {seed}", parent=parent)
        assert answer.status_code == 201, answer.text
        parent = answer.json()["design"]["number"]
        numbers.append(parent)
    shown = world.http.get(f"/api/v1/designs/{numbers[2]}", headers=world.headers(LEGAL)).json()
    assert shown["parent"] == numbers[1]
    assert shown["lineage"] == [numbers[1], numbers[0]]
    missing = register(world, encode(designs[0]), parent="D-2026-NOSUCHDRAFT")
    assert missing.status_code == 404

    file_all(world, workers)
    assert all(statuses(world)[n] == "registered" for n in numbers)
    logs = list(world.runtime.registry.retrieve_registered_logs())
    by_fingerprint = {log.fingerprint: log for log in logs}
    third = by_fingerprint[shown["fingerprint"]]
    second = world.http.get(f"/api/v1/designs/{numbers[1]}", headers=world.headers(LEGAL)).json()
    assert third.parent == second["fingerprint"]


def test_authorization_rules(world: World, designs: list[np.ndarray]) -> None:
    before = counts(world)
    data = encode(designs[0])
    missing = register(world, data, authorization="signed_confirmation")
    assert missing.status_code == 422
    assert missing.json()["error"]["details"]["field"] == "authorization_document"
    not_a_hash = register(
        world, data, authorization="signed_confirmation", authorization_document="signed.pdf"
    )
    assert not_a_hash.status_code == 422
    simple_with_document = register(world, data, authorization_document="ab" * 32)
    assert simple_with_document.status_code == 422
    bad_licence = register(world, data, licences=[{"ref": "museum motif", "document_sha256": "x"}])
    assert bad_licence.status_code == 422
    assert counts(world) == before
    document = hashlib.sha256(b"signed confirmation").hexdigest()
    signed = register(
        world,
        data,
        authorization="signed_confirmation",
        authorization_document=document,
        licences=[{"ref": "Palace Museum motif 12", "document_sha256": "cd" * 32}],
    )
    assert signed.status_code == 201, signed.text
    metadata = json.loads(signed.json()["design"]["metadata"])
    assert metadata["authorization"] == {"level": "signed_confirmation", "documentSha256": document}
    assert metadata["licences"] == [{"ref": "Palace Museum motif 12", "documentSha256": "cd" * 32}]
    # Only a registrar registers.
    brand = register(world, encode(designs[1]), org="Maison Lune", role="brand")
    assert brand.status_code == 403


def _bomb() -> bytes:
    buffer = io.BytesIO()
    Image.new("1", (6000, 6000)).save(buffer, format="PNG")
    return buffer.getvalue()


def _broken_stl() -> bytes:
    triangle = np.array([[0, 0, 0], [1, 0, 0], [0, math.nan, 0]], dtype=np.float32)
    body = struct.pack("<12fH", 0, 0, 0, *triangle.ravel().tolist(), 0)
    return b"\0" * 80 + struct.pack("<I", 1) + body


@pytest.mark.parametrize(
    ("name", "status"),
    [("bomb.png", 413), ("ring.stl", 415), ("broken.stl", 422), ("pendant.jpg", 415)],
)
def test_bad_files_are_refused_and_nothing_is_stored(
    world: World, designs: list[np.ndarray], name: str, status: int
) -> None:
    data = {
        "bomb.png": _bomb(),
        "ring.stl": encode(designs[0]),  # a PNG that claims to be a model
        "broken.stl": _broken_stl(),
        "pendant.jpg": b"not an image at all",
    }[name]
    before, files = counts(world), stored_files(world)
    answer = register(world, data, filename=name)
    assert answer.status_code == status, answer.text
    assert set(answer.json()["error"]) == {"code", "message", "details"}
    assert counts(world) == before
    assert stored_files(world) == files


# --- files: originals and thumbnails ------------------------------------------------------------


def test_originals_for_legal_and_the_owner_only_thumbnails_for_all(
    world: World, designs: list[np.ndarray]
) -> None:
    data = encode(designs[3])
    owner = world.organisations["Maison Lune"]
    answer = register(world, data, owner_ref="brand:maison-lune", owner_organisation=owner.id)
    number = answer.json()["design"]["number"]
    legal = world.http.get(f"/api/v1/designs/{number}/original", headers=world.headers(LEGAL))
    assert legal.status_code == 200 and legal.content == data
    owners = world.http.get(
        f"/api/v1/designs/{number}/original", headers=world.headers("Maison Lune", "reader")
    )
    assert owners.status_code == 200 and owners.content == data
    other = world.http.get(
        f"/api/v1/designs/{number}/original", headers=world.headers("Atelier Rivoli", "brand")
    )
    assert other.status_code == 403
    assert other.json()["error"]["code"] == "forbidden"
    thumb = world.http.get(
        f"/api/v1/designs/{number}/thumbnail", headers=world.headers("Atelier Rivoli", "brand")
    )
    assert thumb.status_code == 200
    picture = Image.open(io.BytesIO(thumb.content))
    assert picture.format == "PNG" and max(picture.size) <= 256
    assert thumb.content != data
    # The original is encrypted at rest: its bytes appear nowhere in the file store.
    files = world.runtime.settings.effective_files_dir
    assert all(data[:64] not in p.read_bytes() for p in files.rglob("*") if p.is_file())


# --- crash recovery, front-running, reindex ------------------------------------------------------


def test_crash_between_recording_and_sending_resumes_with_the_same_transaction(
    world: World, workers: list[AnchorWorker], designs: list[np.ndarray]
) -> None:
    answer = register(world, encode(designs[1]))
    number = answer.json()["design"]["number"]
    crashing = make_worker(world)
    workers.append(crashing)
    crash_before_broadcast(crashing, "design filing")
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        row = session.scalar(select(DesignRegistration).where(DesignRegistration.number == number))
        assert row is not None and row.status == "filing" and row.raw_tx
        recorded_tx = row.tx_hash
    assert world.runtime.chain is not None
    assert world.runtime.chain.retrieve_receipt(recorded_tx) is None  # never sent
    crashing.leader.release()

    file_all(world, workers)
    filed = world.http.get(f"/api/v1/designs/{number}", headers=world.headers(LEGAL)).json()
    assert filed["status"] == "registered"
    assert filed["chain"]["tx_hash"] == recorded_tx  # the recorded transaction, sent once


def _rival(world: World) -> tuple[Organisation, str]:
    create_organisations(world.runtime, {"Rival Legal": "legal"})
    assert world.runtime.sessions is not None
    _, key = create_api_key(
        sessions=world.runtime.sessions,
        organisation_ref="Rival Legal",
        principal_name="registrar",
        role="legal",
    )
    with world.runtime.sessions() as session:
        rival = session.scalar(select(Organisation).where(Organisation.name == "Rival Legal"))
        assert rival is not None
        session.expunge(rival)
    return rival, key


def test_another_organisation_cannot_take_priority_with_a_later_commitment(
    world: World, workers: list[AnchorWorker], designs: list[np.ndarray]
) -> None:
    data = encode(designs[2])
    fingerprint = data_sha(data)
    ours = register(world, data)
    assert ours.status_code == 201
    # Our commitment is anchored; the filing has not been sent yet.
    worker = make_worker(world)
    workers.append(worker)
    worker._steps.clear()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        time.sleep(min(worker.step(), 0.05))
        shown = world.http.get(f"/api/v1/designs/{fingerprint}", headers=world.headers(LEGAL))
        if shown.json()["priority"]["anchor_block"]:
            break
    assert worker.stop()
    worker.leader.release()
    workers.remove(worker)
    our_block = shown.json()["priority"]["anchor_block"]

    # A hostile registrar of another organisation saw the file: through Hallmark it is refused…
    rival, rival_key = _rival(world)
    world.keys["Rival Legal/legal"] = rival_key
    world.organisations["Rival Legal"] = rival
    through_api = register(world, data, org="Rival Legal", role="legal")
    assert through_api.status_code == 409
    # …so it commits on chain itself, later than us, and files first.
    account = organisation_account(rival, world.runtime.settings.passphrase)
    salt = "0x" + "77" * 32
    commitment = design_commitment(fingerprint, account.address, salt)
    tree = StandardMerkleTree.of([bytes.fromhex(commitment[2:])])
    root = "0x" + tree.root.hex()
    ledger = world.runtime.ledger
    ledger._send(account, "anchor", [bytes.fromhex(root[2:]), RECORD_KINDS["design_commitment"], 1])
    registry = world.runtime.registry
    assert world.runtime.chain is not None
    world.runtime.chain.retrieve("evm_mine")  # the registration comes in a later block

    # Copying our commitment (from the mempool) does not work for it.
    with pytest.raises(ContractRevertError) as copied:
        registry.send_register(
            account,
            fingerprint=fingerprint,
            perceptual_code=0,
            metadata_hash="0x" + "11" * 32,
            owner_ref="0x" + "22" * 32,
            parent=None,
            commitment=CommitmentRef(
                world.organisations[LEGAL].account_address,
                shown.json()["priority"]["batch_root"],
                "0x" + "00" * 32,
                tuple(shown.json()["priority"]["proof"]),
            ),
        )
    assert copied.value.error_name in {"CommitmentOfOtherOrganisation", "InvalidCommitmentProof"}
    registry.send_register(
        account,
        fingerprint=fingerprint,
        perceptual_code=0,
        metadata_hash="0x" + "11" * 32,
        owner_ref="0x" + "22" * 32,
        parent=None,
        commitment=CommitmentRef(account.address, root, salt, ()),
    )
    assert registry.retrieve_design(fingerprint).registrant == account.address

    # Our filing comes later but its commitment is earlier: it takes the design back.
    file_all(world, workers)
    filed = world.http.get(f"/api/v1/designs/{fingerprint}", headers=world.headers(LEGAL)).json()
    assert filed["status"] == "registered", filed
    design = registry.retrieve_design(fingerprint)
    assert design.registrant == world.organisations[LEGAL].account_address
    assert design.filed_block == our_block == filed["chain"]["filed_block"]


def test_reindex_from_the_chain_gives_the_same_answers(
    world: World, workers: list[AnchorWorker], designs: list[np.ndarray]
) -> None:
    for n, design in enumerate(designs[:3]):
        assert register(world, encode(design), title=f"design {n}").status_code == 201
    file_all(world, workers)
    probes = [
        image_variant(designs[0], "rotation", np.random.default_rng(1), 1),
        encode(designs[1]),
        image_variant(designs[2], "crop_embed", np.random.default_rng(2), 2),
    ]

    def answers() -> list[Any]:
        found = []
        for probe in probes:
            result = search(world, probe, org="Maison Lune", role="reader")
            found.append(
                (
                    [e["registration"] for e in result["exact"]],
                    [
                        (s["registration"], s["flagged"], s["code_distance"])
                        for s in result["similar"]
                    ],
                )
            )
        return found

    before = answers()
    assert before[1][0]  # the exact file is found with its registration
    assert any(flagged for _, flagged, _ in before[0][1])

    index_dir = world.runtime.settings.data_dir / "designs" / "index"
    world.runtime.design_index.save()
    shutil.rmtree(index_dir)
    fresh = RegistryIndex(index_dir)
    assert len(fresh) == 0
    assert world.runtime.sessions is not None
    with world.runtime.sessions() as session:
        report = reindex(session=session, registry=world.runtime.registry, index=fresh)
    assert report.on_chain == 3 and report.pending == 0 and not report.unknown
    assert (index_dir / "index.json").exists()
    world.runtime._design_index = fresh
    assert answers() == before


# --- the command line -----------------------------------------------------------------------------


@pytest.fixture
def api_url(world: World) -> Iterator[str]:
    with served_api(world.runtime, log_level="warning") as url:
        yield url


def test_cli_import_reports_each_file_and_fails_when_one_failed(
    world: World, api_url: str, tmp_path: Path, designs: list[np.ndarray]
) -> None:
    folder = tmp_path / "designs"
    folder.mkdir()
    (folder / "a.png").write_bytes(encode(designs[0]))
    (folder / "b.png").write_bytes(encode(designs[1]))
    (folder / "c.stl").write_bytes(encode(designs[2]))  # a picture posing as a model
    (folder / "notes.txt").write_text("not a design")
    report = tmp_path / "report.json"
    env = {"HALLMARK_API_KEY": world.keys[f"{LEGAL}/legal"]}
    result = CliRunner().invoke(
        app,
        [
            "designs",
            "import",
            str(folder),
            "--owner",
            "brand:maison-lune",
            "--api-url",
            api_url,
            "--report",
            str(report),
        ],
        env=env,
    )
    assert result.exit_code == 1, result.output
    assert "2 of 3 registered, 1 failed" in result.output
    assert "file_mislabelled" in result.output
    rows = json.loads(report.read_text())
    assert [r["ok"] for r in rows] == [True, True, False]

    found = CliRunner().invoke(
        app, ["designs", "search", str(folder / "a.png"), "--api-url", api_url], env=env
    )
    assert found.exit_code == 0, found.output
    assert f"exact   {rows[0]['registration']}" in found.output
    shown = CliRunner().invoke(
        app, ["designs", "show", rows[1]["registration"], "--api-url", api_url], env=env
    )
    assert shown.exit_code == 0 and rows[1]["fingerprint"] in shown.output
    missing = CliRunner().invoke(
        app, ["designs", "show", "D-2026-NOPE", "--api-url", api_url], env=env
    )
    assert missing.exit_code != 0
    # One line of reason, last (log lines come before it once an earlier command in this
    # process configured logging, as any CLI test run before this one does).
    errors = [line for line in missing.output.strip().splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and missing.output.strip().endswith(errors[0])


# --- the commitment record ----------------------------------------------------------------------


def test_a_commitment_record_hashes_to_its_commitment_and_tampering_is_caught() -> None:
    from hallmark.core.canonical import canonical_bytes
    from hallmark.core.errors import RecordIntegrityError
    from hallmark.services.anchoring import integrity
    from hallmark.store.records import NewRecord, prepare_records, record_text_hash

    fingerprint, registrant, salt = "ab" * 32, "0x" + "12" * 20, "0x" + "cd" * 32
    data = {"fingerprint": "0x" + fingerprint, "registrant": registrant, "salt": salt}
    [stored] = prepare_records([NewRecord("design_commitment", "org", data)]).stored
    assert stored.record_hash == design_commitment(fingerprint, registrant, salt)
    integrity.check_text(stored.id, stored.canonical, stored.record_hash)
    tampered = json.loads(stored.canonical)
    tampered["data"]["salt"] = "0x" + "ce" * 32
    text = canonical_bytes(tampered).decode()
    assert record_text_hash(text) != stored.record_hash
    with pytest.raises(RecordIntegrityError):
        integrity.check_text(stored.id, text, stored.record_hash)
    # Any other record is still hashed as its text.
    [other] = prepare_records([NewRecord("other", "org", data)]).stored
    assert other.record_hash == integrity.text_hash(other.canonical)
    assert other.record_hash != stored.record_hash


def test_a_file_filed_on_chain_by_anyone_is_an_exact_duplicate(
    world: World, designs: list[np.ndarray]
) -> None:
    data = encode(designs[3])
    fingerprint = data_sha(data)
    rival, _ = _rival(world)
    account = organisation_account(rival, world.runtime.settings.passphrase)
    salt = "0x" + "55" * 32
    commitment = design_commitment(fingerprint, account.address, salt)
    root = "0x" + StandardMerkleTree.of([bytes.fromhex(commitment[2:])]).root.hex()
    world.runtime.ledger._send(
        account, "anchor", [bytes.fromhex(root[2:]), RECORD_KINDS["design_commitment"], 1]
    )
    assert world.runtime.chain is not None
    world.runtime.chain.retrieve("evm_mine")
    world.runtime.registry.send_register(
        account,
        fingerprint=fingerprint,
        perceptual_code=0,
        metadata_hash="0x" + "11" * 32,
        owner_ref="0x" + "22" * 32,
        parent=None,
        commitment=CommitmentRef(account.address, root, salt, ()),
    )
    before = counts(world)
    answer = register(world, data)
    assert answer.status_code == 409, answer.text
    error = answer.json()["error"]
    assert error["code"] == "design_already_registered"
    assert error["details"]["registrant"] == account.address
    assert error["details"]["block_number"] > 0
    assert counts(world) == before
