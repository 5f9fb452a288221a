"""Organisations, principals and API keys, kept in step with the chain.

Creating an organisation generates its own Ethereum account (key held encrypted as a V3 keystore
in the database), grants the ledger role of its kind on chain, and funds the account on the local
development chain. Disabling revokes that role on chain and every key of the organisation in the
same command; enabling grants it again. Every change is written to the audit log.

Order of effects: the database change is prepared in an open transaction, the chain is changed,
then the transaction commits. If the chain refuses, nothing is committed; if the commit fails
after the chain changed, the chain change is undone before the error is raised.

Raises:
    InvalidInputError: unknown kind or role, duplicate name.
    NotFoundError: unknown organisation, principal or key.
    ChainError: the chain refused or is unreachable.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from hallmark.chain.ledger import ORG_KIND_ROLES, Ledger
from hallmark.core.errors import (
    InvalidInputError,
    KeystoreError,
    NotFoundError,
    UniqueViolationError,
)
from hallmark.services.access import audit
from hallmark.services.access.keys import issue_key, revoke_key
from hallmark.store.db import transaction
from hallmark.store.models import ApiKey, Organisation, Principal

ORG_KINDS = tuple(ORG_KIND_ROLES)
PRINCIPAL_KINDS = ("machine", "person")


@dataclass(frozen=True, slots=True)
class ChainAccess:
    """What organisation changes need from the chain."""

    ledger: Ledger
    admin: LocalAccount
    passphrase: str
    scrypt_n: int
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
    *, sessions: sessionmaker[Session], chain: ChainAccess, name: str, kind: str
) -> Organisation:
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
        keystore=keystore,
    )
    role = ORG_KIND_ROLES[kind]
    with sessions() as session:
        if session.scalars(select(Organisation).where(Organisation.name == name)).first():
            raise InvalidInputError(f"an organisation named {name!r} exists already")
    if chain.fund is not None:
        chain.fund(account.address)
    chain.ledger.send_grant_role(chain.admin, role, account.address)
    try:
        with transaction(sessions) as session:
            session.add(organisation)
            session.flush()
            audit.append(
                session,
                actor=audit.SYSTEM,
                action="organisation.create",
                object_kind="organisation",
                object_id=organisation.id,
                details={"name": name, "kind": kind, "account": account.address, "role": role},
            )
    except UniqueViolationError as exc:
        chain.ledger.send_revoke_role(chain.admin, role, account.address)
        raise InvalidInputError(f"an organisation named {name!r} exists already") from exc
    return organisation


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
    """Disable (revoke the role on chain and every key) or enable (grant the role again)."""
    with transaction(sessions) as session:
        organisation = find_organisation(session, ref)
        role = ORG_KIND_ROLES[organisation.kind]
        if enabled:
            if organisation.status != "active":
                chain.ledger.send_grant_role(chain.admin, role, organisation.account_address)
            organisation.status = "active"
            organisation.disabled_at = None
            revoked = 0
        else:
            if organisation.status != "disabled":
                chain.ledger.send_revoke_role(chain.admin, role, organisation.account_address)
            organisation.status = "disabled"
            organisation.disabled_at = datetime.now(UTC)
            result = session.execute(
                update(ApiKey)
                .where(ApiKey.organisation_id == organisation.id, ApiKey.status == "active")
                .values(status="revoked", revoked_at=datetime.now(UTC))
            )
            revoked = int(getattr(result, "rowcount", 0) or 0)
        audit.append(
            session,
            actor=audit.SYSTEM,
            action="organisation.enable" if enabled else "organisation.disable",
            object_kind="organisation",
            object_id=organisation.id,
            details={"role": role, "keys_revoked": revoked},
        )
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
    """Revoke by id or prefix; effective for the next request in every process."""
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
        return key
