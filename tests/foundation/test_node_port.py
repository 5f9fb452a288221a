"""Hallmark shares a local node on its port only when a Hallmark process of the same data
directory started it (or when told to): never an anvil it does not know."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from hallmark.chain.node import AnvilNode, find_anvil, owner_path
from hallmark.config import Settings
from hallmark.core.errors import NodePortTakenError
from hallmark.core.ports import free_port
from hallmark.runtime import Runtime


def _foreign_node(tmp_path: Path) -> AnvilNode:
    """An anvil started outside Hallmark's data directory (another tool, another user)."""
    node = AnvilNode(binary=find_anvil(), state_path=tmp_path / "elsewhere" / "state.json", port=0)
    node.start()
    return node


def test_start_refuses_an_anvil_it_did_not_start_on_its_port(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
) -> None:
    node = _foreign_node(tmp_path)
    try:
        with pytest.raises(NodePortTakenError) as refused:
            start_runtime(make_settings(anvil_port=node.port))
        message = refused.value.message
        assert re.search(rf"127\.0\.0\.1:{node.port}\b", message)
        assert "HALLMARK_ANVIL_PORT" in message and "HALLMARK_ANVIL_ATTACH" in message
        assert refused.value.code == "node_port_taken"
        # Nothing was deployed on the foreign node.
        assert not (make_settings().deployment_path).exists()
    finally:
        node.stop()


def test_start_attaches_to_a_foreign_anvil_when_told(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
) -> None:
    node = _foreign_node(tmp_path)
    try:
        runtime = start_runtime(make_settings(anvil_port=node.port, anvil_attach=True))
        assert runtime.supervisor is None
        assert runtime.chain is not None and runtime.chain.url == node.url
    finally:
        node.stop()


def test_a_second_process_of_the_data_directory_shares_the_node_the_first_started(
    make_settings: Callable[..., Settings], start_runtime: Callable[[Settings], Runtime]
) -> None:
    first = start_runtime(make_settings())
    assert first.supervisor is not None
    port = first.supervisor.node.port
    record = json.loads(owner_path(first.settings.chain_state_path).read_text())
    assert record == {"pid": first.supervisor.node.pid, "port": port}
    second = start_runtime(make_settings(anvil_port=port))
    assert second.supervisor is None
    assert second.chain is not None and second.chain.url == first.supervisor.node.url


def test_a_stale_record_of_a_node_that_is_gone_does_not_vouch_for_another(
    tmp_path: Path,
    make_settings: Callable[..., Settings],
    start_runtime: Callable[[Settings], Runtime],
) -> None:
    node = _foreign_node(tmp_path)
    try:
        settings = make_settings(anvil_port=node.port)
        record = owner_path(settings.chain_state_path)
        record.parent.mkdir(parents=True)
        # A record left by a node that died (pid 2**22 + 1 is above Linux's pid limit).
        record.write_text(json.dumps({"pid": 2**22 + 1, "port": node.port}))
        with pytest.raises(NodePortTakenError):
            start_runtime(settings)
    finally:
        node.stop()


def test_a_stopped_node_removes_its_record(tmp_path: Path) -> None:
    node = AnvilNode(binary=find_anvil(), state_path=tmp_path / "chain" / "state.json", port=0)
    node.start()
    assert owner_path(node.state_path).exists()
    node.stop()
    assert not owner_path(node.state_path).exists()


def test_serve_beside_a_foreign_node_exits_non_zero_naming_the_port(tmp_path: Path) -> None:
    node = _foreign_node(tmp_path)
    try:
        completed = subprocess.run(
            [sys.executable, "-m", "hallmark", "serve"],
            env={
                **os.environ,
                "HALLMARK_ENVIRONMENT": "test",
                "HALLMARK_DATA_DIR": str(tmp_path / "data"),
                "HALLMARK_PORT": str(free_port()),
                "HALLMARK_ANVIL_PORT": str(node.port),
                "HALLMARK_KEYSTORE_SCRYPT_N": "1024",
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        node.stop()
    assert completed.returncode != 0
    reason = completed.stderr.strip().splitlines()[-1]
    assert f"already answers on 127.0.0.1:{node.port};" in reason
