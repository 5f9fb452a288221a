"""After issuance: revocation (one certificate, or a whole order), reissue and supersession.

All three go through the ledger's rules (docs/CONTRACTS.md): the brand's own account sends them,
and the ledger refuses anything about another organisation's certificates; Hallmark refuses
it first (another brand's certificate is not found). Revocation needs REVOKER_ROLE: a brand's
account holds ISSUER_ROLE from its creation, and the administrator grants it REVOKER_ROLE the
first time the brand revokes (read first, granted only when missing).

- `revoke`: `revokeCertificate(anchorer, root, hash, proof, reason)` once the certificate is on
  chain; final. The product is no longer certified, so the brand may issue again.
- `revoke_order`: `revokeIssuance(issuanceId, reason)`: every certificate of the order, wherever
  it is anchored, now or later.
- `reissue`: a new certificate for the same product (after repair, resizing, re-engraving: the
  production must be complete again) whose `credentialStatus.supersedes` names the old hash.
- `supersede`: once both are on chain, `supersedeCertificate(old, new)`; the old one then reads
  Superseded and names its successor on chain.

Each sends its transaction with no database transaction open, then records the outcome and its
audit entry in one transaction. Running an interrupted revocation again records what the chain
holds (`CertificateAlreadyRevoked`).

Raises:
    PermissionDeniedError: a role other than brand.
    NotFoundError: not a certificate (or order) of the caller's organisation.
    InvalidInputError: unknown reason.
    CertificateStateError: not on chain yet; already revoked or superseded.
    ChainError: the chain refused or is unreachable (nothing recorded).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.client import Sent
from hallmark.chain.ledger import CertificateRef, Ledger
from hallmark.core.errors import (
    CertificateStateError,
    ContractRevertError,
    InvalidInputError,
    NotFoundError,
)
from hallmark.services.access import audit, authorisation
from hallmark.services.access.keys import Actor
from hallmark.services.anchoring import status
from hallmark.services.certificates import document as doc
from hallmark.services.certificates import issuance
from hallmark.store.db import transaction
from hallmark.store.models import (
    Certificate,
    CertificateOrder,
    Organisation,
    Product,
    Record,
)

log = structlog.get_logger("hallmark.certificates")


@dataclass(frozen=True, slots=True)
class ChainWrite:
    """What revocation and supersession need: the current ledger, the administrator (who grants
    REVOKER_ROLE) and the organisations' accounts."""

    ledger: Ledger
    admin: LocalAccount
    account_of: Callable[[Organisation], LocalAccount]


def reason_code(reason: str) -> int:
    """The on-chain code of a revocation reason name.

    Raises:
        InvalidInputError: unknown reason.
    """
    try:
        return doc.REVOCATION_REASONS[reason]
    except KeyError:
        raise InvalidInputError(
            f"unknown reason {reason!r}; one of {', '.join(doc.REVOCATION_REASONS)}",
            details={"field": "reason"},
        ) from None


def evidence_ref(session: Session, certificate: Certificate) -> CertificateRef:
    """The certificate's batch and proof on chain.

    Raises:
        CertificateStateError: its batch is not on chain yet.
    """
    found = status.record_status(session=session, record_id=certificate.id)
    if found.status not in ("anchored", "confirmed") or found.proof is None:
        raise CertificateStateError(
            f"certificate {certificate.number} is not anchored yet ({found.status}); "
            "try again once it is",
            certificate=certificate.id,
            state=found.status,
        )
    assert found.anchorer is not None and found.root is not None
    return CertificateRef(found.anchorer, found.root, certificate.certificate_hash, found.proof)


def _brand_account(session: Session, chain: ChainWrite, actor: Actor) -> LocalAccount:
    """The account the caller's organisation sends with."""
    organisation = session.get(Organisation, actor.organisation_id)
    assert organisation is not None
    return chain.account_of(organisation)


