"""What every command shares: its output, its one-line failures, its settings and logs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import pydantic
import typer
from rich.console import Console

from hallmark.config import Settings
from hallmark.core.errors import HallmarkError
from hallmark.core.logging import configure_logging

out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def reported() -> Iterator[None]:
    """Turn Hallmark's errors and bad settings into a one-line reason and exit code 1."""
    try:
        yield
    except HallmarkError as exc:
        fail(exc.message.replace("\n", " | "))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "settings"
        fail(f"invalid setting {where}: {first['msg']}")


def load_settings(**overrides: Any) -> Settings:
    with reported():
        settings = Settings(**{k: v for k, v in overrides.items() if v is not None})
    secrets = [
        secret.get_secret_value()
        for secret in (settings.key_passphrase, settings.file_key, settings.file_keys_previous)
        if secret is not None
    ]
    configure_logging(settings.log_level, json=_json_logs(settings), secrets=secrets)
    return settings


def _json_logs(settings: Settings) -> bool:
    if settings.log_json is not None:
        return settings.log_json
    return settings.environment.value == "production"


# --- commands that talk to a Hallmark over HTTP ----------------------------------------------

ApiUrlOption = Annotated[
    str, typer.Option("--api-url", envvar="HALLMARK_API_URL", help="Hallmark's base URL")
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", envvar="HALLMARK_API_KEY", help="API key (HALLMARK_API_KEY)"),
]


def require_api_key(api_key: str | None) -> str:
    if not api_key:
        fail("an API key is required: --api-key or HALLMARK_API_KEY")
    return api_key
