"""Read the committed contract artifacts: version 1 in contracts/artifacts/<Contract>.json,
version 2 in contracts/artifacts/v2/<Contract>.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hallmark.config import PROJECT_ROOT
from hallmark.core.errors import ConfigurationError

ARTIFACTS_DIR = PROJECT_ROOT / "contracts" / "artifacts"

#: The contracts' versions (their `version()`), oldest first; new deployments use the last.
VERSIONS = ("1.0.0", "2.0.0")
CURRENT_VERSION = VERSIONS[-1]
#: Where each version's artifacts are, below ARTIFACTS_DIR.
_VERSION_DIRS = {"1.0.0": ".", "2.0.0": "v2"}


def load_artifacts(directory: Path = ARTIFACTS_DIR) -> dict[str, dict[str, Any]]:
    """Every artifact of one directory, by contract name."""
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


def load_versioned_artifacts(
    directory: Path = ARTIFACTS_DIR,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every version's artifacts: {version: {contract name: artifact}}."""
    return {version: load_artifacts(directory / _VERSION_DIRS[version]) for version in VERSIONS}