def _sent_once(
    send: Callable[[], Sent], *, already: str
) -> tuple[str | None, ContractRevertError | None]:
    """Send; the transaction hash, or, when the ledger refuses with `already` (an earlier run
    got through: the chain holds the outcome), no hash and that refusal, to record from."""
    try:
        return send().tx_hash, None
    except ContractRevertError as exc:
        if exc.error_name != already:
            raise
        return None, exc


def _ensure_revoker(chain: ChainWrite, account: str) -> None:
    if not chain.ledger.retrieve_has_role("REVOKER_ROLE", account):
        chain.ledger.send_grant_role(chain.admin, "REVOKER_ROLE", account)
        log.info("certificates.revoker_granted", account=account)


def _require_valid(certificate: Certificate) -> None:
    if certificate.status != "valid":
        raise CertificateStateError(
            f"certificate {certificate.number} is {certificate.status} already",
            certificate=certificate.id,
            state=certificate.status,
        )


def revoke(
    *,
    sessions: sessionmaker[Session],
    chain: ChainWrite,
    actor: Actor,
    ref: str,
    reason: str,
) -> Certificate:
    """Revoke one of the brand's certificates on chain, for a reason (see the module)."""
    authorisation.require_role(actor, "certificate.revoke")
    code = reason_code(reason)
    with sessions() as session:
        certificate = issuance.find_certificate(session, actor, ref)
        if certificate.status == "revoked":
            raise CertificateStateError(
                f"certificate {certificate.number} is revoked already",
                certificate=certificate.id,
                state="revoked",
            )
        target = evidence_ref(session, certificate)
        account = _brand_account(session, chain, actor)
        certificate_id = certificate.id
    _ensure_revoker(chain, account.address)
    tx_hash, earlier = _sent_once(
        lambda: chain.ledger.send_revoke_certificate(account, target, reason=code),
        already="CertificateAlreadyRevoked",
    )
    if earlier is not None:
        code = int(earlier.arguments["reason"])  # revoked before: record what the chain holds
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        stored = session.get(Certificate, certificate_id)
        assert stored is not None
        certificate = stored
        if certificate.status == "valid":
            session.execute(
                update(Product)
                .where(Product.id == certificate.product_id)
                .values(certified_at=None)
            )
        certificate.status = "revoked"
        certificate.revoke_reason = code
        certificate.revoked_at = now
        audit.append(
            session,
            actor=actor.audit,
            action="certificate.revoke",
            object_kind="certificate",
            object_id=certificate_id,
            details={"reason": reason, "code": code, "tx": tx_hash, "root": target.root},
        )
        session.flush()
        session.expunge(certificate)
    return certificate


def revoke_order(
    *,
    sessions: sessionmaker[Session],
    chain: ChainWrite,
    actor: Actor,
    order_id: str,
    reason: str,
) -> CertificateOrder:
    """Revoke every certificate of one of the brand's orders on chain (`revokeIssuance`)."""
    authorisation.require_role(actor, "certificate.revoke")
    code = reason_code(reason)
    with sessions() as session:
        order = issuance.order_of(session, actor, order_id)
        issuance_id = order.issuance_id
        account = _brand_account(session, chain, actor)
    _ensure_revoker(chain, account.address)
    tx_hash, earlier = _sent_once(
        lambda: chain.ledger.send_revoke_issuance(account, issuance_id, reason=code),
        already="IssuanceAlreadyRevoked",
    )
    if earlier is not None:
        code = int(earlier.arguments["reason"])
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        valid = select(Certificate.product_id).where(
            Certificate.order_id == order_id, Certificate.status == "valid"
        )
        session.execute(update(Product).where(Product.id.in_(valid)).values(certified_at=None))
        session.execute(
            update(Certificate)
            .where(Certificate.order_id == order_id, Certificate.status != "revoked")
            .values(status="revoked", revoke_reason=code, revoked_at=now)
        )
        audit.append(
            session,
            actor=actor.audit,
            action="certificate.revoke_order",
            object_kind="certificate_order",
            object_id=order_id,
            details={"reason": reason, "code": code, "tx": tx_hash, "issuance_id": issuance_id},
        )
        found = session.get(CertificateOrder, order_id)
        assert found is not None
        session.expunge(found)
    return found


