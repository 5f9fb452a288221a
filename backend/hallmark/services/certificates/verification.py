"""What the customer's verify page and the verification API show: the offline verifier's checks,
run against the chain, and every fact of the certificate with how it was checked.

The verdict never comes from the database's statuses: a stored certificate's signed document
and provenance bundle are read from the database (`evidence`) and then checked by the very
verifier `hallmark verify` runs (`verifier.verify`: hash, signature, issuer role, Merkle proof,
anchoring, status on the ledger, every bundled record). A document a customer kept is checked
the same way (`of_document`).

Each fact (the product, each material, each production step) names the record it comes from
and that record's evidence: its hash matched its text, its Merkle proof led to its root, and
the ledger holds that root as anchored, in block N at time T, by the account the who-is-who
table gives its organisation; the ledger lets an account anchor a kind of record only while it
holds the role for it, so the anchoring itself proves the role was held then.

A stored certificate's verification is kept for the block it was made in (`VerificationCache`).
At a new block what can change is read again at that block, in one JSON-RPC batch of raw
`eth_call`s (calldata encoded once with eth_abi, not by web3's contract functions): the
certificate's `certificateStatus` and each bundled record's `verifyRecord`, which is where a
revocation, a supersession, a flagged batch or a compromised anchorer shows, and, when it names
a registered design, the design registry's `designOf` (its registrant and owner reference change
with an assignment) and `licenceOf` (a licence terminated); and, in one database query, the
stored texts and signature the check was made from. When every answer and text is what the
kept check had, and that check read nothing else that can change (no registry logs, read for a
design assigned since the certificate was issued; no earlier ledger; no evidence less deep than
the confirmations: `_FinalLedger` and `_FinalRegistry` count such reads), a whole check would
read and find what it found: its findings stand at the
new block, and its JSON and pages are put together again with the new block number
(`Verification.at_block`). Otherwise the whole check runs, so what the ledger says shows within
one block of being mined. A first check reads the ledger in one batch too: what can change and
the final facts not kept yet (each batch, each anchorer's organisation, the issuer role at the
block the evidence names). The latest block is learnt by one background reader per process
(`BlockWatcher`, every `HALLMARK_VERIFY_BLOCK_SECONDS`), not by each request; a request never
uses a reading older than twice that interval (it asks the node itself instead).

Raises:
    NotFoundError: no such certificate (`of_stored`).
    ChainError: the node does not answer the block number.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any, TypeVar, cast

import structlog
from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils.abi import collapse_if_tuple, function_abi_to_4byte_selector
from hexbytes import HexBytes
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3
from web3.contract import Contract

from hallmark.chain.artifacts import ARTIFACTS_DIR, load_artifacts
from hallmark.chain.client import ChainClient
from hallmark.chain.errors import ContractErrors
from hallmark.chain.ledger import (
    AccountBinding,
    BatchRecord,
    CertificateStanding,
    Ledger,
    certificate_standing,
    read_decoded,
    role_id,
)
from hallmark.chain.registry import DesignRegistryContract
from hallmark.core.errors import ChainError, NotFoundError, RecordIntegrityError
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import evidence, verifier
from hallmark.store.models import Certificate, Record

#: Largest body `POST /api/v1/verify` reads: a certificate with a bundle of a few hundred
#: records is well below it.
MAX_BODY_BYTES = 2 * 1024 * 1024
#: The verdicts, best first.
VERDICTS = ("genuine", "revoked", "superseded", "unknown", "tampered")
REASON_NAMES = {code: name for name, code in doc.REVOCATION_REASONS.items()}
T = TypeVar("T")
log = structlog.get_logger(__name__)


@cache
def _abis() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The version 2 ledger and registry ABIs (the only version certificates exist on)."""
    artifacts = load_artifacts(ARTIFACTS_DIR / "v2")
    return artifacts["ProvenanceLedger"]["abi"], artifacts["DesignRegistry"]["abi"]


class _RecordingLedger(Ledger):
    """The ledger as the verifier reads it, keeping what it read for the page: each batch's
    block and time, and the certificate's standing (its cause, reason, time, successor)."""

    def __init__(
        self,
        client: ChainClient,
        address: str,
        abi: list[dict[str, Any]],
        *,
        prepared: tuple[Contract, ContractErrors] | None = None,
    ) -> None:
        super().__init__(client, address, abi, prepared=prepared)
        self.batches: dict[tuple[str, str], BatchRecord] = {}
        self.standing: CertificateStanding | None = None

    def retrieve_batch_record(self, anchorer: str, root: str) -> BatchRecord:
        key = (anchorer, root)
        if key not in self.batches:
            self.batches[key] = super().retrieve_batch_record(anchorer, root)
        return self.batches[key]

    def retrieve_certificate_status(self, **kwargs: Any) -> CertificateStanding:
        self.standing = super().retrieve_certificate_status(**kwargs)
        return self.standing


@dataclass(frozen=True, slots=True)
class Evidence:
    """How one record was checked, and where it stands on chain."""

    record: str
    kind: str
    record_hash: str
    organisation: str  # its name in the who-is-who table (its id when it is not there)
    organisation_kind: str | None
    checked: bool  # its text, proof, anchoring and anchorer all verified
    note: str  # what the check found (or why it was not checked)
    account: str | None = None
    root: str | None = None
    block: int | None = None
    transaction: str | None = None
    anchored_at: datetime | None = None
    #: The note as a message key and values, for the pages (`verifier.Said`).
    said: verifier.Said | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "record": self.record,
            "kind": self.kind,
            "record_hash": self.record_hash,
            "organisation": self.organisation,
            "organisation_kind": self.organisation_kind,
            "checked": self.checked,
            "note": self.note,
            "account": self.account,
            "root": self.root,
            "block": self.block,
            "transaction": self.transaction,
            "anchored_at": _iso(self.anchored_at),
        }


@dataclass(frozen=True, slots=True)
class Step:
    """One production step of the timeline (from its bundled record)."""

    sequence: int
    kind: str
    occurred_at: datetime | None
    result: str | None
    evidence: Evidence


