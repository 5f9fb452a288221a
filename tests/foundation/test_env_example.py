"""`.env.example` documents every setting."""

from __future__ import annotations

import re

from hallmark.config import PROJECT_ROOT, Settings


def test_env_example_lists_every_setting_with_a_description() -> None:
    text = (PROJECT_ROOT / ".env.example").read_text()
    documented = re.findall(r"^HALLMARK_([A-Z0-9_]+)=", text, flags=re.MULTILINE)
    assert sorted(documented) == sorted(name.upper() for name in Settings.model_fields)
    for name, field in Settings.model_fields.items():
        assert field.description, f"{name} has no description"
        assert f"# {field.description}\nHALLMARK_{name.upper()}=" in text
