"""Moments in UTC: everything Hallmark stores is UTC, and SQLite hands times back without a zone."""

from __future__ import annotations

from datetime import UTC, datetime


def utc(moment: datetime) -> datetime:
    """`moment` with its zone; a naive one (SQLite drops the zone) is taken as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)
