"""API shapes of design rights: assignment and licence requests, actions, the rights view,
the departure report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hallmark.core.fields import NOT_BLANK_PATTERN, SHA256_PATTERN, ShortText
from hallmark.services.designs.rights import TERMINATION_REASONS
from hallmark.store.models import DesignRightsAction

# What `rights` refuses, said in the OpenAPI document as JSON Schema (the checks stay there,
# after the registration is found: the console's forms use them too).
_SHA256: dict[str, Any] = {"pattern": SHA256_PATTERN}
_REFERENCE: dict[str, Any] = {"maxLength": 200, "pattern": NOT_BLANK_PATTERN}
_TERMINATION_REASON: dict[str, Any] = {
    "anyOf": [
        {"type": "integer", "minimum": 1, "maximum": 0xFFFF},
        {"type": "string", "enum": sorted(TERMINATION_REASONS)},
    ]
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AssignmentPropose(_Body):
    new_registrant: str = Field(
        description="The registrar organisation (id or name) whose account will hold the design"
    )
    new_owner_ref: str = Field(
        description="The new owner's off-chain reference (hashed on chain)",
        json_schema_extra=_REFERENCE,
    )
    document_sha256: str = Field(
        description="SHA-256 of the signed assignment document (hex)", json_schema_extra=_SHA256
    )
    new_owner_organisation: str | None = Field(
        default=None, description="The Hallmark organisation that owns the design afterwards"
    )


class AssignmentAccept(_Body):
    document_sha256: str = Field(
        description="SHA-256 of the same signed assignment document", json_schema_extra=_SHA256
    )


class LicenceGrant(_Body):
    licensee_ref: str = Field(
        description="The licensee's off-chain reference (hashed on chain)",
        json_schema_extra=_REFERENCE,
    )
    document_sha256: str = Field(
        description="SHA-256 of the signed licence (hex)", json_schema_extra=_SHA256
    )
    valid_from: datetime
    valid_until: datetime | None = Field(default=None, description="None: open-ended")


class LicenceTerminate(_Body):
    reason: int | str = Field(
        description="A reason code 1-65535, or breach, non_payment, mutual_agreement, "
        "rights_dispute, licensee_ceased, other",
        json_schema_extra=_TERMINATION_REASON,
    )


class DeparturePrincipal(_Body):
    # Plain text: a NUL would reach the database (PostgreSQL text cannot hold one).
    principal: ShortText = Field(
        description="The designer principal: its id, one of its API keys (id or prefix), or "
        "its staff account's username"
    )


class Reassignment(_Body):
    principal: str = Field(
        description="The disabled (departed) registrar principal: id, API key id or prefix, "
        "or staff username"
    )
    to: str = Field(description="Another active registrar principal of the same organisation")
    registrations: list[str] | None = Field(
        default=None,
        description="Only these registrations (numbers or fingerprints); all of the "
        "principal's when absent",
    )


class ReassignmentPublic(BaseModel):
    principal: dict[str, Any]
    to: dict[str, Any]
    registrations: list[str]
    count: int
    on_chain: str


class RightsActionPublic(BaseModel):
    id: str
    registration: str
    fingerprint: str
    action: str
    status: str = Field(description="requested → sending → done, or failed (with failure)")
    sender: str
    document_sha256: str | None
    new_registrant: str | None
    new_owner_ref: str | None
    new_owner_ref_hash: str | None
    new_owner_salt: str | None
    licensee_ref: str | None
    licensee_ref_hash: str | None
    licensee_salt: str | None
    valid_from: int | None
    valid_until: int | None
    reason: int | None
    failure: str | None
    last_error: str | None
    tx_hash: str | None
    block_number: int | None
    gas_used: int | None
    created_at: datetime
    done_at: datetime | None


class RightsPublic(BaseModel):
    registration: str
    fingerprint: str
    holder_organisation: str
    on_chain: dict[str, Any]
    actions: list[RightsActionPublic]


class DeparturePublic(BaseModel):
    principal: dict[str, Any]
    deactivated: dict[str, Any] | None
    registrations: list[dict[str, Any]]
    count: int


def action_public(
    row: DesignRightsAction, number: str, *, references: bool = True
) -> RightsActionPublic:
    """An action as the API shows it; `references=False` leaves out the off-chain references
    and their salts (for callers other than legal and the owner's organisation)."""
    sending = row.status in ("sending", "done")
    shown = RightsActionPublic(
        id=row.id,
        registration=number,
        fingerprint=row.fingerprint,
        action=row.action,
        status=row.status,
        sender=row.sender,
        document_sha256=row.document_sha256,
        new_registrant=row.new_registrant,
        new_owner_ref=row.owner_ref,
        new_owner_ref_hash=row.owner_ref_hash,
        new_owner_salt=row.owner_salt,
        licensee_ref=row.licensee_ref,
        licensee_ref_hash=row.licensee_ref_hash,
        licensee_salt=row.licensee_salt,
        valid_from=row.valid_from,
        valid_until=row.valid_until,
        reason=row.reason,
        failure=row.failure,
        last_error=row.last_error,
        tx_hash=row.tx_hash if sending else None,
        block_number=row.block_number,
        gas_used=row.gas_used,
        created_at=row.created_at,
        done_at=row.done_at,
    )
    if references:
        return shown
    hidden = dict.fromkeys(("new_owner_ref", "new_owner_salt", "licensee_ref", "licensee_salt"))
    return shown.model_copy(update=hidden)
