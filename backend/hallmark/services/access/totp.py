"""The TOTP second factor (RFC 6238, with pyotp): secrets, enrolment URIs, codes used once.

A code is accepted for its own 30-second step and one step either side (clock drift), and only
for a step later than the last one accepted for that user, so a code seen over a shoulder or
replayed is refused even within its window. Secrets are stored AES-256-GCM encrypted with a key
derived (HKDF-SHA256) from HALLMARK_FILE_KEY, the user's id as associated data: a copied row
does not decrypt as another user's.
"""

from __future__ import annotations

import base64
import hmac
import os
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from hallmark.core.errors import KeystoreError

ISSUER = "Hallmark"
DIGITS = 6
#: Steps either side of now that are still accepted (clock drift between phone and server).
DRIFT_STEPS = 1


def derive_key(file_key: bytes) -> bytes:
    """The key that encrypts TOTP secrets, separate from the file store's own key."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"hallmark staff totp secrets"
    ).derive(file_key)


def new_secret() -> str:
    """A random 160-bit secret in base32 (RFC 4226's recommended length)."""
    return pyotp.random_base32()


def seal(key: bytes, user_id: str, secret: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), user_id.encode())
    return base64.b64encode(nonce + sealed).decode()


def unseal(key: bytes, user_id: str, stored: str) -> str:
    raw = base64.b64decode(stored)
    try:
        return AESGCM(key).decrypt(raw[:12], raw[12:], user_id.encode()).decode()
    except InvalidTag as exc:
        raise KeystoreError(
            "a TOTP secret does not decrypt: HALLMARK_FILE_KEY changed since it was enrolled"
        ) from exc


def provisioning_uri(secret: str, *, username: str, organisation: str) -> str:
    """The otpauth:// URI an authenticator app reads from the enrolment QR code."""
    return pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(
        name=f"{username} ({organisation})", issuer_name=ISSUER
    )


def accepted_step(secret: str, code: str, *, last_step: int | None, now: datetime) -> int | None:
    """The time step `code` belongs to, when it is valid now and newer than `last_step`."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS)
    current = totp.timecode(now)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step if last_step is None or step > last_step else None
    return None
