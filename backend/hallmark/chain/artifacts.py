"""Read the committed contract artifacts (contracts/artifacts/<Contract>.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hallmark.config import PROJECT_ROOT
from hallmark.core.errors import ConfigurationError

ARTIFACTS_DIR = PROJECT_ROOT / "contracts" / "artifacts"


def load_artifacts(directory: Path = ARTIFACTS_DIR) -> dict[str, dict[str, Any]]:
    """Every artifact by contract name."""
    paths = sorted(directory.glob("*.json"))
    if not paths:
        raise ConfigurationError(
            f"no contract artifacts in {directory}: run `hallmark contracts build`"
        )
    artifacts = {}
    for path in paths:
        try:
            artifact = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise ConfigurationError(f"artifact {path.name} is not valid JSON: {exc}") from exc
        artifacts[artifact["contractName"]] = artifact
    return artifacts
