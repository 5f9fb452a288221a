"""Hallmark's exceptions: one root, leaves that carry data and build their own message.

    HallmarkError                     code            HTTP
    ├── ConfigurationError            configuration   500
    ├── CompilerError                 compiler_error  500
    │   └── CompilerNotFoundError     compiler_missing
    ├── KeystoreError                 keystore_error  500
    ├── ChainError                    chain_error     503
    │   ├── ChainUnavailableError     chain_unavailable (no answer, a stall, HTTP 5xx)
    │   │   ├── ChainRateLimitedError chain_rate_limited (HTTP 429 or a JSON-RPC limit error)
    │   │   └── ChainBadResponseError chain_bad_response (not a JSON-RPC answer)
    │   ├── NodeStartError            node_start_failed
    │   │   └── NodePortTakenError    node_port_taken (a node Hallmark did not start is on its port)
    │   ├── DeploymentMissingError    deployment_missing
    │   ├── DeploymentMismatchError   deployment_mismatch
    │   ├── TransactionRejectedError  transaction_rejected (the node refused a signed transaction)
    │   └── ContractRevertError       contract_reverted 409 (a custom error, decoded from the ABI)
    │       ├── UnauthorisedAnchorerError  unauthorised_anchorer 403
    │       ├── RootAlreadyAnchoredError   root_already_anchored
    │       └── DesignAlreadyRegisteredError design_already_registered (an equal or earlier filing)
    ├── DatabaseUnavailableError      database_unavailable 503
    ├── ServiceUnavailableError       unavailable     503 (shutting down; a write that failed)
    ├── FileCorruptError              file_corrupt    500
    ├── RecordIntegrityError          record_integrity 500 (text, hash, batch, root disagree)
    ├── RemoteApiError                remote_api_error (a remote Hallmark API refused or failed)
    ├── AuthenticationError           unauthenticated 401
    │   └── SignInRefusedError        sign_in_refused (wrong password or code, disabled)
    ├── TooManyAttemptsError          too_many_attempts 429 (staff sign-in throttled)
    ├── RateLimitedError              rate_limited    429 (a public endpoint, per client address)
    ├── PermissionDeniedError         forbidden       403
    ├── NotFoundError                 not_found       404
    ├── InvalidInputError             validation_error 422 (`invalid_field` names the field)
    │   └── DesignFileError           design_file_invalid (a design file refused, nothing stored)
    │       ├── MislabelledFileError  file_mislabelled 415 (content is not what name/type claim)
    │       ├── MalformedFileError    file_malformed (undecodable image, broken mesh, unsafe SVG)
    │       └── DecompressionBombError decompression_bomb 413 (decodes to more than allowed)
    ├── PayloadTooLargeError          payload_too_large 413
    └── ConflictError                 conflict        409
        ├── UniqueViolationError      conflict (a unique constraint, named; store boundary)
        ├── IdempotencyKeyReusedError idempotency_key_reused
        ├── MassBalanceError          mass_balance_exceeded
        ├── StepOrderError            step_order
        ├── PreviousStepMismatchError previous_step_mismatch
        ├── ProductionIncompleteError production_incomplete (no certificate for it yet)
        ├── DesignNotCertifiableError design_not_certifiable (design not filed, final, licensed)
        └── CertificateStateError     certificate_state (already revoked, superseded, ...)

Each boundary translates in one table: the chain client maps node and contract errors to these,
the API maps these to `{"error": {"code", "message", "details"}}` responses, the CLI prints the
message on one line and exits non-zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar


class HallmarkError(Exception):
    """Root of every error Hallmark raises on purpose."""

    code: ClassVar[str] = "hallmark_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message


class ConfigurationError(HallmarkError):
    """A setting is missing, malformed or unsafe for the environment."""

    code = "configuration"


class CompilerError(HallmarkError):
    """The Solidity compiler rejected the sources; the message is the compiler's own."""

    code = "compiler_error"


class CompilerNotFoundError(CompilerError):
    """No usable Solidity compiler: neither configured, nor on PATH, nor the npm package."""

    code = "compiler_missing"


class KeystoreError(HallmarkError):
    """A keystore cannot be read, decrypted or written."""

    code = "keystore_error"


class ChainError(HallmarkError):
    """Anything that goes wrong between Hallmark and the chain."""

    code = "chain_error"
    http_status = 503


