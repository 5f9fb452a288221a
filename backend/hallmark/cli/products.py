"""`hallmark product show SERIAL`: a product's provenance, read through the HTTP API."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from hallmark.cli.api_client import ApiClient
from hallmark.cli.console import ApiKeyOption, ApiUrlOption, out, reported, require_api_key

product_app = typer.Typer(help="Products, through the HTTP API.", no_args_is_help=True)


@product_app.command("show")
def product_show(
    serial: str,
    api_url: ApiUrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
) -> None:
    """Show a product's provenance: materials tree, steps, record hashes, anchoring."""
    from rich.tree import Tree

    with reported(), ApiClient(api_url, require_api_key(api_key)) as api:
        view = api.retrieve_provenance(serial)
    product = view["product"]
    chain = "intact" if view["chain_intact"] else f"BROKEN: {view['chain']['first_broken']}"
    tree = Tree(
        _text(
            (product["serial"], "bold"),
            f" {product['name']} ({product['category']}) record {_short(view['record'])}; "
            f"step chain {chain}",
        )
    )
    materials = tree.add("materials")
    for node in view["materials"]:
        _material(materials, node)
    table = Table("#", "step", "occurred at", "result", "record", "anchoring")
    for item in view["steps"]:
        step, record = item["step"], item["records"][-1]
        table.add_row(
            *(
                _text(str(cell))
                for cell in (
                    step["sequence"],
                    step["kind"],
                    step["occurred_at"],
                    step["result"] or "",
                    record["record_hash"][:18] + "…",
                    record["anchoring"]["status"],
                )
            )
        )
    out.print(tree)
    out.print(table)
    out.print(
        _text(
            f"recycled share {product['recycled_share'] or '-'}, "
            f"carbon {product['carbon_kg_co2e'] or '-'} kg CO2e"
        )
    )


def visible(value: str) -> str:
    """Text from a record as it may be shown in a terminal: every character that is not
    printable (ANSI escapes and other controls, bidi overrides, zero-width characters) shown as
    its escape (`\\x1b`, `\\u202e`)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in value)


def _text(*parts: str | tuple[str, str]) -> Text:
    """Plain rich Text (never read as markup) of record values, made `visible`."""
    return Text.assemble(
        *(
            (visible(part[0]), part[1]) if isinstance(part, tuple) else visible(part)
            for part in parts
        )
    )


def _short(record: dict[str, Any]) -> str:
    return f"{record['record_hash'][:18]}… ({record['anchoring']['status']})"


def _material(parent: Any, node: dict[str, Any]) -> None:
    lot = node["lot"]
    if lot is None:
        parent.add(_text(f"lot {node['lot_id']} (not known here)"))
        return
    origin = lot["origin"]
    drawn = f"{node['quantity']} {node['unit']} from " if node.get("quantity") else ""
    branch = parent.add(
        _text(
            f"{drawn}{lot['material']} {lot['grade'] or ''} lot {lot['lot_number']}, "
            f"{origin.get('name') or ''} {origin['country']}, record {_short(lot['record'])}"
        )
    )
    if node.get("parent"):
        _material(branch.add("split from"), node["parent"])
    for source in node.get("recycled_from", []):
        _material(branch.add("recycled from"), source)
    for serial in node.get("recycled_products", []):
        branch.add(_text(f"recycled from product {serial}"))
