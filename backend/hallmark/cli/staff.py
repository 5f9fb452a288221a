"""`hallmark admin staff`: console accounts, run against this machine's database (no chain is
needed). Temporary passwords are printed once, on standard output; the user replaces them at
the next sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from hallmark.cli.console import err, load_settings, out, reported
from hallmark.config import Settings

staff_app = typer.Typer(
    help="Staff accounts of the console (people who sign in).", no_args_is_help=True
)


@contextmanager
def database() -> Iterator[tuple[Settings, sessionmaker[Session]]]:
    """The settings and the migrated database of this machine's Hallmark."""
    from hallmark.store import db

    settings = load_settings()
    with reported():
        engine = db.make_engine(settings.effective_database_url)
        try:
            db.migrate(engine)
            yield settings, db.session_factory(engine)
        finally:
            db.dispose(engine)


@staff_app.command("create")
def staff_create(
    organisation: Annotated[str, typer.Argument(help="Organisation name or id")],
    username: Annotated[str, typer.Argument(help="Sign-in name, unique across Hallmark")],
    name: Annotated[str, typer.Option(help="The person's name (shown and audited)")],
    role: Annotated[
        str,
        typer.Option(help="admin, legal, registrar, designer, issuer or viewer"),
    ],
) -> None:
    """Create a console account; its temporary password is printed once."""
    from hallmark.services.access import staff

    with database() as (settings, sessions), reported():
        user, password = staff.create_staff(
            sessions=sessions,
            policy=staff.StaffPolicy.from_settings(settings),
            organisation_ref=organisation,
            username=username,
            name=name,
            role=role,
        )
    err.print(
        f"staff user {user.username} ({user.role}) created; temporary password, shown only "
        "now (to be replaced at the first sign-in):",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    out.print(password, markup=False, highlight=False)


@staff_app.command("reset-password")
def staff_reset_password(
    user: Annotated[str, typer.Argument(help="Username or id")],
    reset_totp: Annotated[
        bool, typer.Option("--reset-totp", help="Also remove the authenticator app (lost phone)")
    ] = False,
) -> None:
    """Give an account a new temporary password (printed once) and end its sessions."""
    from hallmark.services.access import staff

    with database() as (settings, sessions), reported():
        row, password = staff.reset_password(
            sessions=sessions,
            policy=staff.StaffPolicy.from_settings(settings),
            ref=user,
            reset_totp=reset_totp,
        )
    what = "password and authenticator app reset" if reset_totp else "password reset"
    err.print(
        f"staff user {row.username}: {what}, sessions ended; temporary password, shown only now:",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    out.print(password, markup=False, highlight=False)


@staff_app.command("disable")
def staff_disable(user: Annotated[str, typer.Argument(help="Username or id")]) -> None:
    """Disable an account: its sessions end at once and it cannot sign in."""
    from hallmark.services.access import staff

    with database() as (_, sessions), reported():
        row = staff.set_staff_enabled(sessions=sessions, ref=user, enabled=False)
    out.print(f"staff user {row.username} disabled; its sessions have ended", markup=False)


@staff_app.command("enable")
def staff_enable(user: Annotated[str, typer.Argument(help="Username or id")]) -> None:
    """Enable a disabled account again."""
    from hallmark.services.access import staff

    with database() as (_, sessions), reported():
        row = staff.set_staff_enabled(sessions=sessions, ref=user, enabled=True)
    out.print(f"staff user {row.username} enabled", markup=False)


@staff_app.command("list")
def staff_list(
    organisation: Annotated[
        str | None, typer.Option(help="Only this organisation's (name or id)")
    ] = None,
) -> None:
    """List console accounts."""
    from hallmark.services.access import staff
    from hallmark.services.access.organisations import find_organisation

    with database() as (_, sessions), reported(), sessions() as session:
        organisation_id = (
            find_organisation(session, organisation).id if organisation is not None else None
        )
        members = staff.list_staff(session, organisation_id=organisation_id)
    table = Table("username", "name", "organisation", "role", "status", "totp", "last sign-in")
    for member in members:
        table.add_row(
            member.username,
            member.name,
            member.organisation_name,
            member.role,
            member.status,
            "on" if member.totp_enrolled else "off",
            member.last_login_at.isoformat(timespec="seconds") if member.last_login_at else "-",
        )
    out.print(table)