@dataclass
class Verification:
    """A certificate's verdict, the verifier's checks, and its facts with their evidence."""

    verdict: str
    checks: list[verifier.Check]
    block: int | None = None
    certificate_id: str | None = None
    number: str | None = None
    certificate_hash: str | None = None
    subject: Mapping[str, Any] = field(default_factory=dict)
    issuer: Mapping[str, Any] = field(default_factory=dict)
    valid_from: datetime | None = None
    certificate: Evidence | None = None
    records: list[Evidence] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    bundled: bool = False
    anchored: bool = False  # the document carries its anchoring evidence
    revocation: dict[str, Any] | None = None
    successor: dict[str, Any] | None = None
    #: What the API made of this verification (its JSON, its page in each language: each its
    #: bytes and what goes with them), kept with it for as long as it is kept: for the block
    #: it was made in (`rendered`).
    renditions: dict[Any, tuple[bytes, Any]] = field(default_factory=dict)
    #: Each rendition with the place of the block number marked, to be made for another block
    #: by putting its number in (`at_block`).
    templates: dict[Any, tuple[tuple[bytes, ...], Any]] = field(default_factory=dict)
    #: What can change from block to block, as this check read it (None: the check read
    #: something else that can change, so only a whole check can tell what a new block says).
    reread: _Reread | None = field(default=None, repr=False)
    #: The stored texts it was made from, by record id, and the certificate's signature.
    stored: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return self.verdict == "genuine" and all(c.ok for c in self.checks)

    def rendered(
        self, key: Any, make: Callable[[Verification], tuple[bytes, Any]]
    ) -> tuple[bytes, Any]:
        """The rendition `key` of this verification (made by `make` once, then kept): its
        bytes and what goes with them (headers). It is made once for every block this
        verification is reused at (`at_block`): with the block number marked, its place kept."""
        kept = self.renditions.get(key)
        if kept is not None:
            return kept
        if self.block is None:
            kept = make(self)
        else:
            body, extra = make(
                dataclasses.replace(self, block=_BLOCK_MARK, renditions={}, templates={})
            )
            parts = tuple(body.split(_BLOCK_MARK_BYTES))
            if len(parts) == 2:  # the block shown once: its place is known
                self.templates[key] = (parts, extra)
                kept = (str(self.block).encode().join(parts), extra)
            else:  # shown twice or never, or the mark in a stored text: made with the block
                kept = make(self)
        self.renditions[key] = kept
        return kept

    def at_block(self, block: int) -> Verification:
        """This verification for a later block at which nothing it read has changed: the same
        findings, checked at `block`, with every rendition made for it from its template."""
        again = dataclasses.replace(self, block=block, renditions={}, templates=self.templates)
        number = str(block).encode()
        for key, (parts, extra) in self.templates.items():
            again.renditions[key] = (number.join(parts), extra)
        return again

    @property
    def settled(self) -> bool:
        """The certificate and every record carry their anchoring evidence: only the chain
        can change the verdict now (until then, the database's next read may add evidence)."""
        return self.anchored and all(e.account is not None for e in self.records)

    def record(self, record_hash: Any) -> Evidence | None:
        """The evidence of the record with this hash, if the certificate relies on it."""
        return next((e for e in self.records if e.record_hash == record_hash), None)

    def as_json(self) -> dict[str, Any]:
        subject = self.subject
        product = subject.get("product") if isinstance(subject.get("product"), Mapping) else None
        materials = [m for m in subject.get("materials") or [] if isinstance(m, Mapping)]
        return {
            "verdict": self.verdict,
            "ok": self.ok,
            "checked_at_block": self.block,
            "certificate": None
            if self.number is None
            else {
                "id": self.certificate_id,
                "number": self.number,
                "hash": self.certificate_hash,
                "issuer": dict(self.issuer),
                "valid_from": _iso(self.valid_from),
                "evidence": self.certificate.as_json() if self.certificate else None,
            },
            "revocation": self.revocation,
            "successor": self.successor,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
            "facts": {
                "product": None
                if product is None
                else {
                    "statement": dict(product),
                    "evidence": _json_of(self.record(product.get("recordHash"))),
                },
                "materials": [
                    {"statement": dict(m), "evidence": _json_of(self.record(m.get("recordHash")))}
                    for m in materials
                ],
                "timeline": {
                    "summary": subject.get("production"),
                    "steps": [
                        {
                            "sequence": s.sequence,
                            "kind": s.kind,
                            "occurred_at": _iso(s.occurred_at),
                            "result": s.result,
                            "evidence": s.evidence.as_json(),
                        }
                        for s in self.steps
                    ],
                },
                "design": subject.get("design"),
                "carbon": {
                    "footprint": subject.get("carbonFootprint"),
                    "recycled_share": subject.get("recycledShare"),
                },
                "ethics": subject.get("ethics") or [],
            },
            "anchored": self.anchored,
            "records_checked": self.bundled,
        }


#: A block number that no chain reaches, drawn once per process: renditions are made with it
#: in place of the block checked at, and the block's number is put where it shows.
_BLOCK_MARK = 10**17 + secrets.randbelow(9 * 10**17)
_BLOCK_MARK_BYTES = str(_BLOCK_MARK).encode()


