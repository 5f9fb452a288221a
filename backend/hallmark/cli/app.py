"""The `hallmark` command line (Typer). Every failure is one line on stderr and a non-zero exit.

One module per command group: `serve` (serve, worker), `chain` (deploy, chain, contracts),
`admin`, `imports` and `products` (through the HTTP API, `api_client`); `console` holds what they
share.
"""

from __future__ import annotations

import typer

from hallmark import __version__, verify_command
from hallmark.cli import (
    admin,
    certificates,
    chain,
    design_evidence,
    design_rights,
    designs,
    imports,
    products,
    serve,
)
from hallmark.cli.console import out

app = typer.Typer(
    name="hallmark",
    help="Hallmark: provenance and certificates for fine jewellery, anchored on an EVM chain.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def version() -> None:
    """Print Hallmark's version."""
    out.print(f"hallmark {__version__}")


app.command()(serve.serve)
app.command()(serve.worker)
app.command()(chain.deploy)
app.add_typer(chain.chain_app, name="chain")
app.add_typer(chain.contracts_app, name="contracts")
app.add_typer(admin.admin_app, name="admin")
app.add_typer(imports.import_app, name="import")
app.add_typer(products.product_app, name="product")
designs.designs_app.command("evidence")(design_evidence.evidence)
# Design rights (assignments, licences), departures and key rotation join `hallmark designs`.
design_rights.add_commands(designs.designs_app)
app.add_typer(designs.designs_app, name="designs")
app.add_typer(certificates.certificates_app, name="certificates")
app.command(name="verify")(verify_command.verify)
