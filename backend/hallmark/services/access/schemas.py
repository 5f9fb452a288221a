"""Schemas of the access domain: who the caller is, as the API answers it."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class OrganisationRef(BaseModel):
    id: str
    name: str
    kind: str
    account_address: str


class WhoAmI(BaseModel):
    organisation: OrganisationRef
    role: str
    principal_id: str
    api_key_id: str


class RoleChange(BaseModel):
    change: Literal["granted", "revoked"]
    at: datetime


class AccountPublic(BaseModel):
    address: str = Field(
        description="The chain account (EIP-55) that anchors this organisation's records"
    )
    role: str = Field(
        description="Its ProvenanceLedger role: SUPPLIER_ROLE, FACTORY_ROLE, "
        "ISSUER_ROLE (brands) or REGISTRAR_ROLE (legal)"
    )
    history: list[RoleChange] = Field(description="When the role was granted and revoked")


class OrganisationPublic(BaseModel):
    id: str
    name: str
    kind: Literal["brand", "supplier", "factory", "legal"]
    gln: str | None = Field(description="GS1 Global Location Number, when it has one")
    status: Literal["active", "disabled"]
    accounts: list[AccountPublic]


class DirectoryPublic(BaseModel):
    data: list[OrganisationPublic]
    count: int
