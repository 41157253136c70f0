"""Passwords (argon2), opaque tokens stored as hashes, CSRF, login throttling."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.refusals import Invalid

_hasher = PasswordHasher()
# Verifying against this keeps a wrong username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password")
MIN_PASSWORD_LENGTH = 10


class WeakPassword(Invalid):
    def __init__(self, detail: str) -> None:
        super().__init__("weak_password", detail, "password")


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def csrf_token(secret_key: str, seed: str) -> str:
    """A form token: an HMAC of what the browser's forms are bound to (its
    signed-in session, or before that the sign-in form's own seed)."""
    return hmac.new(secret_key.encode(), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret_key: str, seed: str | None, given: str | None) -> bool:
    if not seed or not given:
        return False
    return hmac.compare_digest(csrf_token(secret_key, seed).encode(),
                               given.encode("utf-8", "surrogateescape"))


# No 0/O, 1/I/L: a code read off a screen and typed on a phone is typed right.
LINK_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LINK_CODE_LENGTH = 10  # 31**10 ≈ 8·10**14 codes


def new_link_code() -> str:
    """The one-time code an officer sends the bot to link their own chat,
    shown in two groups of five (`K7QMP-4XR2W`)."""
    code = "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))
    return f"{code[:5]}-{code[5:]}"


def normal_link_code(typed: str) -> str:
    """A linking code as typed — in any case, with spaces or dashes — in the
    one form its hash is kept in."""
    return "".join(ch for ch in typed.upper() if not ch.isspace() and ch not in "-‐‑–—_.")


def failure_delay(failures: int, base_seconds: float) -> float:
    """Each failed login answers more slowly: 0, 0, base, 2·base, 4·base … (≤ 8 s)."""
    if failures < 3 or base_seconds <= 0:
        return 0.0
    return float(min(8.0, base_seconds * 2 ** (failures - 3)))
