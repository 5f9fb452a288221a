"""The compiler facade and the artifacts it builds."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import solcx
from solcx.wrapper import get_solc_version
from typer.testing import CliRunner

from hallmark.chain import compiler
from hallmark.cli import app
from hallmark.config import PROJECT_ROOT
from hallmark.core.errors import CompilerError

FACADE = PROJECT_ROOT / "scripts" / "solc-facade.cjs"
FORGE = PROJECT_ROOT / "node_modules" / ".bin" / "forge"
PINNED = compiler.load_settings().solc_version

GOOD = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
contract Counter is Ownable {
    uint256 public count;
    constructor() Ownable(msg.sender) {}
    function bump() external onlyOwner { count += 1; }
}
"""
BROKEN = """// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;
contract Broken { function f() public pure returns (uint256) { return 1 } }
"""


def _run_facade(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(FACADE), *args], input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def _project(tmp_path: Path, source: str) -> Path:
    (tmp_path / "contracts").mkdir()
    (tmp_path / "contracts" / "Thing.sol").write_text(source)
    (tmp_path / "node_modules").symlink_to(PROJECT_ROOT / "node_modules")
    return tmp_path


def test_facade_answers_version_like_the_native_cli() -> None:
    result = _run_facade("--version")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "solc, the solidity compiler commandline interface"
    assert re.fullmatch(rf"Version: {re.escape(PINNED)}\+commit\.[0-9a-f]{{8}}\..+", lines[1])
    assert str(get_solc_version(FACADE)) == PINNED  # py-solc-x parses it


def test_facade_standard_json_through_py_solc_x(tmp_path: Path) -> None:
    root = _project(tmp_path, GOOD)
    settings = compiler.load_settings()
    output = solcx.compile_standard(
        {
            "language": "Solidity",
            "sources": {"contracts/Thing.sol": {"content": GOOD}},
            "settings": {**settings.standard_json()},
        },
        base_path=str(root),
        allow_paths=[str(root)],
        solc_binary=FACADE,
    )
    counter = output["contracts"]["contracts/Thing.sol"]["Counter"]
    assert {item.get("name") for item in counter["abi"]} >= {"bump", "count", "owner"}
    assert len(counter["evm"]["bytecode"]["object"]) > 200
    # The import was read by the compiler from the remapped package.
    assert "node_modules/@openzeppelin/contracts/access/Ownable.sol" in output["sources"]


def test_facade_reports_compiler_errors_as_json() -> None:
    request = {"language": "Solidity", "sources": {"b.sol": {"content": BROKEN}}}
    result = _run_facade("--standard-json", stdin=json.dumps(request))
    assert result.returncode == 0, result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert errors[0]["type"] == "ParserError"
    assert "Expected ';'" in errors[0]["message"]


def test_facade_rejects_malformed_input_and_unknown_flags() -> None:
    result = _run_facade("--standard-json", stdin="{not json")
    assert json.loads(result.stdout)["errors"][0]["type"] == "JSONError"
    bad = _run_facade("--optimize")
    assert bad.returncode == 2
    assert "unsupported argument --optimize" in bad.stderr


def test_broken_source_gives_the_compiler_message_not_a_trace(tmp_path: Path) -> None:
    root = _project(tmp_path, BROKEN)
    solc = compiler.find_compiler(PINNED)
    with pytest.raises(CompilerError) as caught:
        compiler.compile_contracts(
            solc, compiler.load_settings(), root=root, contracts_dir=root / "contracts"
        )
    message = str(caught.value)
    assert "ParserError: Expected ';' but got '}'" in message
    assert "contracts/Thing.sol:3" in message
    assert "Traceback" not in message


