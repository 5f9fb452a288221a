"""Staff passwords: argon2id hashes (argon2-cffi) and what a new password must be.

The rules follow NIST SP 800-63B: a floor and a ceiling on length, no composition rules, and
not the username. Hashes carry their own parameters, so raising the memory cost later rehashes
each password at its owner's next sign-in (`needs_rehash`).

Raises:
    InvalidInputError: a new password breaks a rule (`details["reason"]`: too_short, too_long,
        is_username).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from hallmark.core.errors import invalid_field

MIN_LENGTH = 12
#: A ceiling keeps hashing cheap to refuse and the form small; passphrases fit well within it.
MAX_LENGTH = 256


class Passwords:
    """Hash and check passwords with argon2id at a given memory cost (KiB)."""

    def __init__(self, memory_kib: int) -> None:
        # RFC 9106's second recommended profile is t=3, p=4, m=64 MiB; the memory is a setting
        # (tests use little), and argon2 needs at least 8 KiB per lane.
        parallelism = max(1, min(4, memory_kib // 8))
        self._hasher = PasswordHasher(time_cost=3, memory_cost=memory_kib, parallelism=parallelism)
        self._dummy = self._hasher.hash("not a password anyone has")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Whether `password` matches the stored hash (a malformed hash never matches)."""
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def burn(self, password: str) -> None:
        """Spend the time of a real check (for an unknown username, so timing says nothing)."""
        self.verify(self._dummy, password)

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)


def check_new_password(password: str, *, username: str, field: str = "new_password") -> None:
    """Refuse a password that breaks a rule, naming the rule."""
    if len(password) < MIN_LENGTH:
        raise invalid_field(
            field,
            f"a password needs at least {MIN_LENGTH} characters",
            reason="too_short",
            minimum=MIN_LENGTH,
        )
    if len(password) > MAX_LENGTH:
        raise invalid_field(
            field,
            f"a password has at most {MAX_LENGTH} characters",
            reason="too_long",
            maximum=MAX_LENGTH,
        )
    if password.strip().casefold() == username.casefold():
        raise invalid_field(field, "a password must not be the username", reason="is_username")
