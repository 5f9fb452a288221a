"""`hallmark designs register|import|search|show|reindex`: the design registry from the shell.

`register`, `import`, `search` and `show` go through the HTTP API (a legal organisation's key
registers); `reindex` rebuilds the local similarity index from the chain's DesignRegistered logs
and the stored metadata. Every failure is one line on stderr and a non-zero exit; `import`
exits non-zero when any file failed, after its per-file report.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hallmark.cli.api_client import ApiClient
from hallmark.cli.console import (
    ApiKeyOption,
    ApiUrlOption,
    err,
    fail,
    out,
    reported,
    require_api_key,
)
from hallmark.core.errors import RemoteApiError

designs_app = typer.Typer(
    help="Register, import, search and show designs; rebuild the index (docs/DESIGNS.md).",
    no_args_is_help=True,
)

#: File kinds `import` picks up from a directory (others are registered by exact hash only).
IMPORT_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".svg", ".stl", ".obj", ".3mf", ".ply"}
)


class DesignsClient(ApiClient):
    """The registry's endpoints over HTTP."""

    def register(self, path: Path, metadata: dict[str, Any]) -> dict[str, Any]:
        data = path.read_bytes()
        # The same file and fields give the same key: a re-run never registers twice. The key
        # is bound to the request's bytes, so the multipart boundary is derived from it too
        # (a random one made every re-run a "different request" for the same key).
        key = hashlib.sha256(data + json.dumps(metadata, sort_keys=True).encode()).hexdigest()
        result: dict[str, Any] = self._request(
            "POST",
            "/api/v1/designs",
            files={"file": (path.name, data, "application/octet-stream")},
            data={"metadata": json.dumps(metadata, sort_keys=True)},
            headers={
                "Idempotency-Key": f"design-{key}",
                "Content-Type": f"multipart/form-data; boundary=hallmark-{key[:40]}",
            },
        )
        return result

    def search(self, path: Path) -> dict[str, Any]:
        result: dict[str, Any] = self._request(
            "POST",
            "/api/v1/designs/search",
            files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
        )
        return result

    def show(self, ref: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/api/v1/designs/{ref}")
        return result


OwnerOption = Annotated[
    str, typer.Option("--owner", help="Owner reference (off chain; a salted hash goes on chain)")
]
DesignerOption = Annotated[
    list[str] | None, typer.Option("--designer", help="A designer (repeat for several)")
]
AuthorizationOption = Annotated[
    str,
    typer.Option("--authorization", help="simple | signed_confirmation (needs --document)"),
]
DocumentOption = Annotated[
    Path | None,
    typer.Option("--document", help="The signed copyright confirmation (its SHA-256 is sent)"),
]


def _metadata(
    *,
    title: str,
    owner: str,
    designers: list[str] | None,
    authorization: str,
    document: Path | None,
    parent: str | None,
    notes: str | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "title": title,
        "owner_ref": owner,
        "designers": designers or [],
        "authorization": authorization,
        "parent": parent,
        "notes": notes,
    }
    if document is not None:
        if not document.is_file():
            fail(f"{document} is not a file")
        metadata["authorization_document"] = hashlib.sha256(document.read_bytes()).hexdigest()
    return metadata


def _describe(design: dict[str, Any]) -> str:
    chain = design["chain"]
    where = (
        f"filed at {chain['filed_at']} (block {chain['filed_block']}), tx {chain['tx_hash']}"
        if design["status"] == "registered"
        else design["status"]
    )
    return f"{design['number']} {design['fingerprint']} {where}"


@designs_app.command("register")
def register(
    file: Path,
    *,
    title: Annotated[str, typer.Option("--title", help="The design's title")],
    owner: OwnerOption,
    designer: DesignerOption = None,
    authorization: AuthorizationOption = "simple",
    document: DocumentOption = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="The previous draft's number or fingerprint")
    ] = None,
    notes: Annotated[str | None, typer.Option("--notes", help="Creative-source notes")] = None,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Register a design file (a legal organisation's key)."""
    if not file.is_file():
        fail(f"{file} is not a file")
    metadata = _metadata(
        title=title,
        owner=owner,
        designers=designer,
        authorization=authorization,
        document=document,
        parent=parent,
        notes=notes,
    )
    with reported(), DesignsClient(api_url, require_api_key(api_key)) as api:
        answer = api.register(file, metadata)
    out.print(_describe(answer["design"]))
    for match in answer["matches"]:
        out.print(
            f"  flagged for review: like {match['registration']} "
            f"(coverage {match['coverage']}, code distance {match['code_distance']})"
        )
    if answer["matches"]:
        out.print(f"  {answer['note']}")


@designs_app.command("import")
def import_dir(
    directory: Path,
    *,
    owner: OwnerOption,
    designer: DesignerOption = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write the per-file report (JSON) here")
    ] = None,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            max=16,
            help="Files registered at once (the server fingerprints one while it stores "
            "another; near-duplicates among them are still compared)",
        ),
    ] = 2,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Register every design file of a directory (title: the file's name), with a report."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    if not directory.is_dir():
        fail(f"{directory} is not a directory")
    files = sorted(
        p for p in directory.rglob("*") if p.is_file() and p.suffix.lower() in IMPORT_SUFFIXES
    )
    if not files:
        fail(f"no design files in {directory}")
    key = require_api_key(api_key)

    def one(api: DesignsClient, path: Path) -> dict[str, Any]:
        metadata = _metadata(
            title=path.stem,
            owner=owner,
            designers=designer,
            authorization="simple",
            document=None,
            parent=None,
            notes=None,
        )
        try:
            answer = api.register(path, metadata)
        except RemoteApiError as exc:
            return {"file": str(path), "ok": False, "error": exc.message}
        except OSError as exc:  # the file went away or cannot be read: this file fails
            return {"file": str(path), "ok": False, "error": f"cannot read it: {exc.strerror}"}
        design = answer["design"]
        return {
            "file": str(path),
            "ok": True,
            "registration": design["number"],
            "fingerprint": design["fingerprint"],
            "flagged": [m["registration"] for m in answer["matches"]],
        }

    by_file: dict[Path, dict[str, Any]] = {}
    with reported(), DesignsClient(api_url, key) as api:
        columns = (*Progress.get_default_columns()[:1], BarColumn(), MofNCompleteColumn())
        with (
            Progress(*columns, TimeRemainingColumn(), console=err) as bar,
            ThreadPoolExecutor(jobs, thread_name_prefix="import") as pool,
        ):
            task = bar.add_task("registering designs", total=len(files))
            pending = {pool.submit(one, api, path): path for path in files}
            for done in as_completed(pending):
                by_file[pending[done]] = done.result()
                bar.advance(task)
    results = [by_file[path] for path in files]
    failed = [r for r in results if not r["ok"]]
    flagged = [r for r in results if r.get("flagged")]
    if report is not None:
        report.write_text(json.dumps(results, indent=2), encoding="utf-8")
    for result in results:
        if result["ok"]:
            note = f" (flagged: {', '.join(result['flagged'])})" if result["flagged"] else ""
            out.print(f"ok      {result['file']} → {result['registration']}{note}")
        else:
            out.print(f"failed  {result['file']}: {result['error']}")
    out.print(
        f"{len(results) - len(failed)} of {len(results)} registered, {len(failed)} failed, "
        f"{len(flagged)} flagged for review"
    )
    if failed:
        raise typer.Exit(1)


@designs_app.command("search")
def search(
    file: Path,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Search with any file: the exact registration and similar ones, ranked."""
    if not file.is_file():
        fail(f"{file} is not a file")
    with reported(), DesignsClient(api_url, require_api_key(api_key)) as api:
        answer = api.search(file)
    for exact in answer["exact"]:
        out.print(
            f"exact   {exact['registration']} owner {exact['owner_ref']} registrant "
            f"{exact['registrant']} at {exact['registered_at']} block {exact['block_number']} "
            f"tx {exact['tx_hash']}"
        )
    for similar in answer["similar"]:
        out.print(
            f"{'flagged' if similar['flagged'] else 'similar'} {similar['registration']} "
            f"coverage {similar['coverage']} code distance {similar['code_distance']} "
            f"shape distance {similar['shape_distance']}"
        )
    if not answer["exact"] and not answer["similar"]:
        out.print("no registration found")
    out.print(answer["note"])


@designs_app.command("show")
def show(
    ref: str,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Show a registration (number or fingerprint) as JSON."""
    with reported(), DesignsClient(api_url, require_api_key(api_key)) as api:
        answer = api.show(ref)
    out.print_json(json.dumps(answer))


@designs_app.command("reindex")
def reindex_command() -> None:
    """Rebuild the similarity index from the chain's DesignRegistered logs + stored metadata."""
    from hallmark.cli.admin import started_runtime
    from hallmark.services.designs.registry import RegistryIndex, reindex

    with started_runtime() as runtime:
        assert runtime.sessions is not None
        index = RegistryIndex(None)
        index.directory = runtime.settings.data_dir / "designs" / "index"
        with runtime.sessions() as session:
            found = reindex(session=session, registry=runtime.registry, index=index)
    out.print(
        f"index rebuilt: {found.on_chain} registrations from the chain, {found.pending} not "
        f"filed yet" + (f"; {len(found.unknown)} logs of unknown designs" if found.unknown else "")
    )