def test_forge_compiles_through_the_facade(tmp_path: Path) -> None:
    root = _project(tmp_path, GOOD)
    (root / "foundry.toml").write_text(
        "[profile.default]\n"
        'src = "contracts"\n'
        'out = "out"\n'
        'libs = ["node_modules"]\n'
        'remappings = ["@openzeppelin/contracts/=node_modules/@openzeppelin/contracts/"]\n'
        f'solc = "{FACADE}"\n'
        "offline = true\n"
    )
    result = subprocess.run(
        [str(FORGE), "build"], cwd=root, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    built = json.loads((root / "out" / "Thing.sol" / "Counter.json").read_text())
    assert built["bytecode"]["object"].startswith("0x")


def test_compiler_resolution_prefers_the_explicit_setting(tmp_path: Path) -> None:
    chosen = compiler.find_compiler(PINNED, FACADE)
    assert chosen.origin == "setting"
    assert chosen.release.startswith(PINNED + "+commit.")
    missing = tmp_path / "no-solc"
    with pytest.raises(CompilerError, match="is not a working solc"):
        compiler.find_compiler(PINNED, missing)


@pytest.fixture(scope="module")
def compiled() -> dict[str, dict[str, Any]]:
    """The project's contracts compiled once for the module's tests (read only)."""
    return compiler.compile_contracts(compiler.find_compiler(PINNED), compiler.load_settings())


def test_committed_artifacts_are_current(compiled: dict[str, dict[str, Any]]) -> None:
    artifacts = compiled
    assert compiler.stale_artifacts(artifacts) == [], "run `hallmark contracts build` and commit"
    for name in ("ProvenanceLedger", "DesignRegistry"):
        artifact = artifacts[name]
        assert artifact["compiler"]["version"].startswith(PINNED)
        assert any(src.startswith("node_modules/@openzeppelin/") for src in artifact["sources"])
        assert all(re.fullmatch(r"0x[0-9a-f]{64}", h) for h in artifact["sources"].values())


def test_stale_artifacts_are_detected(tmp_path: Path, compiled: dict[str, dict[str, Any]]) -> None:
    artifacts = compiled
    out = tmp_path / "artifacts"
    shutil.copytree(compiler.ARTIFACTS_DIR, out)
    assert compiler.stale_artifacts(artifacts, out) == []
    tampered = json.loads((out / "DesignRegistry.json").read_text())
    tampered["bytecode"] = tampered["bytecode"][:-2] + "00"
    (out / "DesignRegistry.json").write_text(json.dumps(tampered))
    (out / "Gone.json").write_text("{}")
    assert compiler.stale_artifacts(artifacts, out) == ["DesignRegistry", "Gone"]


def test_cli_check_reports_current_artifacts(
    compiled: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command's own path (compiler, staleness, report) over the module's compilation of
    the same sources with the same settings (the compilation is tested above)."""
    calls: list[str] = []

    def compile_contracts(
        solc: compiler.Compiler, settings: compiler.CompilerSettings
    ) -> dict[str, dict[str, Any]]:
        calls.append(solc.release)
        assert settings == compiler.load_settings()
        return compiled

    monkeypatch.setattr(compiler, "compile_contracts", compile_contracts)
    result = CliRunner().invoke(app, ["contracts", "build", "--check"])
    assert len(calls) == 1 and calls[0].startswith(PINNED + "+commit.")
    assert result.exit_code == 0, result.output
    assert "artifacts up to date: DesignRegistry, ProvenanceLedger" in result.output


def test_each_generation_compiles_on_its_own(tmp_path: Path) -> None:
    root = _project(tmp_path, GOOD)
    (root / "contracts" / "v2").mkdir()
    (root / "contracts" / "v2" / "Thing.sol").write_text(GOOD.replace("count += 1", "count += 2"))
    solc = compiler.find_compiler(PINNED)
    contracts_dir = root / "contracts"
    assert compiler.generations(contracts_dir) == ["", "v2"]
    artifacts = compiler.compile_contracts(
        solc, compiler.load_settings(), root=root, contracts_dir=contracts_dir
    )
    assert sorted(artifacts) == ["Counter", "v2/Counter"]
    assert artifacts["v2/Counter"]["contractName"] == "Counter"
    assert artifacts["v2/Counter"]["sourceName"] == "contracts/v2/Thing.sol"
    assert artifacts["Counter"]["bytecode"] != artifacts["v2/Counter"]["bytecode"]
    # The first generation's sources list nothing of the second, so adding v2 changes no v1 byte.
    assert not any("v2" in source for source in artifacts["Counter"]["sources"])
    alone = tmp_path / "alone"
    alone.mkdir()
    _project(alone, GOOD)
    first_only = compiler.compile_contracts(
        solc, compiler.load_settings(), root=alone, contracts_dir=alone / "contracts"
    )
    assert compiler.render(first_only["Counter"]) == compiler.render(artifacts["Counter"])

    out = tmp_path / "artifacts"
    written = compiler.write_artifacts(artifacts, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == [
        "Counter.json",
        "v2/Counter.json",
    ]
    assert compiler.stale_artifacts(artifacts, out) == []
    (out / "v2" / "Gone.json").write_text("{}")
    assert compiler.stale_artifacts(artifacts, out) == ["v2/Gone"]
    compiler.write_artifacts(artifacts, out)
    assert not (out / "v2" / "Gone.json").exists()
