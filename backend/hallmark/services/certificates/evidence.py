"""What a certificate's holder receives: the signed document with its anchoring evidence, and the
provenance bundle of every record the document relies on.

The signed part is the stored record's canonical text (never rebuilt); the proof adds the
signature, the deployment and, once the certificate's batch is on chain, the anchoring evidence
(anchorer, root, Merkle proof, block, transaction). The bundle lists, for each record the
document's `credentialSubject.records` names, its canonical text (public parts only: private
fields of lots are in the text only as their salted commitment), hash, writer and the same
anchoring evidence, so the story verifies offline against the chain (`verifier`).

Every record's text, hash and proof are checked on the way out (`anchoring.status`).

Raises:
    NotFoundError: no such certificate.
    RecordIntegrityError: a stored text, hash, proof and root disagree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from web3 import Web3

from hallmark.core.errors import NotFoundError
from hallmark.services.anchoring import status
from hallmark.services.certificates import document as doc
from hallmark.store.models import Certificate, Record


def anchor_of(found: status.AnchoringStatus | None, kind: str) -> dict[str, Any] | None:
    """The anchoring evidence of a record, once its batch is on chain (else None)."""
    if found is None or found.status not in ("anchored", "confirmed") or found.proof is None:
        return None
    return {
        "kind": kind,
        "anchorer": Web3.to_checksum_address(found.anchorer or ""),
        "root": found.root,
        "proof": list(found.proof),
        "block": found.block_number,
        "transaction": found.tx_hash,
        "ledger": Web3.to_checksum_address(found.ledger or ""),
        "contractsVersion": found.contracts_version,
    }


def find(session: Session, certificate_id: str) -> Certificate:
    """A certificate by id or number (any organisation's: documents are public).

    Raises:
        NotFoundError: no such certificate.
    """
    certificate = session.get(Certificate, certificate_id)
    if certificate is None:
        certificate = session.scalar(
            select(Certificate).where(Certificate.number == certificate_id)
        )
    if certificate is None:
        raise NotFoundError("certificate", certificate_id)
    return certificate


def signed_document(
    session: Session,
    certificate: Certificate,
    deployment: Mapping[str, Any],
    *,
    deployments: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The certificate document with its proof (and the anchoring evidence once on chain).

    `deployment` is the current one's {ledger, designRegistry, contractsVersion}; a certificate
    issued on an earlier deployment (before `hallmark deploy --new`) names that one's, found in
    `deployments` by its ledger address."""
    record = session.get(Record, certificate.id)
    assert record is not None
    found = status.records_status(session=session, record_ids=[record.id]).get(record.id)
    unsigned = json.loads(record.canonical)
    ledger = unsigned["credentialStatus"]["ledger"]
    if ledger != deployment["ledger"] and deployments is not None and ledger in deployments:
        deployment = deployments[ledger]
    return doc.with_proof(
        unsigned,
        signer=certificate.signer,
        signature=certificate.signature,
        deployment=deployment,
        anchor=anchor_of(found, "certificate"),
    )


def bundle(session: Session, certificate: Certificate) -> dict[str, Any]:
    """The provenance bundle: every record the certificate relies on, with its evidence."""
    record = session.get(Record, certificate.id)
    assert record is not None
    listed = json.loads(record.canonical)["credentialSubject"]["records"]
    ids = [entry["id"] for entry in listed]
    records = {r.id: r for r in session.scalars(select(Record).where(Record.id.in_(ids)))}
    statuses = status.records_status(session=session, record_ids=ids)
    entries = []
    for entry in listed:
        found = records.get(entry["id"])
        if found is None:
            raise NotFoundError("record", entry["id"])
        entries.append(
            {
                "id": found.id,
                "kind": found.kind,
                "organisation": found.organisation_id,
                "recordHash": found.record_hash,
                "canonical": found.canonical,
                "anchor": anchor_of(statuses.get(found.id), found.kind),
            }
        )
    return {
        "type": doc.BUNDLE_TYPE,
        "certificate": certificate.certificate_hash,
        "records": entries,
    }


def fully_anchored(signed: Mapping[str, Any], provenance: Mapping[str, Any]) -> bool:
    """The certificate and every bundled record carry their anchoring evidence."""
    return signed["proof"]["anchor"] is not None and all(
        entry["anchor"] is not None for entry in provenance["records"]
    )