def reissue(
    *,
    session: Session,
    actor: Actor,
    issuer: issuance.Issuer,
    ref: str,
    personal: issuance.PersonalData | None = None,
    engraving_summary: str | None = None,
    design: issuance.DesignChoice | None = None,
) -> Certificate:
    """A new certificate for the product of one of the brand's valid certificates, naming the
    old one in `credentialStatus.supersedes` (the caller commits; `supersede` records it on
    chain once both are anchored); `design`: from `reissue_design`."""
    authorisation.require_role(actor, "certificate.issue")
    old = issuance.find_certificate(session, actor, ref)
    _require_valid(old)
    pending = session.scalar(
        select(Certificate.id).where(
            Certificate.supersedes_id == old.id, Certificate.status == "valid"
        )
    )
    if pending is not None:
        raise CertificateStateError(
            f"certificate {old.number} was reissued already (as {pending})",
            certificate=old.id,
            state="reissued",
        )
    product = session.get(Product, old.product_id, with_for_update=True)
    assert product is not None
    product.certified_at = None  # the new certificate takes the old one's place
    return issuance.issue(
        session=session,
        actor=actor,
        issuer=issuer,
        serial=product.serial,
        personal=personal,
        engraving_summary=engraving_summary,
        supersedes=old,
        design=design,
    )


def reissue_design(
    *,
    sessions: sessionmaker[Session],
    actor: Actor,
    issuer: issuance.Issuer,
    ref: str,
) -> issuance.DesignChoice:
    """The design a reissue of certificate `ref` names: the one the old certificate names
    (with its licence), else the product's own, resolved against the registry and the chain
    again (call it before `reissue`'s transaction).

    Raises:
        NotFoundError: no such certificate of the caller's organisation.
        DesignNotCertifiableError: the design (or licence) is no longer certifiable.
    """
    with sessions() as session:
        old = issuance.find_certificate(session, actor, ref)
        product = session.get(Product, old.product_id)
        assert product is not None
        serial = product.serial
        record = session.get(Record, old.id)
        assert record is not None
        named = json.loads(record.canonical)["credentialSubject"].get("design")
    if named is None:
        return issuance.prepare_design(sessions=sessions, actor=actor, issuer=issuer, serial=serial)
    licence = named["licence"]["documentHash"] if named.get("licence") else None
    return issuance.resolve_design(issuer, named["fingerprint"], licence)


def supersede(
    *,
    sessions: sessionmaker[Session],
    chain: ChainWrite,
    actor: Actor,
    ref: str,
) -> Certificate:
    """Record on chain that the reissued certificate `ref` replaces the one it names; the old
    certificate, as recorded (superseded)."""
    authorisation.require_role(actor, "certificate.issue")
    with sessions() as session:
        new = issuance.find_certificate(session, actor, ref)
        if new.supersedes_id is None:
            raise CertificateStateError(
                f"certificate {new.number} does not replace another one",
                certificate=new.id,
                state=new.status,
            )
        old = session.get(Certificate, new.supersedes_id)
        if old is None or old.organisation_id != actor.organisation_id:
            raise NotFoundError("certificate", new.supersedes_id)
        _require_valid(old)
        _require_valid(new)
        old_ref, new_ref = evidence_ref(session, old), evidence_ref(session, new)
        account = _brand_account(session, chain, actor)
        old_id, new_id = old.id, new.id
    tx_hash, _earlier = _sent_once(
        lambda: chain.ledger.send_supersede_certificate(account, old_ref, new_ref),
        already="CertificateAlreadySuperseded",
    )
    now = datetime.now(UTC)
    with transaction(sessions) as session:
        old = session.get(Certificate, old_id)
        assert old is not None
        old.status = "superseded"
        old.superseded_by_id = new_id
        old.superseded_at = now
        audit.append(
            session,
            actor=actor.audit,
            action="certificate.supersede",
            object_kind="certificate",
            object_id=old_id,
            details={"successor": new_id, "tx": tx_hash},
        )
        session.flush()
        session.expunge(old)
    return old
