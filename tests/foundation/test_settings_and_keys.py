"""Production refuses placeholder secrets; keys are generated, encrypted and never anvil's."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pydantic
import pytest
from typer.testing import CliRunner

from hallmark.chain.keys import load_or_create_keys
from hallmark.cli import app
from hallmark.config import Settings
from hallmark.core.errors import KeystoreError

#: The first account of the well-known development mnemonic ("test test ... junk").
ANVIL_DEV_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


@pytest.mark.parametrize(
    "passphrase", [None, "", "changeme", "CHANGEME", "insecure-development-passphrase", "short"]
)
def test_production_refuses_missing_or_placeholder_passphrase(passphrase: str | None) -> None:
    values = {"environment": "production", "_env_file": None}
    if passphrase is not None:
        values["key_passphrase"] = passphrase
    with pytest.raises(pydantic.ValidationError, match="HALLMARK_KEY_PASSPHRASE must be set"):
        Settings(**values)  # type: ignore[arg-type]


def test_production_accepts_a_real_passphrase_and_development_a_default() -> None:
    real = Settings(
        environment="production",  # type: ignore[arg-type]
        key_passphrase="9f!kq-Lw2#pZ",
        file_key="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        _env_file=None,  # type: ignore[call-arg]
    )
    assert real.passphrase == "9f!kq-Lw2#pZ"
    assert "9f!kq" not in repr(real)  # secrets never print
    assert Settings(_env_file=None).passphrase  # development works out of the box


def test_cli_refuses_production_placeholder_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HALLMARK_ENVIRONMENT", "production")
    monkeypatch.setenv("HALLMARK_KEY_PASSPHRASE", "changeme")
    result = CliRunner().invoke(app, ["chain", "status"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: invalid setting")
    assert "HALLMARK_KEY_PASSPHRASE must be set" in lines[0]


def test_keys_are_generated_encrypted_and_reloaded(tmp_path: Path) -> None:
    keys = load_or_create_keys(tmp_path / "keys", "a long passphrase", scrypt_n=1024)
    assert keys.admin.address != keys.service.address
    assert ANVIL_DEV_ACCOUNT_0 not in {keys.admin.address, keys.service.address}
    for name, account in (("admin", keys.admin), ("service", keys.service)):
        path = tmp_path / "keys" / f"{name}.json"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        keystore = json.loads(path.read_text())
        assert keystore["version"] == 3
        assert keystore["crypto"]["kdf"] == "scrypt"
        assert account.key.hex().removeprefix("0x") not in path.read_text()
    again = load_or_create_keys(tmp_path / "keys", "a long passphrase", scrypt_n=1024)
    assert (again.admin.address, again.service.address) == (
        keys.admin.address,
        keys.service.address,
    )


def test_wrong_passphrase_is_refused(tmp_path: Path) -> None:
    load_or_create_keys(tmp_path / "keys", "the right one", scrypt_n=1024)
    with pytest.raises(KeystoreError, match=r"cannot decrypt keystore admin\.json"):
        load_or_create_keys(tmp_path / "keys", "the wrong one", scrypt_n=1024)


def test_runtime_keys_hold_ether_on_the_local_chain(
    make_settings: Callable[..., Settings], start_runtime: Callable[..., object]
) -> None:
    from hallmark.runtime import Runtime

    runtime = start_runtime(make_settings())
    assert isinstance(runtime, Runtime)
    assert runtime.chain is not None
    assert runtime.keys is not None
    assert runtime.chain.w3.eth.accounts == []  # no well-known development accounts
    assert runtime.chain.retrieve_balance(runtime.keys.service.address) > 0
