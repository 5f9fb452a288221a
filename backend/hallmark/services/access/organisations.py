"""Organisations, principals and API keys, kept in step with the chain.

Creating an organisation generates its own Ethereum account (key held encrypted as a V3 keystore
in the database), binds the account to the organisation (its UUID) on a version 2 ledger, grants
the ledger role of its kind, and funds the account on the local development chain. Disabling
revokes that role on chain and every key of the organisation in the same command; enabling grants
it again. Every change is written to the audit log.

Order of effects — intent, commit, send, outcome; no database transaction is ever open while a
transaction waits for the chain:
1. one transaction stores the change (the organisation with its key, or its new status) and the
   *grant* it implies (`organisation_grants`: this account should / should not hold this role on
   the current deployment, `pending`), with its audit entry, and commits;
2. the chain is brought to the grant (`apply_grants`): it is read first (binding, role) and only
   what is missing is sent, so applying a grant again is harmless;
3. the outcome is recorded: `applied`, or `last_error` with the grant still `pending`.
A crash before 1 leaves nothing; after 1, the key is stored and the grant waits: `hallmark admin
org sync` (and the next change or deployment) applies it. No role is ever granted to a key that
is not stored. A new deployment (`hallmark deploy --new`) records a pending grant for every
organisation on it and applies them the same way.

Raises:
    InvalidInputError: unknown kind or role, duplicate name.
    NotFoundError: unknown organisation, principal or key.
    ChainError: the chain refused or is unreachable (the change is stored, its grant pending).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from stdnum import ean
from stdnum.exceptions import ValidationError

from hallmark.chain.ledger import ORG_KIND_ROLES, Ledger
from hallmark.core.errors import (
    ChainError,
    InvalidInputError,
    KeystoreError,
    NotFoundError,
    UniqueViolationError,
)
from hallmark.services.access import audit
from hallmark.services.access.keys import forget_cached_keys, issue_key, revoke_key
from hallmark.store.db import transaction
from hallmark.store.models import ApiKey, Organisation, OrganisationGrant, Principal

log = structlog.get_logger(__name__)

ORG_KINDS = tuple(ORG_KIND_ROLES)
PRINCIPAL_KINDS = ("machine", "person")


@dataclass(frozen=True, slots=True)
class ChainAccess:
    """What organisation changes need from the chain."""

    ledger: Ledger
    admin: LocalAccount
    passphrase: str
    scrypt_n: int
    #: The current deployment's row id (grants are recorded per deployment).
    deployment_id: int
    #: Funds a new account (on the local development chain); None where the operator funds.
    fund: Callable[[str], None] | None = None


def organisation_account(organisation: Organisation, passphrase: str) -> LocalAccount:
    """Decrypt an organisation's signing key."""
    try:
        key = Account.decrypt(organisation.keystore, passphrase)
    except ValueError as exc:
        raise KeystoreError(
            f"cannot decrypt the key of organisation {organisation.name}: wrong passphrase"
        ) from exc
    account: LocalAccount = Account.from_key(key)
    return account


