"""One anvil and one deployment of Hallmark's contracts for the whole test session (with
pytest-xdist, each worker process is a session of its own: its own anvil, on a port of its own).

Starting anvil, deploying and creating the same organisations again cost every world and every
harness two to three seconds. Here that happens once:

* one anvil for the session, Hallmark's contracts deployed on it, and a data directory template
  holding the admin and service keys and the deployment record that go with them
  (`fill_data_dir`); a test's runtime given that data directory and the node's port attaches to
  the node and finds its deployment;
* the organisations every `world` and every anchoring `harness` has, created once by the real
  use cases (their accounts hold the role on the ledger in the deployed state) and carried into
  each test's database as rows (`Blueprint`);
* `checkpoint()`: an `evm_snapshot` before a test, and after it (once every runtime and process
  of the test is stopped) the pending transactions dropped, `evm_revert` and automine back on,
  so the next test finds the chain exactly as deployed.

All the session state is built at once, before any test's checkpoint: nothing may change the
chain between checkpoints. Tests that stop, kill or restart the node, or need node settings of
their own, keep a private anvil: `@pytest.mark.private_chain`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hallmark.chain.node import AnvilNode, find_anvil, rpc_call
from hallmark.config import Settings
from hallmark.runtime import Runtime
from hallmark.services.access.organisations import create_api_key, create_organisation
from tests.database_templates import Blueprint, DatabaseTemplates

#: name → kind of the organisations every World has.
WORLD_ORGANISATIONS = {
    "Maison Lune": "brand",
    "Atelier Rivoli": "brand",
    "Lotus Gold Refinery": "supplier",
    "Cape Diamonds": "supplier",
    "Shenzhen Atelier": "factory",
    "Antwerp Setters": "factory",
    "Lune Legal": "legal",
}

#: name → kind of the organisations every anchoring Harness has (one per anchoring kind).
HARNESS_ORGANISATIONS = {f"{kind.title()} Co": kind for kind in ("supplier", "factory", "brand")}

#: Settings that need a node of their own: a harness or world given one keeps a private anvil.
NODE_SETTINGS = frozenset(
    {
        "anvil_port",
        "rpc_url",
        "chain_id",
        "anvil_binary",
        "anvil_block_time",
        "anvil_state_interval",
        "anvil_watch_interval",
    }
)


def settings_for_tests(**values: Any) -> Settings:
    """Settings for a test process: no .env, fast keystores, no limit on the public
    verification (its tests set one: elsewhere a test's outcome would hang on its speed)."""
    return Settings(
        **{
            "environment": "test",
            "keystore_scrypt_n": 1024,
            "verify_rate_limit": "off",
            "_env_file": None,
            **values,
        }
    )


@dataclass
class SharedChain:
    node: AnvilNode
    data_template: Path
    world: Blueprint
    #: "<org name>/<role>" → API key of the world's organisations.
    world_keys: dict[str, str]
    harness: Blueprint
    #: How many checkpoints are open, and the snapshot taken after the last outermost one.
    _depth: int = field(default=0, init=False)
    _base: object = field(default=None, init=False)

    @property
    def port(self) -> int:
        return self.node.port

    def rpc(self, method: str, params: list[object] | None = None) -> object:
        return rpc_call(self.node.url, method, params, timeout=30.0)

    def fill_data_dir(self, target: Path) -> None:
        """Give the data directory `target` the session's keys and deployment record (unless
        it has keys of its own already)."""
        if not (target / "keys").exists():
            shutil.copytree(self.data_template, target, dirs_exist_ok=True)

    @contextmanager
    def checkpoint(self) -> Iterator[None]:
        """Whatever happens on the chain inside is undone on the way out.

        The outermost checkpoint also starts from the chain as the last one left it: a process
        of a stopped test may still send a transaction after that revert (mined at once, or
        waiting in the pool for its nonce), which would show up in the next test as a root
        nobody there anchored. Reverting to the snapshot taken right after the last revert
        undoes it."""
        outermost = self._depth == 0
        if outermost and self._base is not None:
            self.restore(self._base)
            self._base = None
        snapshot = self.rpc("evm_snapshot")
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            self.restore(snapshot)
            if outermost:
                self._base = self.rpc("evm_snapshot")

    def restore(self, snapshot: object) -> None:
        assert self.node.is_running(), "the session's anvil died: a test needs a private chain"
        # Drop what waits in the pool before turning automine back on: anvil mines the pool
        # when automine is turned on, in the background, and such a block could land after the
        # revert, in every later test's chain (a test that leaves a transaction unmined does).
        self.rpc("anvil_dropAllTransactions")
        assert self.rpc("evm_revert", [snapshot]) is True, f"no snapshot {snapshot} to revert to"
        self.rpc("anvil_dropAllTransactions")
        self.rpc("evm_setAutomine", [True])

    def stop(self) -> None:
        self.node.stop()

    @classmethod
    def build(cls, folder: Path, templates: DatabaseTemplates) -> SharedChain:
        # The node's state (and its record: this node, on this port) lives in the data directory
        # template, so every data directory filled from it attaches to the node as its own.
        node = AnvilNode(
            binary=find_anvil(),
            state_path=folder / "data" / "chain" / "anvil-state.json",
            port=0,
            state_interval=3600,  # a session's chain is never restored from a dump
            log_path=folder / "anvil.log",
        )
        node.start()
        try:
            data = folder / "data"
            world_url = templates.sqlite_copy(folder / "world.sqlite3")
            harness_url = templates.sqlite_copy(folder / "harness.sqlite3")
            keys: dict[str, str] = {}
            with _started(
                data_dir=data, anvil_port=node.port, anvil_attach=True, database_url=world_url
            ) as runtime:
                assert runtime.supervisor is None and runtime.deployment is not None
                keys = create_world_organisations(runtime)
            with _started(
                data_dir=data, anvil_port=node.port, anvil_attach=True, database_url=harness_url
            ) as runtime:
                create_organisations(runtime, HARNESS_ORGANISATIONS)
            return cls(
                node=node,
                data_template=data,
                world=Blueprint.of(world_url),
                world_keys=keys,
                harness=Blueprint.of(harness_url),
            )
        except BaseException:
            node.stop()
            raise


@contextmanager
def _started(**values: Any) -> Iterator[Runtime]:
    runtime = Runtime(settings_for_tests(**values))
    runtime.start()
    try:
        yield runtime
    finally:
        runtime.stop()


def create_organisations(runtime: Runtime, organisations: dict[str, str]) -> None:
    """Create `organisations` (name → kind) through the use case, on the runtime's chain."""
    assert runtime.sessions is not None
    chain = runtime.chain_access()
    for name, kind in organisations.items():
        create_organisation(sessions=runtime.sessions, chain=chain, name=name, kind=kind)


def create_world_organisations(runtime: Runtime) -> dict[str, str]:
    """The WORLD_ORGANISATIONS with a key of their kind's role and a reader key each; the keys
    by "<org name>/<role>"."""
    assert runtime.sessions is not None
    create_organisations(runtime, WORLD_ORGANISATIONS)
    keys: dict[str, str] = {}
    for name, kind in WORLD_ORGANISATIONS.items():
        for role in (kind, "reader"):
            _, secret = create_api_key(
                sessions=runtime.sessions, organisation_ref=name, principal_name=role, role=role
            )
            keys[f"{name}/{role}"] = secret
    return keys