def _json_of(found: Evidence | None) -> dict[str, Any] | None:
    return found.as_json() if found is not None else None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _moment(value: Any) -> datetime | None:
    """An RFC 3339 text or a Unix time as an aware datetime (None when it is neither)."""
    try:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo is not None else None
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _organisations(subject: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    table = subject.get("organisations")
    if not isinstance(table, list):
        return {}
    return {str(o.get("id")): o for o in table if isinstance(o, Mapping)}


def _anchored(
    ledger: _RecordingLedger, anchor: Mapping[str, Any]
) -> tuple[str | None, str | None, int | None, str | None, datetime | None]:
    """(account, root, block, transaction, time) of anchoring evidence, the time as the
    ledger holds it for that batch (when the verifier read it)."""
    account, root = anchor.get("anchorer"), anchor.get("root")
    batch = ledger.batches.get((str(account), str(root)))
    block = anchor.get("block")
    return (
        str(account) if account is not None else None,
        str(root) if root is not None else None,
        block if isinstance(block, int) and not isinstance(block, bool) else None,
        str(anchor.get("transaction")) if anchor.get("transaction") is not None else None,
        _moment(batch.anchored_at) if batch is not None and batch.record_count else None,
    )


def _record_evidence(
    entry: Mapping[str, Any],
    *,
    organisations: Mapping[str, Mapping[str, Any]],
    ledger: _RecordingLedger | None,
    checked: bool,
    note: str | verifier.Said,
) -> Evidence:
    organisation = organisations.get(str(entry.get("organisation")), {})
    anchor = entry.get("anchor")
    account: str | None = None
    root: str | None = None
    transaction: str | None = None
    block: int | None = None
    anchored_at: datetime | None = None
    if ledger is not None and isinstance(anchor, Mapping):
        account, root, block, transaction, anchored_at = _anchored(ledger, anchor)
    return Evidence(
        record=str(entry.get("id")),
        kind=str(entry.get("kind")),
        record_hash=str(entry.get("recordHash")),
        organisation=str(organisation.get("name") or entry.get("organisation")),
        organisation_kind=str(organisation["kind"]) if "kind" in organisation else None,
        checked=checked,
        note=str(note),
        said=note if isinstance(note, verifier.Said) else None,
        account=account,
        root=root,
        block=block,
        transaction=transaction,
        anchored_at=anchored_at,
    )


def _steps(bundle: Mapping[str, Any], records: Sequence[Evidence]) -> list[Step]:
    """The production steps of the bundle, in sequence order."""
    by_hash = {e.record_hash: e for e in records}
    steps = []
    entries = bundle.get("records")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or entry.get("kind") != "production_step":
            continue
        try:
            data = json.loads(str(entry.get("canonical"))).get("data", {})
            sequence = int(data.get("sequence", 0))
        except (ValueError, TypeError, AttributeError):
            continue
        found = by_hash.get(str(entry.get("recordHash")))
        if found is None:
            continue
        result = data.get("result")
        steps.append(
            Step(
                sequence=sequence,
                kind=str(data.get("kind")),
                occurred_at=_moment(data.get("occurred_at")),
                result=str(result) if result is not None else None,
                evidence=found,
            )
        )
    return sorted(steps, key=lambda s: s.sequence)


def _standing_facts(
    report: verifier.Report,
    ledger: _RecordingLedger,
    certificate_id: str | None,
    successor_of: Callable[[str | None, str], tuple[str, str] | None],
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The revocation (cause, reason, time) and the successor, as the ledger gave them."""
    standing = ledger.standing
    if standing is None:
        return None, None
    if report.verdict == "revoked" and standing.state == "revoked":
        return {
            "cause": standing.cause,
            "reason_code": standing.reason,
            "reason": REASON_NAMES.get(standing.reason, "other"),
            "at": _iso(_moment(standing.at)),
        }, None
    if report.verdict == "superseded" and standing.state == "superseded":
        found = successor_of(certificate_id, standing.successor_hash)
        return None, {
            "hash": standing.successor_hash,
            "anchorer": standing.successor_anchorer,
            "root": standing.successor_root,
            "at": _iso(_moment(standing.at)),
            "id": found[0] if found is not None else None,
            "number": found[1] if found is not None else None,
        }
    return None, None


def _verify(
    *,
    document: Mapping[str, Any],
    bundle: Mapping[str, Any] | None,
    client: ChainClient,
    block: int,
    successor_of: Callable[[str | None, str], tuple[str, str] | None],
    certificate_id: str | None = None,
    final: _Final | None = None,
    final_block: int = -1,
    known: _Reread | None = None,
) -> Verification:
    """Run the verifier over the document (and bundle) and gather the facts' evidence; with
    `final`, the facts that cannot change once final (up to `final_block`) are kept there and
    read from there, and what can change is read in one batch (`known`: already read at
    `block`)."""
    ledger_abi, registry_abi = _abis()
    status = document.get("credentialStatus")
    address = status.get("ledger") if isinstance(status, Mapping) else None
    if not isinstance(address, str) or not Web3.is_address(address):
        # No ledger to ask: the verifier says so without any node (its first check fails).
        report = verifier.verify_at(
            client.url,
            document=document,
            bundle=bundle,
            ledger_abi=ledger_abi,
            registry_abi=registry_abi,
        )
        return Verification(verdict=report.verdict, checks=report.checks, block=block)
    ledger: _RecordingLedger
    if final is None:
        ledger = _RecordingLedger(client, address, ledger_abi)
    else:
        ledger = _FinalLedger(client, address, ledger_abi, final=final, final_block=final_block)
        ledger.read_changeable(document, bundle, block, known)
    report = verifier.verify(
        document=document, bundle=bundle, ledger=ledger, registry_abi=registry_abi
    )
    result = Verification(
        verdict=report.verdict, checks=report.checks, block=block, certificate_id=certificate_id
    )
    if isinstance(ledger, _FinalLedger) and ledger.unsettled == 0:
        result.reread = ledger.reread
    passed = {c.name: c for c in report.checks}
    subject = document.get("credentialSubject")
    if not ("hash" in passed and passed["hash"].ok) or not isinstance(subject, Mapping):
        return result  # not what was signed: nothing of it is shown as a fact
    result.subject = subject
    issuer = document.get("issuer")
    result.issuer = issuer if isinstance(issuer, Mapping) else {}
    result.number = str(subject.get("certificateNumber"))
    result.valid_from = _moment(document.get("validFrom"))
    if result.certificate_id is None:
        result.certificate_id = str(document.get("id", "")).removeprefix("urn:uuid:") or None
    proof = document.get("proof")
    proof = proof if isinstance(proof, Mapping) else {}
    result.anchored = proof.get("anchor") is not None
    result.certificate_hash = str(proof.get("certificateHash"))
    organisations = _organisations(subject)
    issuer_id = str(result.issuer.get("id", "")).removeprefix("urn:uuid:")
    chain_checks = [passed.get(n) for n in ("signature", "issuer", "merkle", "anchored")]
    certificate_ok = all(c is not None and c.ok for c in chain_checks)
    failing = next((c for c in report.checks if not c.ok), None)
    result.certificate = _record_evidence(
        {
            "id": result.certificate_id,
            "kind": "certificate",
            "recordHash": result.certificate_hash,
            "organisation": issuer_id,
            "anchor": proof.get("anchor"),
        },
        organisations={issuer_id: {"name": result.issuer.get("name"), "kind": "brand"}},
        ledger=ledger,
        checked=certificate_ok,
        note=_said(passed["issuer"]) if certificate_ok else _said(failing),
    )
    bundle_check = passed.get("bundle")
    result.bundled = bundle_check is not None and bundle_check.ok
    listed = subject.get("records")
    if bundle is not None and isinstance(bundle.get("records"), list):
        entries = [e for e in bundle["records"] if isinstance(e, Mapping)]
        note = _said(bundle_check) if bundle_check is not None else NOT_CHECKED
    else:
        entries = [e for e in listed if isinstance(e, Mapping)] if isinstance(listed, list) else []
        note = NO_BUNDLE
    result.records = [
        _record_evidence(
            entry,
            organisations=organisations,
            ledger=ledger if bundle is not None else None,
            checked=result.bundled,
            note=note,
        )
        for entry in entries
    ]
    if bundle is not None:
        result.steps = _steps(bundle, result.records)
    result.revocation, result.successor = _standing_facts(
        report, ledger, result.certificate_id, successor_of
    )
    if result.successor is not None and result.successor["id"] is None:
        result.reread = None  # Hallmark may store the successor later: look again each block
    return result


#: A record's note when its bundle was not checked, or not given.
NOT_CHECKED = verifier.Said("not_checked", "not checked")
NO_BUNDLE = verifier.Said("no_bundle", "not checked: no provenance bundle was given")


def _said(check: verifier.Check | None) -> str | verifier.Said:
    """A check's detail, as a message key and values when it has them."""
    if check is None:
        return ""
    return check.said if check.said is not None else check.detail


def _successor_lookup(
    sessions: sessionmaker[Session],
) -> Callable[[str | None, str], tuple[str, str] | None]:
    """The id and number of the stored certificate that replaces a certificate, with the hash
    the ledger names (for the link to its page); None when Hallmark holds no such one."""

    def lookup(certificate_id: str | None, successor_hash: str) -> tuple[str, str] | None:
        if certificate_id is None:
            return None
        with sessions() as session:
            found = session.execute(
                select(Certificate.id, Certificate.number).where(
                    Certificate.supersedes_id == certificate_id,
                    Certificate.certificate_hash == successor_hash,
                )
            ).first()
            return (found[0], found[1]) if found is not None else None

    return lookup


def of_document(
    *,
    document: Mapping[str, Any],
    bundle: Mapping[str, Any] | None,
    client: ChainClient,
    sessions: sessionmaker[Session],
) -> Verification:
    """Check a certificate document someone kept (and its bundle, if given) against the chain.

    Raises:
        ChainError: the node does not answer.
    """
    block = client.retrieve_block_number()
    return _verify(
        document=document,
        bundle=bundle,
        client=client,
        block=block,
        successor_of=_successor_lookup(sessions),
    )


def of_stored(
    *,
    ref: str,
    sessions: sessionmaker[Session],
    client: ChainClient,
    deployment: Mapping[str, Any],
    block: int,
    final: _Final | None = None,
    final_block: int = -1,
    newer: Callable[[], int] | None = None,
    known: _Reread | None = None,
) -> Verification:
    """Check a stored certificate: its signed document and bundle as Hallmark serves them,
    against the chain (a stored text that no longer matches its hash: `tampered`). When the
    stored evidence names an anchoring block after `block` (a reading of the latest block made
    before the worker recorded it), the check runs at `newer()`, the node asked again.

    Raises:
        NotFoundError: no such certificate.
    """
    with sessions() as session:
        certificate = evidence.find(session, ref)
        certificate_id = certificate.id
        try:
            document = evidence.signed_document(session, certificate, deployment)
            bundle = evidence.bundle(session, certificate)
            stored = _stored(session, certificate)
        except (RecordIntegrityError, NotFoundError) as exc:
            failed = Verification(
                verdict="tampered",
                checks=[verifier.Check("records", False, exc.message)],
                block=block,
                certificate_id=certificate_id,
                number=certificate.number,
                certificate_hash=certificate.certificate_hash,
            )
            return failed

    newest = _newest_anchoring(document, bundle)
    if newer is not None and newest > block:
        latest = newer()
        final_block += latest - block
        block, known = latest, None
    found = _verify(
        document=document,
        bundle=bundle,
        client=client,
        block=block,
        successor_of=_successor_lookup(sessions),
        certificate_id=certificate_id,
        final=final,
        final_block=final_block,
        known=known,
    )
    found.stored = stored
    if newest > final_block:
        found.reread = None  # evidence not final yet: the whole check runs again at a new block
    return found


def _stored(session: Session, certificate: Certificate) -> tuple[tuple[str, str], ...]:
    """What a stored certificate's verification is made of in the database: its signature and
    the canonical text of its record and of every record of its bundle (by id)."""
    ids = [certificate.id]
    listed = json.loads(_text(session, certificate.id))["credentialSubject"]["records"]
    ids += [str(entry["id"]) for entry in listed]
    return (
        ("signature", f"{certificate.signer}:{certificate.signature}"),
        *((record_id, _text(session, record_id)) for record_id in ids),
    )


def _text(session: Session, record_id: str) -> str:
    record = session.get(Record, record_id)  # in the session's identity map once read
    if record is None:
        raise NotFoundError("record", record_id)
    return record.canonical


def _stored_now(sessions: sessionmaker[Session], kept: Verification) -> bool:
    """Whether the database still holds what the kept verification was made from (one query
    for the texts, one for the signature)."""
    if not kept.stored or kept.certificate_id is None:
        return False
    ids = [record_id for record_id, _ in kept.stored[1:]]
    with sessions() as session:
        texts = dict(
            session.execute(select(Record.id, Record.canonical).where(Record.id.in_(ids))).all()
        )
        signed = session.execute(
            select(Certificate.signer, Certificate.signature).where(
                Certificate.id == kept.certificate_id
            )
        ).first()
    if signed is None:
        return False
    now = (("signature", f"{signed[0]}:{signed[1]}"), *((i, texts.get(i)) for i in ids))
    return now == kept.stored


def _newest_anchoring(document: Mapping[str, Any], bundle: Mapping[str, Any] | None) -> int:
    """The newest block the anchoring evidence of a stored document and its bundle names (-1
    when none does)."""
    proof = document.get("proof")
    anchors = [proof.get("anchor")] if isinstance(proof, Mapping) else []
    entries = bundle.get("records") if bundle is not None else None
    anchors += [e.get("anchor") for e in entries if isinstance(e, Mapping)] if entries else []
    blocks = [a.get("block") for a in anchors if isinstance(a, Mapping)]
    return max((b for b in blocks if isinstance(b, int)), default=-1)


class _Final:
    """Chain facts that cannot change once final, by key: a bounded LRU shared by every check
    of the process (an OrderedDict: `lru_cache` cannot decide per answer whether to keep it)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self._lock:
            found = self._entries.get(key, _MISSING)
            if found is not _MISSING:
                self._entries.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Any) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


_MISSING = object()
#: Contract reads whose answer is fixed at deployment: the ledger's `version()` and the
#: design registry's `ledger()` (neither contract can be upgraded).
_CONSTANT_READS = frozenset({"version", "ledger"})


class _FinalClient:
    """The chain client as a check reads it: what cannot change once final is answered from
    `final` (the chain id, a contract's code, its constant reads, a receipt at least
    `confirmations` blocks deep); everything else goes to the node, and is counted in
    `unsettled` (a read whose answer may differ at the next block)."""

    def __init__(self, client: ChainClient, final: _Final, final_block: int) -> None:
        self._client = client
        self._final = final
        self._final_block = final_block
        #: Reads made of the node whose answer is not kept as final.
        self.unsettled = 0

    def __getattr__(self, name: str) -> Any:
        if name.startswith("retrieve_"):  # any other read of the node (a block, logs, ...)
            self.unsettled += 1
        return getattr(self._client, name)

    def retrieve_chain_id(self) -> int:
        key = ("chain_id", self._client.url)
        found = self._final.get(key)
        if found is _MISSING:
            found = self._client.retrieve_chain_id()
            self._final.put(key, found)
        return int(found)

    def retrieve_block_time(self, number: int) -> int:
        key = ("block_time", self._client.url, number)
        found = self._final.get(key)
        if found is _MISSING:
            found = self._client.retrieve_block_time(number)
            if number <= self._final_block:
                self._final.put(key, found)
            else:
                self.unsettled += 1
        return int(found)

    def retrieve_code(self, address: str) -> bytes:
        key = ("code", self._client.url, address)
        found = self._final.get(key)
        if found is _MISSING:
            found = self._client.retrieve_code(address)
            if found:  # no code yet may become code: ask again next time
                self._final.put(key, found)
            else:
                self.unsettled += 1
        return bytes(found)

    def retrieve_call(self, call: Callable[[], Any]) -> Any:
        function = getattr(call, "__self__", None)
        name = getattr(function, "fn_name", None)
        arguments: Any = getattr(function, "args", None)
        if name not in _CONSTANT_READS or arguments:
            self.unsettled += 1
            return self._client.retrieve_call(call)
        key = ("call", self._client.url, getattr(function, "address", None), name)
        found = self._final.get(key)
        if found is _MISSING:
            found = self._client.retrieve_call(call)
            self._final.put(key, found)
        return found

    def retrieve_receipt(self, tx_hash: str) -> Any:
        key = ("receipt", self._client.url, tx_hash)
        found = self._final.get(key)
        if found is _MISSING:
            receipt = self._client.retrieve_receipt(tx_hash)
            if receipt is None:
                self.unsettled += 1
                return None
            # Only what the checks read of a receipt is kept (its logs would fill the memory).
            found = {k: receipt[k] for k in ("blockNumber", "to", "from", "status")}
            if found["blockNumber"] <= self._final_block:
                self._final.put(key, found)
            else:
                self.unsettled += 1
        return found


#: The ledger reads whose answer can change from block to block and that every check makes.
_PER_BLOCK = ("certificateStatus", "verifyRecord")
#: The ledger reads of final facts a first check makes (`_FinalLedger.read_changeable`).
_FINAL_READS = ("batchOf", "accountOf", "hasRoleAt")
#: The design registry's reads whose answer can change from block to block, read with the
#: ledger's: a filing (`designOf`: its registrant and owner reference change when the design is
#: assigned, the whole filing while an earlier commitment may still displace it) and a licence
#: (`licenceOf`: granted, then terminated). What they hold that cannot change (a final filing's
#: fingerprint, time, block and metadata hash; a licence's grant) is read with them: one read
#: each, so nothing of them is kept as final.
_REGISTRY_PER_BLOCK = ("designOf", "licenceOf")


class _Encoding:
    """The per-block ledger reads (and those of final facts) encoded and decoded with eth_abi,
    from the ABI looked at once per process: web3's contract functions look the ABI up,
    validate and normalise their arguments again at every call, most of what a check cost."""

    def __init__(self, abi: list[dict[str, Any]], names: Sequence[str]) -> None:
        self._functions: dict[str, tuple[str, list[str], list[str]]] = {}
        for entry in abi:
            if entry.get("type") == "function" and entry.get("name") in names:
                self._functions[entry["name"]] = (
                    "0x" + function_abi_to_4byte_selector(cast(Any, entry)).hex(),
                    [collapse_if_tuple(i) for i in entry["inputs"]],
                    [collapse_if_tuple(o) for o in entry["outputs"]],
                )

    def data(self, name: str, args: Sequence[Any]) -> str:
        """The calldata of `name(*args)`, as web3 would send it (0x-hex)."""
        selector, inputs, _ = self._functions[name]
        return selector + abi_encode(inputs, list(args)).hex()

    def answer(self, name: str, result: str) -> Any:
        """An `eth_call` answer (0x-hex) of `name` as web3 gives it: the value when there is
        one, else the values (addresses as text; web3 gives them checksummed, the callers
        checksum them)."""
        _, _, outputs = self._functions[name]
        values = abi_decode(outputs, bytes.fromhex(result[2:]))
        return values[0] if len(values) == 1 else values


@cache
def _encoding() -> _Encoding:
    return _Encoding(_abis()[0], _PER_BLOCK + _FINAL_READS)


@cache
def _registry_encoding() -> _Encoding:
    return _Encoding(_abis()[1], _REGISTRY_PER_BLOCK)


@dataclass(frozen=True, slots=True)
class _Reread:
    """The reads of a check whose answer can change from block to block, each (ledger address,
    calldata), and their answers at the block the check was made at."""

    calls: tuple[tuple[str, str], ...]
    answers: tuple[str, ...]


def _status_args(
    *,
    organisation: bytes,
    issuance_id: str,
    certificate_hash: str,
    anchorer: str,
    root: str,
    proof: Sequence[str],
) -> tuple[Any, ...]:
    return (
        organisation,
        HexBytes(issuance_id),
        HexBytes(certificate_hash),
        Web3.to_checksum_address(anchorer),
        HexBytes(root),
        [HexBytes(node) for node in proof],
    )


def _record_args(
    anchorer: str, root: str, kind: int, record_hash: str, proof: Sequence[str]
) -> tuple[Any, ...]:
    return (
        Web3.to_checksum_address(anchorer),
        HexBytes(root),
        kind,
        HexBytes(record_hash),
        [HexBytes(node) for node in proof],
    )


class _FinalLedger(_RecordingLedger):
    """The recording ledger with the facts that cannot change once final kept across checks:
    a batch's kind, count, organisation and block (`batchOf`) once its block is final, a role
    held or not at a final block (`hasRoleAt`), and an account's organisation (bound once,
    never changed), and the time of a final block. What can change (a certificate's status, a
    record's batch flagged, an anchorer declared compromised: `certificateStatus`,
    `verifyRecord`, `batchStatus`; a design's filing and licence: `designOf`, `licenceOf`,
    read through `design_registry`) is always read from the node at the block being checked,
    and every such read is counted in `unsettled` unless it was one of `read_changeable`'s."""

    def __init__(
        self,
        client: ChainClient,
        address: str,
        abi: list[dict[str, Any]],
        *,
        final: _Final,
        final_block: int,
    ) -> None:
        # The contract object is made once per connection and address (it reads the whole ABI);
        # the cache holds its connection, so the connection's id is not reused while it is kept.
        key = ("contract", id(client.w3), address)
        prepared = final.get(key)
        if prepared is _MISSING:
            checksummed = Web3.to_checksum_address(address)
            prepared = (
                client.w3.eth.contract(address=checksummed, abi=abi),
                ContractErrors("ProvenanceLedger", abi),
            )
            final.put(key, prepared)
        self._reads = _FinalClient(client, final, final_block)
        super().__init__(cast(ChainClient, self._reads), address, abi, prepared=prepared)
        self._node = client
        self._url = client.url
        self._final = final
        self._final_block = final_block
        self._read: dict[tuple[str, str], str] = {}
        #: Final facts read in `read_changeable`'s batch, by their key among the kept facts.
        self._pre_final: dict[tuple[Any, ...], Any] = {}
        self._reading_final = False
        #: What `read_changeable` read, and its answers (None: nothing was read that way).
        self.reread: _Reread | None = None

    def _call(self, call: Callable[[], T]) -> T:
        # Every read of the node counts as unsettled, but for the final facts' own (which
        # count themselves when their answer is not final yet).
        if not self._reading_final:
            self._reads.unsettled += 1
        return read_decoded(self._node, self.errors, call)

    def _final_read(self, read: Callable[[], T]) -> T:
        self._reading_final = True
        try:
            return read()
        finally:
            self._reading_final = False

    @property
    def unsettled(self) -> int:
        """Reads made of the node, by this ledger or its client, whose answer is neither kept
        as final nor one of `reread`'s: when there are none, a new block at which `reread`'s
        answers are the same leads to the same findings."""
        return self._reads.unsettled

    def read_changeable(
        self,
        document: Mapping[str, Any],
        bundle: Mapping[str, Any] | None,
        block: int,
        known: _Reread | None = None,
    ) -> int:
        """Read what can change (the certificate's status, each bundled record's standing, the
        filing and licence of the design it names) in one JSON-RPC batch at `block`, for the
        checks to use (`known`: read at `block` already, used when it holds these very reads);
        how many reads were made. A document too malformed to name them, or a batch the node
        refuses, leaves each read to be made on its own by its check (with its errors mapped)."""
        try:
            calls = _changeable_calls(self.address, document, bundle)
        except (KeyError, TypeError, ValueError, AttributeError, EncodingError):
            return 0
        if not calls:
            return 0
        try:
            finals = self._final_reads(document, bundle)
        except (KeyError, TypeError, ValueError, AttributeError, EncodingError):
            finals = []
        if known is not None and known.calls == calls:
            answers = known.answers
            if finals:
                try:
                    raw = self._node.retrieve_eth_calls(
                        [(self.address, data) for _, _, data in finals], block
                    )
                except ChainError:
                    raw = []  # each is read on its own by its check
                self._keep_finals(finals, raw)
        else:
            try:
                raw = self._node.retrieve_eth_calls(
                    [*calls, *((self.address, data) for _, _, data in finals)], block
                )
            except ChainError:  # any refusal: the checks read one by one, with errors mapped
                return 0
            answers = tuple(raw[: len(calls)])
            self._keep_finals(finals, raw[len(calls) :])
        self._read = {
            (address.lower(), data): answer
            for (address, data), answer in zip(calls, answers, strict=True)
        }
        self.reread = _Reread(calls, answers)
        return len(calls)

    def _final_reads(
        self, document: Mapping[str, Any], bundle: Mapping[str, Any] | None
    ) -> list[tuple[tuple[Any, ...], str, str]]:
        """The final facts a check will read that are not kept yet, each (its key among the
        kept facts, the function, the calldata): the batch and the anchorer's organisation of
        the certificate and of each record anchored on this ledger, and the issuer role at the
        block the certificate's evidence names. Read in the same batch as what can change, at
        the block checked; each is kept as final, or counted as unsettled, as if read alone."""
        encoding = _encoding()
        anchors = [(document["proof"]["anchor"], document["proof"]["signer"])]
        entries = bundle.get("records") if bundle is not None else None
        anchors += [(e["anchor"], None) for e in entries] if isinstance(entries, list) else []
        reads: dict[tuple[Any, ...], tuple[str, str]] = {}
        for anchor, signer in anchors:
            if not isinstance(anchor, Mapping) or anchor["ledger"] != self.address:
                continue
            anchorer, root = anchor["anchorer"], anchor["root"]
            checksum = Web3.to_checksum_address(anchorer)
            reads[("batch", self._url, self.address, anchorer, root)] = (
                "batchOf",
                encoding.data("batchOf", (checksum, HexBytes(root))),
            )
            reads[("organisation", self._url, self.address, anchorer)] = (
                "accountOf",
                encoding.data("accountOf", (checksum,)),
            )
            block = anchor["block"]
            if signer is not None and isinstance(block, int) and not isinstance(block, bool):
                role = ("role_at", self._url, self.address, "ISSUER_ROLE", signer, block)
                reads[role] = (
                    "hasRoleAt",
                    encoding.data(
                        "hasRoleAt",
                        (role_id("ISSUER_ROLE"), Web3.to_checksum_address(signer), block),
                    ),
                )
        return [
            (key, name, data)
            for key, (name, data) in reads.items()
            if self._final.get(key) is _MISSING
        ]

    def _keep_finals(
        self, finals: list[tuple[tuple[Any, ...], str, str]], raw: Sequence[str]
    ) -> None:
        """The answers of `_final_reads`, in the form the ledger's reads give them, for the
        checks to use."""
        encoding = _encoding()
        for (key, name, _), answer in zip(finals, raw, strict=False):
            value = encoding.answer(name, answer)
            if name == "batchOf":
                kind, count, organisation, anchored_at, block = value
                self._pre_final[key] = BatchRecord(
                    int(kind), int(count), bytes(organisation), int(anchored_at), int(block)
                )
            elif name == "accountOf":
                organisation, roles, compromised = value
                self._pre_final[key] = AccountBinding(
                    bytes(organisation), int(roles), int(compromised)
                )
            else:
                self._pre_final[key] = bool(value)

    def _pre_read(
        self,
        name: str,
        args: Sequence[Any],
        *,
        address: str | None = None,
        encoding: _Encoding | None = None,
    ) -> Any:
        """The answer `read_changeable` read for `name(*args)` of the contract at `address`
        (by default this ledger, encoded by `encoding`, by default the ledger's), or _MISSING."""
        if not self._read:
            return _MISSING
        encoding = encoding or _encoding()
        try:
            found = self._read.get(((address or self.address).lower(), encoding.data(name, args)))
            return _MISSING if found is None else encoding.answer(name, found)
        except (TypeError, ValueError, EncodingError, DecodingError):
            return _MISSING

    def design_registry(self, address: str, abi: list[dict[str, Any]]) -> DesignRegistryContract:
        """The design registry as a check reads it: its contract object made once per process,
        its per-block reads answered from `read_changeable`'s batch, any other read counted in
        `unsettled`."""
        return _FinalRegistry(self, address, abi)

    def retrieve_certificate_status(self, **kwargs: Any) -> CertificateStanding:
        found = self._pre_read("certificateStatus", _status_args(**kwargs))
        if found is _MISSING:
            return super().retrieve_certificate_status(**kwargs)
        self.standing = certificate_standing(found)
        return self.standing

    def retrieve_verify_record(
        self,
        root: str,
        record_hash: str,
        proof: Sequence[str],
        *,
        anchorer: str | None = None,
        kind: int | None = None,
    ) -> bool:
        if anchorer is not None and kind is not None:
            found = self._pre_read(
                "verifyRecord", _record_args(anchorer, root, kind, record_hash, proof)
            )
            if found is not _MISSING:
                return bool(found)
        return super().retrieve_verify_record(
            root, record_hash, proof, anchorer=anchorer, kind=kind
        )

    def retrieve_batch_record(self, anchorer: str, root: str) -> BatchRecord:
        key = ("batch", self._url, self.address, anchorer, root)
        found = self._final.get(key)
        if found is _MISSING:
            found = self._pre_final.pop(key, None) or self._final_read(
                lambda: super(_FinalLedger, self).retrieve_batch_record(anchorer, root)
            )
            if found.record_count and found.anchored_block <= self._final_block:
                self._final.put(key, found)
            else:
                self._reads.unsettled += 1
        self.batches[(anchorer, root)] = found
        return cast(BatchRecord, found)

    def retrieve_has_role_at(self, role: str, account: str, block: int) -> bool:
        key = ("role_at", self._url, self.address, role, account, block)
        found = self._final.get(key)
        if found is _MISSING:
            found = self._pre_final.pop(key, _MISSING)
            if found is _MISSING:
                found = self._final_read(
                    lambda: super(_FinalLedger, self).retrieve_has_role_at(role, account, block)
                )
            if block <= self._final_block:
                self._final.put(key, found)
            else:
                self._reads.unsettled += 1
        return bool(found)

    def retrieve_account(self, account: str) -> AccountBinding:
        # Only the organisation is kept (the verifier reads nothing else of the binding): the
        # role bits and the compromise block change, and are read per block through
        # `certificateStatus` and `verifyRecord`.
        key = ("organisation", self._url, self.address, account)
        found = self._final.get(key)
        if found is _MISSING:
            binding = self._pre_final.pop(key, None) or self._final_read(
                lambda: super(_FinalLedger, self).retrieve_account(account)
            )
            if not binding.bound:
                self._reads.unsettled += 1
                return binding
            found = binding.organisation
            self._final.put(key, found)
        return AccountBinding(found, 0, 0)


class _FinalRegistry(DesignRegistryContract):
    """The design registry as a `_FinalLedger`'s check reads it: `designOf` and `licenceOf`
    answered from the ledger's per-block batch when it read them; any other read (the
    `DesignRegistered` and `DesignAssigned` logs of a design assigned since its certificate
    was issued, the head block) made of the node and counted in the ledger's `unsettled`."""

    def __init__(self, ledger: _FinalLedger, address: str, abi: list[dict[str, Any]]) -> None:
        checksummed = Web3.to_checksum_address(address)
        node = ledger._node
        key = ("registry_contract", id(node.w3), checksummed)
        prepared = ledger._final.get(key)
        if prepared is _MISSING:
            prepared = (
                node.w3.eth.contract(address=checksummed, abi=abi),
                ContractErrors("DesignRegistry", abi),
            )
            ledger._final.put(key, prepared)
        # Not the parent's constructor: it makes the contract object again (the whole ABI read).
        self.client = cast(ChainClient, ledger._reads)
        self.address = checksummed
        self.abi = abi
        self.deployment_block = 0
        self.contract, self.errors = prepared
        self._ledger = ledger

    def _call(self, call: Callable[[], T]) -> T:
        function = getattr(call, "__self__", None)
        name = getattr(function, "fn_name", None)
        if name in _REGISTRY_PER_BLOCK:
            found = self._ledger._pre_read(
                str(name),
                tuple(getattr(function, "args", ())),
                address=self.address,
                encoding=_registry_encoding(),
            )
            if found is not _MISSING:
                return cast(T, found)
        self._ledger._reads.unsettled += 1
        return read_decoded(self._ledger._node, self.errors, call)


def _changeable_calls(
    ledger: str, document: Mapping[str, Any], bundle: Mapping[str, Any] | None
) -> tuple[tuple[str, str], ...]:
    """The reads of one check whose answer can change from block to block, encoded with the
    arguments the verifier passes: `certificateStatus` for the certificate, `verifyRecord` for
    each bundled record anchored on this ledger, then the design registry's (`_design_calls`)."""
    status, proof = document["credentialStatus"], document["proof"]
    anchor = proof["anchor"]
    if not isinstance(anchor, Mapping):
        return ()
    encoding = _encoding()
    calls = [
        (
            ledger,
            encoding.data(
                "certificateStatus",
                _status_args(
                    organisation=bytes(HexBytes(status["organisation"])),
                    issuance_id=status["issuanceId"],
                    certificate_hash=proof["certificateHash"],
                    anchorer=anchor["anchorer"],
                    root=anchor["root"],
                    proof=anchor["proof"],
                ),
            ),
        )
    ]
    entries = bundle.get("records") if bundle is not None else None
    for entry in entries if isinstance(entries, list) else []:
        record_anchor = entry["anchor"]
        if not isinstance(record_anchor, Mapping) or entry["kind"] not in doc.RECORD_KIND_NUMBERS:
            continue
        if record_anchor.get("ledger") != ledger:
            continue  # an earlier ledger's record: its check reads it (and counts it)
        calls.append(
            (
                ledger,
                encoding.data(
                    "verifyRecord",
                    _record_args(
                        record_anchor["anchorer"],
                        record_anchor["root"],
                        doc.RECORD_KIND_NUMBERS[entry["kind"]],
                        entry["recordHash"],
                        record_anchor["proof"],
                    ),
                ),
            )
        )
    return (*calls, *_design_calls(document))


def _design_calls(document: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The design registry's reads of one check whose answer can change from block to block:
    `designOf` of the design the document names and, when it names a licence, `licenceOf`
    (none when it names no design, or names one too malformed to read: its check fails
    before reading, or reads on its own and is counted)."""
    subject = document.get("credentialSubject")
    design = subject.get("design") if isinstance(subject, Mapping) else None
    if not isinstance(design, Mapping):
        return ()
    encoding = _registry_encoding()
    try:
        registry = Web3.to_checksum_address(design["registry"])
        fingerprint = _bytes32(design["fingerprint"])
        calls = [(registry, encoding.data("designOf", (fingerprint,)))]
        licence = design["licence"]
        if isinstance(licence, Mapping):
            document_hash = _bytes32(licence["documentHash"])
            calls.append((registry, encoding.data("licenceOf", (fingerprint, document_hash))))
    except (KeyError, TypeError, ValueError, AttributeError, EncodingError):
        return ()
    return tuple(calls)


def _bytes32(value: Any) -> bytes:
    """A 0x-hex text of 32 bytes as its bytes.

    Raises:
        ValueError: it is not one (TypeError: not text).
    """
    raw = bytes.fromhex(value.removeprefix("0x"))
    if len(raw) != 32:
        raise ValueError("not 32 bytes")
    return raw


class _Flight:
    """One check running, whose answer every request for the same key waits for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0
        self.result: Any = None
        self.error: BaseException | None = None


class SingleFlight:
    """Concurrent calls with the same key run the function once and share its answer (or its
    error); a call after it has finished runs it again."""

    def __init__(self) -> None:
        self._flights: dict[Any, _Flight] = {}
        self._lock = threading.Lock()
        #: How many times a function was run (for the tests and the benchmark's report).
        self.runs = 0

    def waiting(self, key: Any) -> int:
        """How many calls are waiting for the run with this key (0 when none runs)."""
        with self._lock:
            flight = self._flights.get(key)
            return flight.waiters if flight is not None else 0

    def run(self, key: Any, function: Callable[[], T]) -> T:
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
                self.runs += 1
            else:
                flight.waiters += 1
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return cast(T, flight.result)
        try:
            flight.result = function()
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()
        return cast(T, flight.result)


class BlockWatcher:
    """The chain's latest block for every request of the process: one thread asks the node
    (`eth_blockNumber`) every `interval` seconds, and a request uses its reading while it is at
    most `max_age` (twice the interval) old, counted from when the question was sent. A reading
    older than that (the node slow or down, the thread starved) is not used: the request asks
    the node itself (`read`), and its answer becomes the reading.

    So a block mined now is used by every request from at most `max_age` seconds on: within one
    block on a chain whose blocks come less often than that (any public or consortium chain at
    the default 0.2 s).
    """

    def __init__(
        self,
        client: ChainClient,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError("the interval must be positive")
        self.client = client
        self.interval = interval
        self.max_age = 2 * interval
        self._clock = clock
        self._reading: tuple[int, float] | None = None  # (block, when its question was sent)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: Questions asked of the node (for the tests and the benchmark's report).
        self.reads = 0

    def fresh(self) -> int | None:
        """The latest block if the reading is at most `max_age` old, else None."""
        reading = self._reading
        if reading is None or self._clock() - reading[1] > self.max_age:
            return None
        return reading[0]

    def read(self) -> int:
        """Ask the node now; its answer becomes the reading (unless a question sent later was
        answered first).

        Raises:
            ChainError: the node does not answer.
        """
        sent = self._clock()
        block = self.client.retrieve_block_number()
        with self._lock:
            self.reads += 1
            if self._reading is None or sent >= self._reading[1]:
                self._reading = (block, sent)
        return block

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, name="hallmark-block-watcher", daemon=True
            )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A question in flight ends by the client's timeout; the thread then stops itself.
            thread.join(timeout=2.0)

    def _run(self) -> None:
        while not self._stopping.is_set():
            started = self._clock()
            try:
                self.read()
            except Exception as exc:  # any failure: the reading ages, requests ask the node
                log.debug("block_watcher_read_failed", error=str(exc))
            self._stopping.wait(max(0.0, self.interval - (self._clock() - started)))


class VerificationCache:
    """What the process keeps between checks of stored certificates: each certificate's latest
    verification for the block it was made in (with what it read that can change, to be read
    again at the next block: `Verification.reread`), the chain facts that cannot change once
    final (`_Final`), and the checks and block-number reads running now (`SingleFlight`), so
    that a burst of requests after a new block runs one check per certificate and one
    `eth_blockNumber` at a time.

    A small LRU of its own (an OrderedDict): the standard library's `lru_cache` cannot key on
    the block number read at each call, and no caching library is a dependency for this alone.
    """

    def __init__(
        self,
        size: int = 1024,
        *,
        facts: int = 65536,
        confirmations: int = 0,
        block_seconds: float = 0.0,
    ) -> None:
        self.size = size
        self.confirmations = confirmations
        #: Seconds between the block watcher's questions (0: every request asks the node).
        self.block_seconds = block_seconds
        self.watcher: BlockWatcher | None = None
        self.final = _Final(facts)
        self.checks = SingleFlight()
        self.blocks = SingleFlight()
        #: Checks at a new block that found nothing changed and reused the kept verification,
        #: and whole checks (the verifier run against the chain), for the tests and the
        #: benchmark's report (`/readyz` says them per API process).
        self.reused = 0
        self.whole = 0
        self._entries: OrderedDict[str, tuple[int, Verification]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ref: str, block: int) -> Verification | None:
        with self._lock:
            found = self._entries.get(ref)
            if found is None or found[0] != block:
                return None
            self._entries.move_to_end(ref)
            return found[1]

    def latest(self, ref: str) -> tuple[int, Verification] | None:
        """The certificate's kept verification, whatever its block, and that block."""
        with self._lock:
            return self._entries.get(ref)

    def put(
        self, ref: str, block: int, verification: Verification, *, reused: bool = False
    ) -> None:
        with self._lock:
            self.reused += reused
            self._entries[ref] = (block, verification)
            self._entries.move_to_end(ref)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def counts(self) -> dict[str, int]:
        """How many checks of stored certificates reused a kept verification at a new block,
        and how many were whole checks, since the process started."""
        with self._lock:
            return {"reused": self.reused, "whole": self.whole}

    def latest_block(self, client: ChainClient) -> int:
        """The chain's latest block: the block watcher's reading while it is fresh (its thread
        started on the first call); else asked of the node, a request that arrives while
        another is asking sharing its answer (one `eth_blockNumber` in flight at a time).

        Raises:
            ChainError: the node does not answer.
        """
        watcher = self._watcher(client)
        if watcher is None:
            return self.blocks.run(client.url, client.retrieve_block_number)
        fresh = watcher.fresh()
        if fresh is not None:
            return fresh
        return self.blocks.run(client.url, watcher.read)

    def newer_block(self, client: ChainClient, than: int) -> int:
        """The latest block asked of the node now (shared with concurrent askers) when the
        reading is not after `than`.

        Raises:
            ChainError: the node does not answer.
        """
        watcher = self._watcher(client)
        fresh = watcher.fresh() if watcher is not None else None
        if fresh is not None and fresh > than:
            return fresh
        read = watcher.read if watcher is not None else client.retrieve_block_number
        return self.blocks.run(client.url, read)

    def fresh_block(self) -> int | None:
        """The block watcher's reading while it is fresh, else None (no question asked)."""
        watcher = self.watcher
        return watcher.fresh() if watcher is not None else None

    def _watcher(self, client: ChainClient) -> BlockWatcher | None:
        if self.block_seconds <= 0:
            return None
        watcher = self.watcher
        if watcher is None or watcher.client is not client:
            with self._lock:
                if self.watcher is None or self.watcher.client is not client:
                    if self.watcher is not None:
                        self.watcher.stop()
                    self.watcher = BlockWatcher(client, self.block_seconds)
                    self.watcher.start()
                watcher = self.watcher
        return watcher

    def close(self) -> None:
        """Stop the block watcher's thread (the cache still answers, asking the node)."""
        with self._lock:
            watcher, self.watcher, self.block_seconds = self.watcher, None, 0.0
        if watcher is not None:
            watcher.stop()


def of_certificate(
    *,
    ref: str,
    sessions: sessionmaker[Session],
    client: ChainClient,
    deployment: Mapping[str, Any],
    cache: VerificationCache,
) -> Verification:
    """A stored certificate's verification at the chain's latest block (checked again at each
    new block, kept within one; concurrent requests for it in one block wait for one check). A
    certificate checked at an earlier block has what can change read again at this one, and
    its findings reused when nothing of it changed (see the module docstring).

    Raises:
        NotFoundError: no such certificate.
        ChainError: the node does not answer the block number.
    """
    block = cache.latest_block(client)
    found = cache.get(ref, block)
    if found is not None:
        return found

    def check() -> Verification:
        found = cache.get(ref, block)
        if found is not None:
            return found  # another request finished this check just before this one started
        known: _Reread | None = None
        kept = cache.latest(ref)
        if kept is not None and kept[0] < block and kept[1].reread is not None:
            reread = kept[1].reread
            try:
                answers = tuple(client.retrieve_eth_calls(reread.calls, block))
            except ChainError:
                answers = None  # the whole check asks again, one read at a time
            if answers is not None:
                known = _Reread(reread.calls, answers)
            if answers == reread.answers and _stored_now(sessions, kept[1]):
                # What can change reads the same, and the stored texts are the same: a whole
                # check would read and find what the kept one did (everything else it reads
                # is final), so its findings stand at this block.
                again = kept[1].at_block(block)
                cache.put(ref, block, again, reused=True)
                return again
        with cache._lock:
            cache.whole += 1
        verification = of_stored(
            ref=ref,
            sessions=sessions,
            client=client,
            deployment=deployment,
            block=block,
            final=cache.final,
            final_block=block - cache.confirmations,
            newer=lambda: cache.newer_block(client, block),
            known=known,
        )
        if verification.settled and verification.block is not None:
            cache.put(ref, verification.block, verification)
        return verification

    return cache.checks.run((ref, block), check)