def create_organisation(
    *,
    sessions: sessionmaker[Session],
    chain: ChainAccess,
    name: str,
    kind: str,
    gln: str | None = None,
) -> Organisation:
    """A new organisation with its own account, bound and granted on chain (see the module
    docstring for the order of effects).

    Raises:
        InvalidInputError: unknown kind, empty or duplicate name, a GLN that is not one.
        ChainError: the chain refused or is unreachable; the organisation is stored and its grant
            stays pending (`hallmark admin org sync`).
    """
    if gln is not None:
        gln = valid_gln(gln)
    if kind not in ORG_KINDS:
        raise InvalidInputError(
            f"unknown organisation kind {kind!r}; one of {', '.join(ORG_KINDS)}"
        )
    name = name.strip()
    if not name:
        raise InvalidInputError("an organisation needs a name")
    account: LocalAccount = Account.create()
    keystore = json.loads(
        json.dumps(Account.encrypt(account.key, chain.passphrase, iterations=chain.scrypt_n))
    )
    organisation = Organisation(
        id=str(uuid.uuid4()),
        name=name,
        kind=kind,
        status="active",
        account_address=account.address,
        gln=gln,
        keystore=keystore,
    )
    role = ORG_KIND_ROLES[kind]
    try:
        with transaction(sessions) as session:
            if session.scalars(select(Organisation).where(Organisation.name == name)).first():
                raise InvalidInputError(f"an organisation named {name!r} exists already")
            session.add(organisation)
            session.flush()
            session.add(_grant(organisation, chain.deployment_id, wanted=True))
            audit.append(
                session,
                actor=audit.SYSTEM,
                action="organisation.create",
                object_kind="organisation",
                object_id=organisation.id,
                details={
                    "name": name,
                    "kind": kind,
                    "account": account.address,
                    "role": role,
                    "gln": gln,
                },
            )
    except UniqueViolationError as exc:
        raise InvalidInputError(f"an organisation named {name!r} exists already") from exc
    if chain.fund is not None:
        chain.fund(account.address)
    apply_grants(sessions=sessions, chain=chain, organisation_id=organisation.id)
    return organisation


def set_gln(*, sessions: sessionmaker[Session], ref: str, gln: str | None) -> Organisation:
    """Record (or, with None, clear) an organisation's GS1 Global Location Number.

    Raises:
        NotFoundError: no such organisation.
        InvalidInputError: not a GLN.
    """
    value = valid_gln(gln) if gln is not None else None
    with transaction(sessions) as session:
        organisation = find_organisation(session, ref)
        before = organisation.gln
        organisation.gln = value
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="organisation.gln",
            object_kind="organisation",
            object_id=organisation.id,
            details={"gln": value, "before": before},
        )
        return organisation


def valid_gln(gln: str) -> str:
    """A GS1 Global Location Number: 13 digits with a valid check digit (python-stdnum).

    Raises:
        InvalidInputError: it is not one.
    """
    try:
        value: str = ean.validate(gln)
    except ValidationError as exc:
        raise InvalidInputError(f"{gln!r} is not a GLN (13 digits, GS1 check digit)") from exc
    if len(value) != 13:
        raise InvalidInputError(f"{gln!r} is not a GLN (13 digits, GS1 check digit)")
    return value


def _grant(organisation: Organisation, deployment_id: int, *, wanted: bool) -> OrganisationGrant:
    return OrganisationGrant(
        organisation_id=organisation.id,
        deployment_id=deployment_id,
        account_address=organisation.account_address,
        role=ORG_KIND_ROLES[organisation.kind],
        wanted=wanted,
        status="pending",
        updated_at=datetime.now(UTC),
    )


def _want(
    session: Session, organisation: Organisation, deployment_id: int, *, wanted: bool
) -> None:
    """Record (in the caller's transaction) that the organisation's account should or should
    not hold its role on the deployment's ledger; pending until `apply_grants`."""
    row = session.scalars(
        select(OrganisationGrant).where(
            OrganisationGrant.organisation_id == organisation.id,
            OrganisationGrant.deployment_id == deployment_id,
        )
    ).first()
    if row is None:
        session.add(_grant(organisation, deployment_id, wanted=wanted))
        return
    row.wanted, row.status, row.updated_at = wanted, "pending", datetime.now(UTC)


def plan_deployment_grants(*, sessions: sessionmaker[Session], deployment_id: int) -> int:
    """Record a pending grant on a new deployment for every organisation (its role if active,
    its binding only if disabled); how many were recorded."""
    with transaction(sessions) as session:
        organisations = session.scalars(select(Organisation).order_by(Organisation.created_at))
        count = 0
        for organisation in organisations:
            _want(session, organisation, deployment_id, wanted=organisation.status == "active")
            count += 1
        return count


