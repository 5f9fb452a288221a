"""The verifier against what a hostile or compromised party leaves on chain: a record's copy
anchored by another organisation presented as the record's evidence, and a brand account
declared compromised from the block its certificate was anchored in. Its own module (its own
world): the compromise takes the brand's roles for good."""

from __future__ import annotations

from tests.certificates.builders import (
    anchor_all,
    check,
    complete_product,
    fetch,
    issue,
    record_anchored_by,
)
from tests.conftest import World
from tests.records.factories import SUPPLIER_2


def test_record_anchored_by_another_organisation_fails_the_who_is_who(world: World) -> None:
    certificate = issue(world, complete_product(world))["id"]
    anchor_all(world, [certificate])
    document, bundle = fetch(world, certificate)
    assert check(world, document, bundle).ok
    # Another supplier anchors a copy of the lot record's hash as a lot batch of its own, and
    # that evidence is put in the bundle: the ledger verifies it (it is that supplier's batch),
    # the who-is-who table does not name that account for the lot's organisation.
    forged = record_anchored_by(world, bundle, SUPPLIER_2)
    report = check(world, document, forged)
    assert not report.ok
    failed = report.checks[-1]
    assert failed.name == "bundle" and "who-is-who table" in failed.detail


def test_compromised_anchorer_revokes_its_certificates(world: World) -> None:
    certificate = issue(world, complete_product(world))["id"]
    anchor_all(world, [certificate])
    document, bundle = fetch(world, certificate)
    assert check(world, document, bundle).ok
    assert world.runtime.keys is not None
    world.runtime.ledger.send_mark_compromised(
        world.runtime.keys.admin,
        document["proof"]["anchor"]["anchorer"],
        from_block=document["proof"]["anchor"]["block"],
        reason=3,
    )
    report = check(world, document, bundle)
    assert report.verdict == "revoked"
    status = next(c for c in report.checks if c.name == "status")
    assert "anchorer_compromised" in status.detail and "reason 3" in status.detail
    # The brand's other batches from that block on (its product record's, when anchored then)
    # read flagged too: a bundle failure there is a withdrawal, never called tampering.
    assert all(c.ok or "tampered" not in c.detail for c in report.checks)
