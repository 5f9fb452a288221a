"""Request and response bodies of the anchoring routes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FlagCreate(BaseModel):
    """Withdraw one of your organisation's anchored batches, for ever."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(
        max_length=32,
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
