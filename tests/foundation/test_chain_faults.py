"""The chain boundary under faults: a production process refuses a development chain."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from hallmark.config import Settings
from hallmark.core.errors import ConfigurationError
from hallmark.runtime import Runtime

PRODUCTION = {
    "environment": "production",
    "key_passphrase": "a real passphrase of some length",
    "file_key": "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
}


def test_production_without_rpc_url_refuses_a_local_chain(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    runtime = Runtime(make_settings(**PRODUCTION))
    with pytest.raises(ConfigurationError, match="HALLMARK_RPC_URL must name"):
        runtime.start()
    # Refused before anything is created: no node, no keys, no database.
    assert runtime.supervisor is None and runtime.chain is None
    assert not (tmp_path / "data").exists()