def pending_grants(*, sessions: sessionmaker[Session], deployment_id: int) -> int | None:
    """How many grants on the deployment still wait for the chain (None: the database does not
    answer)."""
    try:
        with sessions() as session:
            count = session.scalar(
                select(func.count())
                .select_from(OrganisationGrant)
                .where(
                    OrganisationGrant.deployment_id == deployment_id,
                    OrganisationGrant.status == "pending",
                )
            )
    except SQLAlchemyError:
        return None
    return int(count or 0)


def apply_grants(
    *, sessions: sessionmaker[Session], chain: ChainAccess, organisation_id: str | None = None
) -> int:
    """Bring the chain to every pending grant of the current deployment (of one organisation,
    or of all); how many were applied.

    Each grant reads the chain first (binding, role) and sends only what is missing, then
    records `applied`; no database transaction is open while a transaction is sent.

    Raises:
        ChainError: the first grant the chain refused (recorded in its `last_error`; the others
            are still tried).
    """
    query = select(OrganisationGrant.id).where(
        OrganisationGrant.deployment_id == chain.deployment_id,
        OrganisationGrant.status == "pending",
    )
    if organisation_id is not None:
        query = query.where(OrganisationGrant.organisation_id == organisation_id)
    with sessions() as session:
        grant_ids = list(session.scalars(query.order_by(OrganisationGrant.id)).all())
    applied = 0
    first_error: ChainError | None = None
    for grant_id in grant_ids:
        with sessions() as session:
            grant = session.get(OrganisationGrant, grant_id)
            assert grant is not None
            organisation = session.get(Organisation, grant.organisation_id)
            assert organisation is not None
            org_id, address, role = organisation.id, grant.account_address, grant.role
            wanted = grant.wanted
        try:
            sent = _apply(chain, org_id=org_id, address=address, role=role, wanted=wanted)
        except ChainError as exc:
            _record_grant(sessions, grant_id, wanted=wanted, error=exc.message)
            log.warning("organisation.grant_failed", organisation=org_id, error=exc.message)
            first_error = first_error or exc
            continue
        _record_grant(sessions, grant_id, wanted=wanted, error=None)
        applied += 1
        log.info("organisation.grant_applied", organisation=org_id, role=role, sent=sent)
    if first_error is not None:
        raise first_error
    return applied


def _apply(chain: ChainAccess, *, org_id: str, address: str, role: str, wanted: bool) -> list[str]:
    """Read the account's binding and role on the ledger and send what is missing; the
    functions sent."""
    ledger = chain.ledger
    sent: list[str] = []
    if ledger.version == 2:
        organisation = uuid.UUID(org_id).bytes
        binding = ledger.retrieve_account(address)
        if not binding.bound:
            ledger.send_bind_account(chain.admin, address, organisation)
            sent.append("bindAccount")
        elif binding.organisation != organisation:
            raise ChainError(
                f"account {address} is bound to organisation 0x{binding.organisation.hex()} "
                f"on the ledger, not to {org_id}",
                details={"account": address, "organisation": org_id},
            )
    held = ledger.retrieve_has_role(role, address)
    if wanted and not held:
        ledger.send_grant_role(chain.admin, role, address)
        sent.append("grantRole")
    elif held and not wanted:
        ledger.send_revoke_role(chain.admin, role, address)
        sent.append("revokeRole")
    return sent


def _record_grant(
    sessions: sessionmaker[Session], grant_id: int, *, wanted: bool, error: str | None
) -> None:
    """The outcome of applying a grant, unless it changed meanwhile (then it stays pending)."""
    with transaction(sessions) as session:
        session.execute(
            update(OrganisationGrant)
            .where(OrganisationGrant.id == grant_id, OrganisationGrant.wanted == wanted)
            .values(
                status="pending" if error else "applied",
                last_error=error,
                updated_at=datetime.now(UTC),
            )
        )


def find_organisation(session: Session, ref: str) -> Organisation:
    """By id or by name."""
    found = (
        session.get(Organisation, ref)
        or session.scalars(select(Organisation).where(Organisation.name == ref)).first()
    )
    if found is None:
        raise NotFoundError("organisation", ref)
    return found