class ChainUnavailableError(ChainError):
    """The JSON-RPC node does not answer, stalls, or its endpoint fails (HTTP 5xx).

    `retryable`: whether asking again soon may help (a refused connection, a 503); a request
    that timed out was given its time and is not repeated by the chain client.
    """

    code = "chain_unavailable"
    summary: ClassVar[str] = "is unreachable"

    def __init__(self, url: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(
            f"chain node at {url} {self.summary}: {reason}", details={"url": url, "reason": reason}
        )
        self.url = url
        self.reason = reason
        self.retryable = retryable


class ChainRateLimitedError(ChainUnavailableError):
    """The node's endpoint refuses more requests for now (HTTP 429, or a JSON-RPC limit error).

    `retry_after`: seconds the endpoint asked Hallmark to wait (its Retry-After), if it said;
    an API answer that fails on it passes the wait on (`retry_after_seconds`, rounded up)."""

    code = "chain_rate_limited"
    summary = "is rate limiting Hallmark"

    def __init__(self, url: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(url, reason)
        self.retry_after = retry_after
        if retry_after is not None:
            self.details["retry_after_seconds"] = max(1, math.ceil(retry_after))


class ChainBadResponseError(ChainUnavailableError):
    """The endpoint answered something that is not a JSON-RPC answer (a proxy's error page,
    a truncated body)."""

    code = "chain_bad_response"
    summary = "answered no valid JSON-RPC response"


class NodeStartError(ChainError):
    """The local anvil node could not be started."""

    code = "node_start_failed"


class NodePortTakenError(NodeStartError):
    """A node that no Hallmark process of this data directory started answers on the local
    node's port: Hallmark neither deploys on it nor starts a second node there."""

    code = "node_port_taken"

    def __init__(self, port: int) -> None:
        self.port = port
        super().__init__(
            f"a chain node that this Hallmark did not start already answers on 127.0.0.1:{port}; "
            "stop it, choose another HALLMARK_ANVIL_PORT, or set HALLMARK_ANVIL_ATTACH=true "
            "to use that node",
            details={"port": port},
        )


class DeploymentMissingError(ChainError):
    """No deployment is recorded for this data directory and database."""

    code = "deployment_missing"


class DeploymentMismatchError(ChainError):
    """The chain does not hold what the deployment record says; never redeploy silently."""

    code = "deployment_mismatch"

    def __init__(self, differences: list[str]) -> None:
        super().__init__(
            "the chain does not match the recorded deployment: " + "; ".join(differences),
            details={"differences": differences},
        )
        self.differences = differences


class TransactionRejectedError(ChainError):
    """The node refused a signed transaction (nonce too low, fee too low, insufficient funds)."""

    code = "transaction_rejected"

    def __init__(self, tx_hash: str, reason: str) -> None:
        super().__init__(
            f"the node refused transaction {tx_hash}: {reason}",
            details={"tx_hash": tx_hash, "reason": reason},
        )
        self.tx_hash = tx_hash
        self.reason = reason


class ContractRevertError(ChainError):
    """A contract refused a call with one of its custom errors, decoded with the artifact's ABI.

    `error_name` and `arguments` are the Solidity error and its named arguments (addresses
    checksummed, bytes as 0x-hex, integers as ints); `signature` renders both on one line.
    """

    code = "contract_reverted"
    http_status = 409

    def __init__(self, contract: str, error_name: str, arguments: Mapping[str, Any]) -> None:
        self.contract = contract
        self.error_name = error_name
        self.arguments: dict[str, Any] = dict(arguments)
        super().__init__(
            f"{contract} refused: {self.signature}",
            details={"contract": contract, "error": error_name, "arguments": self.arguments},
        )

    @property
    def signature(self) -> str:
        """`Name(arg=value, ...)`, as the contract raised it."""
        rendered = ", ".join(f"{name}={value}" for name, value in self.arguments.items())
        return f"{self.error_name}({rendered})"


class UnauthorisedAnchorerError(ContractRevertError):
    """The account holds no ledger role allowed to anchor records of that kind (e.g. revoked)."""

    code = "unauthorised_anchorer"
    http_status = 403


class RootAlreadyAnchoredError(ContractRevertError):
    """The Merkle root is anchored already; an anchored root never changes."""

    code = "root_already_anchored"


class DesignAlreadyRegisteredError(ContractRevertError):
    """The design's fingerprint is filed on chain with priority from an equal or earlier block
    (its `arguments` name the registrant, filing time and block)."""

    code = "design_already_registered"


class DatabaseUnavailableError(HallmarkError):
    """The database does not answer."""

    code = "database_unavailable"
    http_status = 503


class ServiceUnavailableError(HallmarkError):
    """Hallmark cannot take the request now (shutting down, or a write that failed); retry."""

    code = "unavailable"
    http_status = 503


class AuthenticationError(HallmarkError):
    """No credentials, or credentials that are unknown, revoked or disabled."""

    code = "unauthenticated"
    http_status = 401


class SignInRefusedError(AuthenticationError):
    """A staff sign-in step refused: `reason` is `credentials` (unknown username or wrong
    password: which of the two is never said), `code` (wrong, old or replayed TOTP code) or
    `disabled` (the account or its organisation)."""

    code = "sign_in_refused"

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message, details={"reason": reason})
        self.reason = reason


class TooManyAttemptsError(HallmarkError):
    """Too many failed sign-ins for an account or from an address; retry after `retry_after`
    seconds."""

    code = "too_many_attempts"
    http_status = 429

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, -(-retry_after // 60))
        super().__init__(
            f"too many failed sign-in attempts; try again in {minutes} minute(s)",
            details={"retry_after": retry_after},
        )
        self.retry_after = retry_after


class RateLimitedError(HallmarkError):
    """A client address asked a public endpoint more often than its limit allows; retry after
    `retry_after` seconds."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, retry_after: int, *, limit: str) -> None:
        super().__init__(
            f"too many requests from this address ({limit}); try again in {retry_after} s",
            details={"retry_after_seconds": retry_after, "limit": limit},
        )
        self.retry_after = retry_after


class PermissionDeniedError(HallmarkError):
    """Authenticated, but the role does not allow this action."""

    code = "forbidden"
    http_status = 403


class NotFoundError(HallmarkError):
    """The object does not exist (or belongs to someone else: existence must not leak)."""

    code = "not_found"
    http_status = 404

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!s} not found", details={"kind": kind, "id": str(key)})


class InvalidInputError(HallmarkError):
    """Input that is well-formed but not acceptable."""

    code = "validation_error"
    http_status = 422


class DesignFileError(InvalidInputError):
    """A design file refused before anything is stored; `kind` is what its content is."""

    code = "design_file_invalid"

    def __init__(self, message: str, *, kind: str, **details: Any) -> None:
        super().__init__(message, details={"kind": kind, **details})
        self.kind = kind


class MislabelledFileError(DesignFileError):
    """The content is not what the file's name or media type claims (a PNG named .stl)."""

    code = "file_mislabelled"
    http_status = 415

    def __init__(self, *, claimed: str, detected: str) -> None:
        super().__init__(
            f"the file claims to be {claimed} but its content is {detected}",
            kind=detected,
            claimed=claimed,
            detected=detected,
        )
        self.claimed = claimed
        self.detected = detected


class MalformedFileError(DesignFileError):
    """The file cannot be decoded safely: a truncated image, a broken mesh, an SVG with
    external references or entities."""

    code = "file_malformed"

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"malformed {kind} file: {reason}", kind=kind, reason=reason)
        self.reason = reason


class DecompressionBombError(DesignFileError):
    """The file would decode to more pixels, triangles or bytes than allowed."""

    code = "decompression_bomb"
    http_status = 413

    def __init__(self, kind: str, *, what: str, size: int, limit: int) -> None:
        super().__init__(
            f"{kind} file would decode to {size} {what}; at most {limit} are accepted",
            kind=kind,
            what=what,
            size=size,
            limit=limit,
        )


class ConflictError(HallmarkError):
    """The request conflicts with what is stored."""

    code = "conflict"
    http_status = 409


class PayloadTooLargeError(HallmarkError):
    """The request body or batch is larger than allowed."""

    code = "payload_too_large"
    http_status = 413


class RecordTooLargeError(PayloadTooLargeError):
    """A record's canonical text would be larger than a record may be (nothing is stored)."""

    code = "record_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the record would be {size} bytes as canonical JSON; a record holds at most {limit}",
            details={"size": size, "limit": limit},
        )


