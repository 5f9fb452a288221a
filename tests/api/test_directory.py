"""The public organisation directory (`GET /api/v1/organisations`) and `hallmark admin org list`."""

from __future__ import annotations

from tests.conftest import World, cli_environment
from typer.testing import CliRunner, Result

from hallmark.chain.ledger import ORG_KIND_ROLES
from hallmark.cli import app
from hallmark.services.access.organisations import set_organisation_enabled


def _admin(world: World, *args: str, columns: int = 250) -> Result:
    environment = cli_environment(world, COLUMNS=str(columns))
    return CliRunner().invoke(app, ["admin", *args], env=environment)


def test_the_directory_maps_organisations_to_accounts_and_role_history(world: World) -> None:
    created = _admin(
        world, "org", "create", "Ural Platinum", "--kind", "supplier", "--gln", "4012345000009"
    )
    assert created.exit_code == 0, created.output
    assert "4012345000009" in _admin(world, "org", "list").stdout
    refused = _admin(
        world, "org", "create", "Bad GLN", "--kind", "supplier", "--gln", "4012345000008"
    )
    assert refused.exit_code == 1
    assert "not a GLN" in refused.stderr.strip().splitlines()[-1]
    assert world.runtime.sessions is not None
    set_organisation_enabled(
        sessions=world.runtime.sessions,
        chain=world.runtime.chain_access(),
        ref="Antwerp Setters",
        enabled=False,
    )

    assert _admin(world, "org", "gln", "Shenzhen Atelier", "4012345000016").exit_code == 0
    assert _admin(world, "org", "gln", "Ural Platinum", "none").exit_code == 0
    wrong = _admin(world, "org", "gln", "Shenzhen Atelier", "12345")
    assert wrong.exit_code == 1 and "not a GLN" in wrong.stderr

    response = world.http.get("/api/v1/organisations")  # public: no key
    assert response.status_code == 200, response.text
    listed = {org["name"]: org for org in response.json()["data"]}
    assert set(listed) == {*world.organisations, "Ural Platinum"}
    assert "Bad GLN" not in listed
    ural = listed["Ural Platinum"]
    assert (ural["kind"], ural["gln"], ural["status"]) == ("supplier", None, "active")
    assert listed["Shenzhen Atelier"]["gln"] == "4012345000016"
    ledger = world.runtime.ledger
    for name, org in world.organisations.items():
        (account,) = listed[name]["accounts"]
        assert account["address"] == org.account_address
        assert account["role"] == ORG_KIND_ROLES[org.kind]
        changes = [c["change"] for c in account["history"]]
        holds = ledger.retrieve_has_role(account["role"], account["address"])
        assert holds == (changes[-1] == "granted")
        assert changes == (["granted", "revoked"] if name == "Antwerp Setters" else ["granted"])
    assert listed["Antwerp Setters"]["status"] == "disabled"


def test_org_list_prints_whole_addresses_on_a_narrow_terminal(world: World) -> None:
    listed = _admin(world, "org", "list", columns=80)
    assert listed.exit_code == 0, listed.output
    for org in world.organisations.values():
        assert org.account_address in listed.stdout
        assert org.id in listed.stdout
