"""Schemas of the access domain: who the caller is, as the API answers it."""

from __future__ import annotations

from pydantic import BaseModel


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
