"""Compile contracts/ with the official Solidity compiler into deterministic artifacts.

Flow: read the compiler settings shared with forge from foundry.toml → pick a compiler
(HALLMARK_SOLC, else a native `solc` of the pinned version on PATH or installed by py-solc-x,
else the npm `solc` through scripts/solc-facade.cjs) → compile each generation of the contracts
through py-solc-x's standard-JSON interface → write contracts/artifacts/<Contract>.json with
sorted keys, so the same sources and settings always give the same bytes.

Generations: the sources outside any contracts/v<N>/ folder are the first generation (artifacts
contracts/artifacts/<Contract>.json); each contracts/v<N>/ folder holds a later one, compiled on
its own (so one generation's bytecode never depends on another's sources) into
contracts/artifacts/v<N>/<Contract>.json. Artifacts are keyed "<Contract>" and "v<N>/<Contract>".

Raises:
    CompilerNotFoundError: no usable compiler.
    CompilerError: the compiler rejected the sources (its own formatted messages).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from eth_utils.crypto import keccak
from solcx.exceptions import SolcError
from solcx.install import get_executable, get_installed_solc_versions

from hallmark.config import PROJECT_ROOT
from hallmark.core.errors import CompilerError, CompilerNotFoundError

CONTRACTS_DIR = PROJECT_ROOT / "contracts"
ARTIFACTS_DIR = CONTRACTS_DIR / "artifacts"
FOUNDRY_TOML = PROJECT_ROOT / "foundry.toml"
FACADE = PROJECT_ROOT / "scripts" / "solc-facade.cjs"
#: A folder of contracts/ that holds a later generation of the contracts.
GENERATION_DIR = re.compile(r"v[0-9]+")


@dataclass(frozen=True, slots=True)
class Compiler:
    """A Solidity compiler executable and where it came from."""

    executable: Path
    version: str  # full version string, e.g. 0.8.28+commit.7893614a.Emscripten.clang
    origin: str  # "setting", "native", "py-solc-x" or "npm"

    @property
    def release(self) -> str:
        """The version without the platform suffix: 0.8.28+commit.7893614a."""
        base, _, build = self.version.partition("+")
        commit = ".".join(build.split(".")[:2])  # drop the platform: .Linux.g++, .Emscripten.clang
        return f"{base}+{commit}" if commit else base


@dataclass(frozen=True, slots=True)
class CompilerSettings:
    """The optimizer and EVM settings, read from foundry.toml [profile.default]."""

    solc_version: str
    optimizer: bool
    optimizer_runs: int
    evm_version: str
    via_ir: bool
    bytecode_hash: str
    remappings: tuple[str, ...]

    def standard_json(self) -> dict[str, Any]:
        return {
            "optimizer": {"enabled": self.optimizer, "runs": self.optimizer_runs},
            "evmVersion": self.evm_version,
            "viaIR": self.via_ir,
            "metadata": {"bytecodeHash": self.bytecode_hash},
            "remappings": sorted(self.remappings),
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                        "metadata",
                    ]
                }
            },
        }


def load_settings(foundry_toml: Path = FOUNDRY_TOML) -> CompilerSettings:
    """Read the compiler settings shared with forge (the one place they live)."""
    try:
        profile = tomllib.loads(foundry_toml.read_text("utf-8"))["profile"]["default"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise CompilerError(f"cannot read compiler settings from {foundry_toml}: {exc}") from exc
    return CompilerSettings(
        solc_version=str(profile["solc_version"]),
        optimizer=bool(profile.get("optimizer", False)),
        optimizer_runs=int(profile.get("optimizer_runs", 200)),
        evm_version=str(profile.get("evm_version", "cancun")),
        via_ir=bool(profile.get("via_ir", False)),
        bytecode_hash=str(profile.get("bytecode_hash", "ipfs")),
        remappings=tuple(profile.get("remappings", ())),
    )


def _probe_version(executable: Path) -> str | None:
    """Ask an executable for its solc version; None when it is not a working solc."""
    try:
        result = subprocess.run(
            [str(executable), "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    for line in result.stdout.splitlines():
        if line.startswith("Version:"):
            return line.split(":", 1)[1].strip()
    return None


def find_compiler(wanted: str, explicit: Path | None = None) -> Compiler:
    """Pick the compiler: explicit setting, native of the pinned version, then the npm build."""
    if explicit is not None:
        version = _probe_version(explicit)
        if version is None:
            raise CompilerNotFoundError(f"HALLMARK_SOLC={explicit} is not a working solc")
        return Compiler(explicit, version, "setting")
    candidates: list[tuple[Path, str]] = []
    on_path = shutil.which("solc")
    if on_path:
        candidates.append((Path(on_path), "native"))
    candidates.extend(
        (get_executable(v), "py-solc-x") for v in get_installed_solc_versions() if str(v) == wanted
    )
    for executable, origin in candidates:
        version = _probe_version(executable)
        if version is not None and version.split("+", 1)[0] == wanted:
            return Compiler(executable, version, origin)
    node = shutil.which("node")
    if node and FACADE.exists():
        version = _probe_version(FACADE)
        if version is not None and version.split("+", 1)[0] == wanted:
            return Compiler(FACADE, version, "npm")
        if version is not None:
            raise CompilerNotFoundError(
                f"npm solc is {version}, the project pins {wanted}: run ./scripts/install"
            )
    raise CompilerNotFoundError(
        f"no Solidity compiler {wanted}: set HALLMARK_SOLC, put solc {wanted} on PATH, "
        "or run ./scripts/install (needs Node.js) for the npm build"
    )


def generations(contracts_dir: Path = CONTRACTS_DIR) -> list[str]:
    """The generations present: "" (sources outside any v<N>/ folder) and each "v<N>", sorted."""
    found = {_generation_of(p.relative_to(contracts_dir)) for p in _all_sources(contracts_dir)}
    return sorted(found)


def source_files(contracts_dir: Path = CONTRACTS_DIR, generation: str = "") -> list[Path]:
    """Every Solidity source of one generation (sorted, so the input is deterministic)."""
    return [
        p
        for p in _all_sources(contracts_dir)
        if _generation_of(p.relative_to(contracts_dir)) == generation
    ]


def _all_sources(contracts_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in contracts_dir.rglob("*.sol")
        if "artifacts" not in p.relative_to(contracts_dir).parts
    )


def _generation_of(relative: Path) -> str:
    first = relative.parts[0]
    return first if len(relative.parts) > 1 and GENERATION_DIR.fullmatch(first) else ""


def compile_contracts(
    compiler: Compiler,
    settings: CompilerSettings,
    *,
    root: Path = PROJECT_ROOT,
    contracts_dir: Path = CONTRACTS_DIR,
) -> dict[str, dict[str, Any]]:
    """Compile every generation below contracts_dir; return artifacts by name ("v2/Name" for v2)."""
    found = generations(contracts_dir)
    if not found:
        raise CompilerError(f"no Solidity sources in {contracts_dir}")
    artifacts: dict[str, dict[str, Any]] = {}
    for generation in found:
        built = _compile_generation(
            compiler, settings, root=root, sources=source_files(contracts_dir, generation)
        )
        prefix = f"{generation}/" if generation else ""
        artifacts.update({prefix + name: artifact for name, artifact in built.items()})
    return artifacts


def _compile_generation(
    compiler: Compiler, settings: CompilerSettings, *, root: Path, sources: list[Path]
) -> dict[str, dict[str, Any]]:
    """Compile one generation's sources as one compiler input; return artifacts by contract name."""
    inputs = {p.relative_to(root).as_posix(): {"content": p.read_text("utf-8")} for p in sources}
    standard_input = {
        "language": "Solidity",
        "sources": inputs,
        "settings": settings.standard_json(),
    }
    try:
        output = solcx.compile_standard(
            standard_input,
            base_path=str(root),
            allow_paths=[str(root)],
            solc_binary=compiler.executable,
        )
    except SolcError as exc:
        raise CompilerError(_compiler_messages(exc)) from exc
    return _artifacts(output, compiler, settings, own_sources=set(inputs))