class UniqueViolationError(ConflictError):
    """A write met a row with the same unique value, stored meanwhile by another transaction
    (another request, another process): the database's unique constraint, by its name."""

    def __init__(self, constraint: str, what: str, *, field: str | None = None) -> None:
        details: dict[str, Any] = {"constraint": constraint}
        if field is not None:
            details["field"] = field
        super().__init__(f"{what} exists already", details=details)
        self.constraint = constraint


class IdempotencyKeyReusedError(ConflictError):
    """An Idempotency-Key came back with a different request."""

    code = "idempotency_key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request",
            details={"idempotency_key": key},
        )


class MassBalanceError(ConflictError):
    """A material lot would give more than it still holds."""

    code = "mass_balance_exceeded"

    def __init__(self, *, lot_id: str, lot_number: str, requested: str, remaining: str, unit: str):
        super().__init__(
            f"lot {lot_number} ({lot_id}) holds {remaining} {unit}, {requested} {unit} requested",
            details={
                "lot": lot_id,
                "lot_number": lot_number,
                "requested": requested,
                "remaining": remaining,
                "unit": unit,
            },
        )


class StepOrderError(ConflictError):
    """A production step breaks the order rules (e.g. shipping before a passing inspection)."""

    code = "step_order"

    def __init__(self, message: str, *, product: str, kind: str) -> None:
        super().__init__(message, details={"product": product, "kind": kind})


