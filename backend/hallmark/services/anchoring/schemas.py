"""Request and response bodies of the anchoring routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FlagCreate(BaseModel):
    """Withdraw one of your organisation's anchored batches, for ever."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        max_length=32,
        json_schema_extra={
            "enum": ["issued_in_error", "data_error", "key_compromised", "withdrawn", "other"]
        },
        description="issued_in_error, data_error, key_compromised, withdrawn or other "
        "(its code goes on chain)",
    )


class FlagPublic(BaseModel):
    """A batch flagged on chain: every record in it reads flagged (certificates: revoked)."""

    batch_id: int
    root: str
    anchorer: str
    cause: str
    reason: str
    reason_code: int
    transaction: str | None = Field(
        None, description="the flagBatch transaction (none when the chain held the flag already)"
    )


class BatchPublic(BaseModel):
    """One of your organisation's batches, checked now on the ledger it is anchored on."""

    batch_id: int
    kind: str
    root: str
    record_count: int
    status: str = Field(description="signed, sent, mined, confirmed or failed (as recorded)")
    anchorer: str
    transaction: str | None = None
    block: int | None = None
    ledger: str = Field(description="the ProvenanceLedger of the batch's deployment")
    contracts_version: int = Field(description="that ledger's major version (1 or 2)")
    anchored: bool = Field(
        description="the ledger holds the batch's own anchoring: its account, kind and count"
    )
    state: str = Field(description="valid, flagged or unknown, as the ledger reads it now")
    cause: str = Field(
        description="none, not_anchored, other_anchorer, wrong_kind, batch_flagged or "
        "anchorer_compromised"
    )
    reason: str | None = None
    at: int | None = Field(None, description="anchoring time if valid, else the flag's (Unix s)")