def _compiler_messages(exc: SolcError) -> str:
    errors = getattr(exc, "error_dict", None) or []  # py-solc-x keeps the output's error list
    messages = [
        e.get("formattedMessage") or e.get("message", "")
        for e in errors
        if e.get("severity") == "error"
    ]
    return "\n".join(m.strip() for m in messages) or str(exc).strip()


def _artifacts(
    output: dict[str, Any], compiler: Compiler, settings: CompilerSettings, *, own_sources: set[str]
) -> dict[str, dict[str, Any]]:
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name in sorted(own_sources):
        for name, contract in sorted(output.get("contracts", {}).get(source_name, {}).items()):
            bytecode = contract["evm"]["bytecode"]["object"]
            if not bytecode:  # interfaces and abstract contracts are not deployable
                continue
            metadata = json.loads(contract["metadata"])
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "abi": contract["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + contract["evm"]["deployedBytecode"]["object"],
                "immutableReferences": contract["evm"]["deployedBytecode"].get(
                    "immutableReferences", {}
                ),
                "compiler": {
                    "version": compiler.release,
                    "settings": {
                        "optimizer": metadata["settings"]["optimizer"],
                        "evmVersion": metadata["settings"]["evmVersion"],
                        "viaIR": settings.via_ir,
                        "bytecodeHash": settings.bytecode_hash,
                        "remappings": sorted(settings.remappings),
                    },
                },
                "sources": {
                    src: info["keccak256"] for src, info in sorted(metadata["sources"].items())
                },
            }
    if not artifacts:
        raise CompilerError("the sources define no deployable contract")
    return artifacts


def render(artifact: dict[str, Any]) -> bytes:
    """The artifact's file content: sorted keys, two-space indent, final newline."""
    return (json.dumps(artifact, sort_keys=True, indent=2) + "\n").encode("utf-8")


def write_artifacts(
    artifacts: dict[str, dict[str, Any]], out_dir: Path = ARTIFACTS_DIR
) -> list[Path]:
    """Write the artifacts (and remove stale ones of contracts that no longer exist)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = out_dir / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(render(artifact))
        written.append(path)
    for name, stale in _artifact_files(out_dir).items():
        if name not in artifacts:
            stale.unlink()
    return written


def stale_artifacts(
    artifacts: dict[str, dict[str, Any]], out_dir: Path = ARTIFACTS_DIR
) -> list[str]:
    """Names whose file differs from a fresh build, is missing, or has no contract any more."""
    stale = {
        name
        for name, artifact in artifacts.items()
        if not (out_dir / f"{name}.json").exists()
        or (out_dir / f"{name}.json").read_bytes() != render(artifact)
    }
    stale.update(name for name in _artifact_files(out_dir) if name not in artifacts)
    return sorted(stale)


def _artifact_files(out_dir: Path) -> dict[str, Path]:
    """The artifact files below out_dir by name: "<Contract>" or "v<N>/<Contract>"."""
    return {
        p.relative_to(out_dir).with_suffix("").as_posix(): p
        for p in sorted(out_dir.rglob("*.json"))
    }


def artifact_hash(artifact: dict[str, Any]) -> str:
    """keccak-256 of the artifact's rendered bytes, recorded with every deployment."""
    return "0x" + keccak(render(artifact)).hex()
