"""`.env.example` documents every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hallmark.config import PROJECT_ROOT, Settings


def test_env_example_lists_every_setting_with_a_description() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text()
    documented = re.findall(r"^HALLMARK_([A-Z0-9_]+)=", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(name.upper() for name in Settings.model_fields)
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"# {field.description}\nHALLMARK_{name.upper()}=" in text


def test_env_example_copied_to_env_loads_with_its_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cp .env.example .env` changes nothing: an empty `HALLMARK_X=` leaves X unset."""
    for name in Settings.model_fields:
        monkeypatch.delenv(f"HALLMARK_{name.upper()}", raising=False)
    (tmp_path / ".env").write_text((PROJECT_ROOT / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    loaded = Settings()
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    # The example's data directory is `data`, relative to where Hallmark runs.
    assert loaded.model_copy(update={"data_dir": defaults.data_dir}) == defaults
    assert loaded.rpc_url is None and loaded.uses_local_chain
    assert loaded.max_fee_gwei is None and loaded.solc is None