def set_organisation_enabled(
    *, sessions: sessionmaker[Session], chain: ChainAccess, ref: str, enabled: bool
) -> Organisation:
    """Disable (revoke the role on chain and every key) or enable (grant the role again).

    The status, the keys and the pending grant are committed first, then the chain follows
    (`apply_grants`); a chain failure leaves the grant pending (`hallmark admin org sync`).
    """
    with transaction(sessions) as session:
        organisation = find_organisation(session, ref)
        role = ORG_KIND_ROLES[organisation.kind]
        if enabled:
            organisation.status = "active"
            organisation.disabled_at = None
            revoked = 0
        else:
            organisation.status = "disabled"
            organisation.disabled_at = datetime.now(UTC)
            result = session.execute(
                update(ApiKey)
                .where(ApiKey.organisation_id == organisation.id, ApiKey.status == "active")
                .values(status="revoked", revoked_at=datetime.now(UTC))
            )
            revoked = int(getattr(result, "rowcount", 0) or 0)
        _want(session, organisation, chain.deployment_id, wanted=enabled)
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="organisation.enable" if enabled else "organisation.disable",
            object_kind="organisation",
            object_id=organisation.id,
            details={"role": role, "keys_revoked": revoked},
        )
    if not enabled:
        forget_cached_keys()  # committed: this process refuses the keys from now on
    apply_grants(sessions=sessions, chain=chain, organisation_id=organisation.id)
    return organisation


def create_principal(
    *, sessions: sessionmaker[Session], organisation_ref: str, name: str, kind: str
) -> Principal:
    if kind not in PRINCIPAL_KINDS:
        raise InvalidInputError(f"unknown principal kind {kind!r}; one of machine, person")
    with transaction(sessions) as session:
        organisation = find_organisation(session, organisation_ref)
        exists = session.scalars(
            select(Principal).where(
                Principal.organisation_id == organisation.id, Principal.name == name
            )
        ).first()
        if exists:
            raise InvalidInputError(f"{organisation.name} already has a principal named {name!r}")
        principal = Principal(
            id=str(uuid.uuid4()), organisation_id=organisation.id, name=name, kind=kind
        )
        session.add(principal)
        session.flush()
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="principal.create",
            object_kind="principal",
            object_id=principal.id,
            details={"organisation": organisation.id, "name": name, "kind": kind},
        )
        return principal


def create_api_key(
    *, sessions: sessionmaker[Session], organisation_ref: str, principal_name: str, role: str
) -> tuple[ApiKey, str]:
    """A new key for a principal (created as a machine principal if it does not exist)."""
    with transaction(sessions) as session:
        organisation = find_organisation(session, organisation_ref)
        if organisation.status != "active":
            raise InvalidInputError(f"{organisation.name} is disabled")
        principal = session.scalars(
            select(Principal).where(
                Principal.organisation_id == organisation.id, Principal.name == principal_name
            )
        ).first()
        if principal is None:
            principal = Principal(
                id=str(uuid.uuid4()),
                organisation_id=organisation.id,
                name=principal_name,
                kind="machine",
            )
            session.add(principal)
            session.flush()
        key, secret = issue_key(session, principal=principal, role=role)
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="api_key.create",
            object_kind="api_key",
            object_id=key.id,
            details={"organisation": organisation.id, "principal": principal.id, "role": role},
        )
        return key, secret


def revoke_api_key(*, sessions: sessionmaker[Session], key_ref: str) -> ApiKey:
    """Revoke by id or prefix: refused at once by this process, by every other one within
    `HALLMARK_KEY_CACHE_SECONDS` (`keys.KeyCache`)."""
    with transaction(sessions) as session:
        key = (
            session.get(ApiKey, key_ref)
            or session.scalars(select(ApiKey).where(ApiKey.prefix == key_ref)).first()
        )
        if key is None:
            raise NotFoundError("api key", key_ref)
        revoke_key(session, key)
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="api_key.revoke",
            object_kind="api_key",
            object_id=key.id,
            details={"organisation": key.organisation_id},
        )
    forget_cached_keys()  # committed: this process refuses the key from now on
    return key
