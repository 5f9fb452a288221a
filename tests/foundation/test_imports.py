"""Every module of the package imports: a broken import fails the suite, not a start-up."""

from __future__ import annotations

import importlib
import pkgutil

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
