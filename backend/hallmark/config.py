"""Settings: every knob of Hallmark, read from HALLMARK_* environment variables or a .env file.

`.env.example` at the repository root documents every field. Secrets are `SecretStr`; outside
development a missing or placeholder secret refuses to start (see `_refuse_placeholder_secrets`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root (backend/hallmark/config.py → ../../..): contracts, scripts, node_modules.
PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Values that look like secrets but are not: refused in production.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "change_me",
        "changethis",
        "secret",
        "password",
        "passphrase",
        "placeholder",
        "example",
        "dev",
        "development",
        "test",
        "hallmark",
        "insecure-development-passphrase",
    }
)

#: The least argon2 memory (KiB) production accepts for staff passwords (OWASP's minimum).
MIN_PRODUCTION_PASSWORD_MEMORY_KIB = 19 * 1024

#: Passphrase used in development and tests when none is configured (never in production).
DEVELOPMENT_PASSPHRASE = "insecure-development-passphrase"  # noqa: S105 - refused in production


def _decode_file_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("HALLMARK_FILE_KEY must be base64 of 32 bytes") from exc
    if len(key) != 32:
        raise ValueError(f"HALLMARK_FILE_KEY must be base64 of 32 bytes, got {len(key)} bytes")
    return key


class Environment(StrEnum):
    """Where Hallmark runs; production forbids placeholder secrets and development chains."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """All of Hallmark's configuration (prefix HALLMARK_)."""

    model_config = SettingsConfigDict(
        env_prefix="HALLMARK_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # `HALLMARK_RPC_URL=` (as .env.example lists the optional settings) leaves it unset.
        env_ignore_empty=True,
    )

    environment: Environment = Field(
        Environment.DEVELOPMENT,
        description="development, test or production; production refuses placeholder secrets",
    )
    data_dir: Path = Field(
        PROJECT_ROOT / "data",
        description="Where keys, the local chain's state, the deployment record "
        "and the default SQLite database live",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default sqlite:///<data_dir>/hallmark.sqlite3. "
        "PostgreSQL: postgresql+psycopg://user@host:5432/dbname",
    )

    # --- chain -------------------------------------------------------------------------------
    rpc_url: str | None = Field(
        None,
        description="EVM JSON-RPC URL. Unset: Hallmark starts and supervises its own local anvil "
        "(refused in production)",
    )
    chain_id: Annotated[int, Field(gt=0)] = Field(
        31337, description="Chain id of the local anvil chain (ignored with rpc_url)"
    )
    anvil_port: Annotated[int, Field(ge=0, le=65535)] = Field(
        8545, description="Port of the local anvil on 127.0.0.1 (0 picks a free port)"
    )
    anvil_attach: bool = Field(
        False,
        description="Use a node already answering on anvil_port that no Hallmark process of this "
        "data directory started (false: refuse to start, naming the port)",
    )
    anvil_binary: Path | None = Field(
        None, description="anvil executable; default: PATH, then the npm @foundry-rs/anvil package"
    )
    anvil_state_interval: Annotated[int, Field(ge=1)] = Field(
        1, description="Seconds between dumps of the local chain's state to the data directory"
    )
    anvil_block_time: Annotated[float, Field(ge=0)] = Field(
        0, description="Seconds per block on the local chain; 0 mines each transaction at once"
    )
    anvil_watch_interval: Annotated[float, Field(gt=0)] = Field(
        0.5, description="Seconds between checks that the local anvil is still alive"
    )
    confirmations: Annotated[int, Field(ge=0)] = Field(
        0, description="Blocks a transaction needs on top of it before Hallmark relies on it"
    )
    rpc_timeout: Annotated[float, Field(gt=0)] = Field(
        10.0, description="Seconds before a JSON-RPC request to the node times out"
    )
    admin_transfer_delay: Annotated[int, Field(ge=0, lt=1 << 48)] = Field(
        172_800,
        description="Seconds a new ledger's administrator role transfer waits before it can be "
        "accepted (fixed at deployment; AccessControlDefaultAdminRules)",
    )

    # --- anchoring ---------------------------------------------------------------------------
    anchor_interval: Annotated[float, Field(gt=0)] = Field(
        2.0, description="Seconds a record waits at most before its batch is anchored"
    )
    anchor_batch_size: Annotated[int, Field(ge=1, le=(1 << 24) - 1)] = Field(
        1000, description="Records per anchored batch; a full batch is anchored at once"
    )
    anchor_gas_limit: Annotated[int, Field(ge=21_000)] = Field(
        100_000,
        description="Gas limit of an anchoring transaction (anchor() needs under 50,000 on "
        "the EVM; raise it on chains that add L1 data costs)",
    )
    anchor_retry_max: Annotated[float, Field(gt=0)] = Field(
        30.0,
        description="Longest wait in seconds between retries after a node error or a "
        "refused batch (exponential backoff)",
    )
    fee_bump_after: Annotated[float, Field(ge=0)] = Field(
        120.0,
        description="Seconds an anchoring transaction may wait unmined before it is replaced by "
        "one with 12.5 % higher fees (same nonce); 0 never replaces",
    )
    max_fee_gwei: Annotated[Decimal | None, Field(gt=0)] = Field(
        None,
        description="Highest max fee per gas (legacy: gas price), in gwei, that a replacement "
        "may offer; unset: no cap",
    )
    log_block_range: Annotated[int, Field(ge=1)] = Field(
        2_000,
        description="Blocks per eth_getLogs request when an anchoring is looked up on chain "
        "(hosted nodes cap the range)",
    )
    reorg_depth: Annotated[int, Field(ge=1)] = Field(
        64,
        description="Blocks below the head a new leader re-checks anchored batches in when the "
        "node reports no finalized block (forks are found by block hash, at any depth)",
    )
    worker_in_serve: bool = Field(
        True,
        description="Run an anchoring worker with `hallmark serve`, as its supervised child "
        "process (false: run `hallmark worker` yourself)",
    )
    worker_standby_interval: Annotated[float, Field(gt=0)] = Field(
        1.0, description="Seconds between a standby worker's attempts to take over anchoring"
    )
    certificate_order_chunk: Annotated[int, Field(ge=1, le=5000)] = Field(
        1000,
        description="Products issued per database transaction of a certificate order (its "
        "progress is saved after each; an order left running is resumed from there at start)",
    )
    audit_anchor_interval: Annotated[float, Field(gt=0)] = Field(
        600.0,
        description="Seconds between two anchorings of the audit log's head on chain (by the "
        "leading worker, when the log grew)",
    )
    worker_takeover_after: Annotated[float, Field(gt=0)] = Field(
        120.0,
        description="Seconds without a heartbeat after which a standby worker ends the leader "
        "that holds the anchoring lock but no longer leads (a hung process) and takes over",
    )

    # --- keys --------------------------------------------------------------------------------
    key_passphrase: SecretStr | None = Field(
        None,
        description="Passphrase of the V3 keystores holding the admin and service keys "
        "(required in production)",
    )
    keystore_scrypt_n: Annotated[int, Field(ge=2, le=1 << 20)] = Field(
        1 << 18,
        description="scrypt work factor N for new keystores (262144 = the V3 keystore default)",
    )

    # --- solidity ----------------------------------------------------------------------------
    solc: Path | None = Field(
        None,
        description="Explicit solc executable; default: a native solc of the pinned version on "
        "PATH, then the npm compiler through scripts/solc-facade.cjs",
    )

    # --- api ---------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the API listens on")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(8000, description="Port the API listens on")
    api_processes: Annotated[int, Field(ge=1, le=64)] = Field(
        1,
        description="API processes `hallmark serve` runs on the one port (more than 1: child "
        "processes sharing its chain and database; one per core is a good start)",
    )
    public_base_url: str | None = Field(
        None,
        description="Address customers reach Hallmark at (e.g. https://verify.example.com): "
        "certificate QR codes and printed certificates point to <it>/v/<certificate number> "
        "(unset: http://<host>:<port>; production must set it)",
    )
    verify_rate_limit: str = Field(
        "20/second;600/minute",
        description="Requests each client address may make of the public verification "
        "(POST /api/v1/verify, the verify page, the GS1 Digital Link resolver; one budget, per "
        "API process), as limits such as 20/second;600/minute, or off; over it: 429",
    )
    log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")
    log_json: bool | None = Field(
        None, description="JSON log lines (default: on in production, console style elsewhere)"
    )

    # --- records, batches and attachments ------------------------------------------------------
    files_dir: Path | None = Field(
        None, description="Encrypted attachment store; default <data_dir>/files"
    )
    file_key: SecretStr | None = Field(
        None,
        description="AES-256-GCM key of the attachment store, base64 of 32 random bytes "
        "(required in production; development and test derive one)",
    )
    file_keys_previous: SecretStr | None = Field(
        None,
        description="Previous AES-256-GCM keys of the attachment store during a key rotation, "
        "comma-separated base64 (files are read under them; `hallmark designs rotate-key` "
        "re-seals every file under file_key, then drop them)",
    )
    attachment_max_bytes: Annotated[int, Field(ge=1)] = Field(
        32 * 1024 * 1024, description="Largest attachment upload in bytes (more: 413)"
    )
    evidence_font: Path | None = Field(
        None,
        description="TrueType font (.ttf/.ttc) with Chinese glyphs that evidence and certificate "
        "PDFs embed; "
        "default WenQuanYi Micro Hei (Debian fonts-wqy-microhei)",
    )
    batch_max_bytes: Annotated[int, Field(ge=1)] = Field(
        64 * 1024 * 1024, description="Largest batch request body in bytes (more: 413)"
    )
    batch_max_rows: Annotated[int, Field(ge=1)] = Field(
        10_000, description="Most records in one batch request (more: 413)"
    )
    idempotency_key_hours: Annotated[int, Field(ge=1, le=30 * 24)] = Field(
        24,
        description="Hours an Idempotency-Key's first answer is kept for replays; after that "
        "the key may be used for a new request",
    )
    write_wait: Annotated[float, Field(gt=0)] = Field(
        5.0,
        description="Seconds a single create waits for the database's write lock "
        "(SQLite; held by another process) before it is answered 503 with Retry-After",
    )
    verify_block_seconds: Annotated[float, Field(ge=0, le=5)] = Field(
        0.2,
        description="Seconds between an API process's questions to the node for the latest block, "
        "shared by every verification request; a request never uses an answer older than twice "
        "this, so a revocation shows within one block on a chain whose blocks come less often "
        "(0: every verification request asks the node)",
    )
    key_cache_seconds: Annotated[float, Field(ge=0, le=60)] = Field(
        1.0,
        description="Seconds an API process keeps an API key it found valid without reading it "
        "again; a key revoked (or an organisation disabled) by another process is refused "
        "within this time (0: every request reads its key)",
    )

    # --- staff console -------------------------------------------------------------------------
    display_timezone: str = Field(
        "UTC", description="IANA time zone in which pages show times (e.g. Asia/Shanghai)"
    )
    staff_session_idle_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        30, description="Minutes without a request after which a staff session ends"
    )
    staff_session_max_hours: Annotated[int, Field(ge=1, le=7 * 24)] = Field(
        12, description="Hours after sign-in at which a staff session ends however active"
    )
    staff_login_window_minutes: Annotated[int, Field(ge=1, le=24 * 60)] = Field(
        15, description="Minutes over which failed staff sign-ins are counted for throttling"
    )
    staff_login_account_failures: Annotated[int, Field(ge=1)] = Field(
        5, description="Failed sign-ins for one username within the window before it is throttled"
    )
    staff_login_address_failures: Annotated[int, Field(ge=1)] = Field(
        20, description="Failed sign-ins from one address within the window before it is throttled"
    )
    staff_totp_roles: str = Field(
        "legal",
        description="Comma-separated staff roles that must sign in with a TOTP code (legal "
        "always must; others may enrol by choice)",
    )
    password_hash_memory_kib: Annotated[int, Field(ge=8, le=4 * 1024 * 1024)] = Field(
        64 * 1024,
        description="argon2id memory cost in KiB for staff passwords (65536 = RFC 9106's "
        "second recommendation; production refuses under 19456)",
    )

    @field_validator("staff_totp_roles")
    @classmethod
    def _normalise_roles(cls, value: str) -> str:
        return ",".join(part.strip().lower() for part in value.split(",") if part.strip())

    @field_validator("public_base_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL such as https://verify.example.com")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError(f"{value!r}: a base URL has no query, fragment or user")
        return value.strip().rstrip("/")

    @field_validator("verify_rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        value = value.strip()
        if value.lower() == "off":
            return "off"
        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a rate limit such as 20/second;600/minute") from exc
        return value

    @field_validator("display_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (an IANA name such as UTC)") from exc
        return value

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment is Environment.PRODUCTION:
            passphrase = self.key_passphrase.get_secret_value() if self.key_passphrase else ""
            if passphrase.strip().lower() in PLACEHOLDER_SECRETS or len(passphrase) < 12:
                raise ValueError(
                    "HALLMARK_KEY_PASSPHRASE must be set to a real secret of at least 12 "
                    "characters in production (missing or placeholder value refused)"
                )
        if self.file_key is not None and self.file_key.get_secret_value():
            key = _decode_file_key(self.file_key.get_secret_value())
            if self.environment is Environment.PRODUCTION and len(set(key)) < 8:
                raise ValueError("HALLMARK_FILE_KEY is a placeholder (too few distinct bytes)")
            if self.file_keys_previous is not None:
                _ = self.previous_file_keys  # a malformed previous key is refused now
        elif self.environment is Environment.PRODUCTION:
            raise ValueError(
                "HALLMARK_FILE_KEY must be set in production (base64 of 32 random bytes, "
                "e.g. `openssl rand -base64 32`)"
            )
        if (
            self.environment is Environment.PRODUCTION
            and self.password_hash_memory_kib < MIN_PRODUCTION_PASSWORD_MEMORY_KIB
        ):
            raise ValueError(
                f"HALLMARK_PASSWORD_HASH_MEMORY_KIB must be at least "
                f"{MIN_PRODUCTION_PASSWORD_MEMORY_KIB} in production"
            )
        return self

    @cached_property
    def effective_database_url(self) -> str:
        """The database URL in use: the configured one or SQLite in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'hallmark.sqlite3'}"

    @property
    def effective_public_base_url(self) -> str | None:
        """The base of public links (QR codes): the configured one, else this server's own
        address outside production; None in production without one."""
        if self.public_base_url is not None:
            return self.public_base_url
        if self.environment is Environment.PRODUCTION:
            return None
        return f"http://{self.host}:{self.port}"

    @property
    def passphrase(self) -> str:
        """The keystore passphrase (a development default outside production)."""
        if self.key_passphrase is not None and self.key_passphrase.get_secret_value():
            return self.key_passphrase.get_secret_value()
        return DEVELOPMENT_PASSPHRASE

    @property
    def idempotency_ttl(self) -> timedelta:
        """How long an Idempotency-Key's first answer is kept (`idempotency_key_hours`)."""
        return timedelta(hours=self.idempotency_key_hours)

    @property
    def effective_files_dir(self) -> Path:
        """Where the encrypted attachment store lives."""
        return self.files_dir if self.files_dir is not None else self.data_dir / "files"

    @property
    def previous_file_keys(self) -> tuple[bytes, ...]:
        """The keys of `file_keys_previous` (a rotation in progress), decoded."""
        if self.file_keys_previous is None:
            return ()
        text = self.file_keys_previous.get_secret_value()
        return tuple(_decode_file_key(part) for part in text.split(",") if part.strip())

    @property
    def file_key_bytes(self) -> bytes:
        """The attachment store's AES-256 key (derived from the passphrase outside production)."""
        if self.file_key is not None and self.file_key.get_secret_value():
            return _decode_file_key(self.file_key.get_secret_value())
        assert self.environment is not Environment.PRODUCTION  # refused by the validator
        return hashlib.sha256(
            b"hallmark development file key\0" + self.passphrase.encode()
        ).digest()

    @property
    def max_fee_per_gas_cap(self) -> int | None:
        """`max_fee_gwei` in wei."""
        return None if self.max_fee_gwei is None else int(self.max_fee_gwei * 10**9)

    @property
    def uses_local_chain(self) -> bool:
        """True when Hallmark runs its own anvil instead of a configured RPC URL."""
        return self.rpc_url is None

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def chain_state_path(self) -> Path:
        return self.data_dir / "chain" / "anvil-state.json"

    @property
    def deployment_path(self) -> Path:
        return self.data_dir / "deployment.json"
