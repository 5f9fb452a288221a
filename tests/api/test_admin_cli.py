"""`hallmark admin`: organisations, principals, keys and the audit log from the command line,
run beside a started Hallmark (its database, its data directory, its local chain)."""

from __future__ import annotations

import re

import pytest
from tests.conftest import World, cli_environment
from typer.testing import CliRunner, Result

from hallmark.chain.ledger import ORG_KIND_ROLES, Ledger
from hallmark.cli import app
from hallmark.core.errors import ChainUnavailableError


def _admin(world: World, *args: str) -> Result:
    return CliRunner().invoke(app, ["admin", *args], env=cli_environment(world))


def _reason(result: Result) -> str:
    """The failure's one line: the last on standard error (start-up logs come before it)."""
    return result.stderr.strip().splitlines()[-1]


def test_an_organisation_administered_from_the_command_line(world: World) -> None:
    created = _admin(world, "org", "create", "Ural Platinum", "--kind", "supplier")
    assert created.exit_code == 0, created.output
    account = created.stdout.split("chain account ")[1].strip()
    role = ORG_KIND_ROLES["supplier"]
    ledger = world.runtime.ledger
    assert ledger.retrieve_has_role(role, account)
    listed = _admin(world, "org", "list")
    assert listed.exit_code == 0, listed.output
    assert "Ural Platinum" in listed.stdout and account in listed.stdout

    person = _admin(world, "principal", "create", "Ural Platinum", "Irina", "--kind", "person")
    assert person.exit_code == 0, person.output
    assert "(person) Irina" in person.stdout
    issued = _admin(world, "key", "create", "Ural Platinum", "--role", "supplier")
    assert issued.exit_code == 0, issued.output
    key = issued.stdout.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {key}"}
    whoami = world.http.get("/api/v1/whoami", headers=headers)
    assert whoami.status_code == 200 and whoami.json()["role"] == "supplier"

    disabled = _admin(world, "org", "disable", "Ural Platinum")
    assert disabled.exit_code == 0, disabled.output
    assert "Ural Platinum disabled" in disabled.stdout
    assert not ledger.retrieve_has_role(role, account)
    assert world.http.get("/api/v1/whoami", headers=headers).status_code == 401
    enabled = _admin(world, "org", "enable", "Ural Platinum")
    assert enabled.exit_code == 0, enabled.output
    assert ledger.retrieve_has_role(role, account)
    assert world.http.get("/api/v1/whoami", headers=headers).status_code == 401  # keys stay revoked

    again = _admin(world, "key", "create", "Ural Platinum", "--role", "supplier")
    prefix = again.stdout.strip().splitlines()[-1].split("_")[1]
    revoked = _admin(world, "key", "revoke", prefix)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.stdout

    verified = _admin(world, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "audit log intact" in verified.stdout


def test_admin_failures_are_one_line(world: World) -> None:
    duplicate = _admin(world, "org", "create", "Maison Lune", "--kind", "brand")
    assert duplicate.exit_code == 1
    assert _reason(duplicate) == "error: an organisation named 'Maison Lune' exists already"
    unknown = _admin(world, "org", "disable", "Nobody")
    assert unknown.exit_code == 1
    assert _reason(unknown) == "error: organisation Nobody not found"
    wrong_role = _admin(world, "key", "create", "Maison Lune", "--role", "supplier")
    assert wrong_role.exit_code == 1
    assert _reason(wrong_role) == "error: a brand organisation cannot hold the supplier role"


def test_an_organisation_the_chain_refused_is_stored_and_finished_by_org_sync(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Ledger, *args: object) -> None:
        raise ChainUnavailableError(self.client.url, "connection refused")

    monkeypatch.setattr(Ledger, "send_grant_role", refuse)
    created = _admin(world, "org", "create", "Lagging Gold", "--kind", "supplier")
    assert created.exit_code == 1
    assert _reason(created).endswith(
        "(the organisation is stored; its binding and role are pending: run "
        "`hallmark admin org sync`)"
    )
    monkeypatch.undo()
    listed = _admin(world, "org", "list")
    [line] = [line for line in listed.stdout.splitlines() if "Lagging Gold" in line]
    account = re.findall(r"0x[0-9a-fA-F]{40}", line)[0]
    assert "pending" in line
    ledger = world.runtime.ledger
    assert not ledger.retrieve_has_role("SUPPLIER_ROLE", account)
    assert world.http.get("/readyz").json()["organisations"] == {"pending_grants": 1}
    synced = _admin(world, "org", "sync")
    assert synced.exit_code == 0, synced.output
    assert "1 pending grant(s) applied on chain" in synced.stdout
    assert ledger.retrieve_has_role("SUPPLIER_ROLE", account)
    assert "0 pending grant(s)" in _admin(world, "org", "sync").stdout
    assert world.http.get("/readyz").json()["organisations"] == {"pending_grants": 0}
    [line] = [line for line in _admin(world, "org", "list").stdout.splitlines() if account in line]
    assert "applied" in line
