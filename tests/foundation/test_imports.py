"""Every module of the package imports: a broken import fails the suite, not a start-up."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import hallmark

MODULES = sorted(
    module.name for module in pkgutil.walk_packages(hallmark.__path__, prefix="hallmark.")
)


def test_every_layer_and_domain_is_walked() -> None:
    for package in ("cli", "api.routes", "runtime", "services.records", "services.anchoring"):
        assert any(name.startswith(f"hallmark.{package}.") for name in MODULES), package
    assert "hallmark.services.anchoring.worker" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_module_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__name__ == name


def test_the_app_starts_without_the_model_and_iscc_libraries() -> None:
    """Every API and worker process imports the app: trimesh and iscc-core load when a design
    file is first read, not at every process's start."""
    script = (
        "import sys\n"
        "import hallmark.api.app, hallmark.cli, hallmark.runtime\n"
        "print(sorted(m for m in ('trimesh', 'iscc_core') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout.strip() == "[]", result.stdout
