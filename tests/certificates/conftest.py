"""Certificates tests share the records tests' module world (one started Hallmark per module and
database, on the session's shared chain), and the module's certificates in every state."""

from __future__ import annotations

from typing import Any

import pytest

from tests.certificates.builders import Issued, check, fetch, issue_in_every_state
from tests.conftest import World
from tests.records.conftest import module_database_url, world

__all__ = ["genuine", "issued", "module_database_url", "world"]


@pytest.fixture(scope="module")
def issued(world: World) -> Issued:
    """Genuine, revoked, order-revoked and superseded certificates, anchored (builders)."""
    return issue_in_every_state(world)


@pytest.fixture(scope="module")
def genuine(world: World, issued: Issued) -> tuple[dict[str, Any], dict[str, Any]]:
    """The genuine certificate's document and bundle, checked genuine."""
    document, bundle = fetch(world, issued.genuine)
    assert check(world, document, bundle).ok
    return document, bundle