class PreviousStepMismatchError(ConflictError):
    """The client's `previous_step_hash` is not the product's current last step."""

    code = "previous_step_mismatch"

    def __init__(self, *, product: str, expected: str | None, given: str) -> None:
        super().__init__(
            f"previous_step_hash {given} is not the last step of product {product} "
            f"(that is {expected or 'none: the product has no step yet'})",
            details={"product": product, "expected": expected, "given": given},
        )


class ProductionIncompleteError(ConflictError):
    """A certificate was asked for a product whose production is not complete."""

    code = "production_incomplete"

    def __init__(self, *, product: str, reason: str) -> None:
        super().__init__(
            f"product {product} cannot be certified: {reason}",
            details={"product": product, "reason": reason},
        )


class DesignNotCertifiableError(ConflictError):
    """A certificate names a design that is not filed on chain and final (or a licence that is
    not recorded and in force)."""

    code = "design_not_certifiable"

    def __init__(self, design: str, reason: str, *, final_at: str | None = None) -> None:
        details: dict[str, Any] = {"design": design, "reason": reason}
        if final_at is not None:
            details["final_at"] = final_at
        super().__init__(
            f"design {design} cannot be named on a certificate: {reason}", details=details
        )


class CertificateStateError(ConflictError):
    """A certificate cannot take this step from where it stands (revoked, superseded, not yet
    anchored, already certified)."""

    code = "certificate_state"

    def __init__(self, message: str, *, certificate: str | None, state: str) -> None:
        super().__init__(message, details={"certificate": certificate, "state": state})


class FileCorruptError(HallmarkError):
    """A stored file does not authenticate: it was altered, or the key is not the one used."""

    code = "file_corrupt"

    def __init__(self, sha256: str) -> None:
        super().__init__(
            f"stored file {sha256} failed authentication (tampered, or encrypted with another key)",
            details={"sha256": sha256},
        )


class RecordIntegrityError(HallmarkError):
    """A stored record no longer agrees with itself or with its anchoring: its canonical text
    does not hash to its record hash, its hash is not in its batch, or its batch's records do not
    make the batch's root. Never answered as data: the record was altered where it is stored."""

    code = "record_integrity"

    def __init__(self, record_id: str | None, reason: str, *, batch_id: int | None = None) -> None:
        what = f"record {record_id}" if record_id is not None else f"anchoring batch {batch_id}"
        super().__init__(
            f"{what} failed its integrity check: {reason}",
            details={"record": record_id, "batch": batch_id, "reason": reason},
        )
        self.record_id = record_id
        self.batch_id = batch_id
        self.reason = reason


class RemoteApiError(HallmarkError):
    """A remote Hallmark API (used by the CLI) did not answer, or answered with an error."""

    code = "remote_api_error"
    http_status = 502

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        where = f"{url} answered {status}" if status is not None else f"{url} is unreachable"
        super().__init__(f"{where}: {reason}", details={"url": url, "status": status})
        self.status = status


def first_line(exc: BaseException) -> str:
    """An exception's message for a log line or a report: its first line (at most 300
    characters), or its type's name when it has none."""
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def invalid_field(field: str, message: str, **details: Any) -> InvalidInputError:
    """A 422 naming the field, in the shape of the request validation errors."""
    return InvalidInputError(
        message,
        details={
            "field": field,
            "fields": [{"field": field, "message": message, "type": "value_error"}],
            **details,
        },
    )


E = TypeVar("E", bound=HallmarkError)


def for_field(field: str, error: E) -> E:
    """Name the field a domain error is about (a batch row's error is reported on it)."""
    error.details["field"] = field
    return error
