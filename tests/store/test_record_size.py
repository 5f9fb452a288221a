"""The per-record size limit: measured on the canonical text, before planning and when made."""

from __future__ import annotations

import pytest

from hallmark.core.canonical import canonical_bytes
from hallmark.core.errors import RecordTooLargeError
from hallmark.store.records import (
    MAX_RECORD_BYTES,
    NewRecord,
    check_record_size,
    prepare_records,
)

ORG = "0190f0e0-0000-7000-8000-000000000001"


def test_records_are_refused_when_made_over_the_limit() -> None:
    data = {"blob": "x" * MAX_RECORD_BYTES}
    with pytest.raises(RecordTooLargeError) as caught:
        prepare_records([NewRecord(kind="other", organisation_id=ORG, data=data)])
    assert caught.value.details["limit"] == MAX_RECORD_BYTES
    assert caught.value.http_status == 413


def test_records_at_the_limit_are_made() -> None:
    (made,) = prepare_records(
        [NewRecord(kind="other", organisation_id=ORG, data={"blob": "x" * 1000})]
    ).stored
    overhead = len(made.canonical.encode()) - 1000
    data = {"blob": "x" * (MAX_RECORD_BYTES - overhead - 8)}
    (made,) = prepare_records([NewRecord(kind="other", organisation_id=ORG, data=data)]).stored
    assert len(made.canonical.encode()) <= MAX_RECORD_BYTES


@pytest.mark.parametrize(("count", "refused"), [(14_000, False), (16_000, True)])
def test_the_early_check_measures_canonical_text_not_a_guess(count: int, refused: bool) -> None:
    # Canonical JSON spells 1e15 out in 16 digits: the record's size is what is hashed.
    data = {"v": [1e15 + i for i in range(count)]}
    assert (len(canonical_bytes(data)) > MAX_RECORD_BYTES) == refused
    if refused:
        with pytest.raises(RecordTooLargeError):
            check_record_size("other", data)
    else:
        check_record_size("other", data)


def test_the_early_check_keeps_room_for_what_is_added_later() -> None:
    data = {"blob": "x" * (MAX_RECORD_BYTES - 400)}
    check_record_size("other", data)
    with pytest.raises(RecordTooLargeError):
        check_record_size("other", data, reserve=400)
