"""Bearer tokens: the one credential mechanism of every borderbus HTTP API (agency ingest, duty desk).

A token is 256 random bits shown once when issued; files keep only its SHA-256. The tokens are not
guessable, so a slow password hash would add latency to every request and no protection. A lookup
compares the digest with every entry using :func:`hmac.compare_digest`, so neither the answer's
timing nor which entry matched says anything about the token. Tokens never appear in a repr, a log
line or an error message: only the holder's name does.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from borderbus.catalogue import CatalogueError, read_yaml

P = TypeVar("P")

MISSING = "missing_token"
INVALID = "invalid_token"
REVOKED = "revoked_token"
RATE_LIMITED = "rate_limited"


def token_digest(token: str) -> str:
    """Hex SHA-256 of a token: what token files store."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(prefix: str) -> str:
    """A fresh token; the prefix (``bbo_`` officer, ``bba_`` agency client) lets secret scanners spot leaks."""
    return prefix + secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


@dataclass(frozen=True)
class Authentication(Generic[P]):
    """Who holds a token, or why nobody does (``failure``: missing_token, invalid_token, revoked_token,
    or rate_limited with ``retry_after`` seconds)."""

    principal: P | None
    failure: str | None = None
    retry_after: int | None = None


@dataclass(frozen=True)
class _Entry(Generic[P]):
    digest: str
    principal: P
    revoked: bool


class TokenDirectory(Generic[P]):
    """Token digests and who holds each; ``authenticate`` compares in constant time against every entry."""

    def __init__(self, entries: Iterable[tuple[str, P, bool]] = ()) -> None:
        self._entries = [_Entry(digest, principal, revoked) for digest, principal, revoked in entries]

    @classmethod
    def load(cls, path: Path, section: str, principal: Callable[[Mapping[str, Any], str], P]) -> TokenDirectory[P]:
        """Read ``section:`` of a YAML file: a list of entries, each with ``token_sha256``, optional
        ``revoked: true``, and whatever ``principal(entry, where)`` turns into its holder (raising
        :class:`CatalogueError` naming ``where`` and the field when something is wrong)."""
        raw = read_yaml(path).get(section) or []
        if not isinstance(raw, list):
            raise CatalogueError(f"{path}: {section}: expected a list of entries")
        seen: set[str] = set()
        entries: list[tuple[str, P, bool]] = []
        for index, item in enumerate(raw):
            where = f"{path}: {section}[{index}]"
            if not isinstance(item, dict):
                raise CatalogueError(f"{where}: expected a mapping")
            digest = str(item.get("token_sha256", "")).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise CatalogueError(f"{where}.token_sha256: expected 64 hex digits (the SHA-256 of the token)")
            if digest in seen:
                raise CatalogueError(f"{where}: the same token is listed twice")
            revoked = item.get("revoked", False)
            if not isinstance(revoked, bool):
                raise CatalogueError(f"{where}.revoked: expected true or false")
            seen.add(digest)
            entries.append((digest, principal(item, where), revoked))
        return cls(entries)

    def __len__(self) -> int:
        """Tokens still valid (revoked ones are kept only to answer them clearly)."""
        return sum(1 for entry in self._entries if not entry.revoked)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} valid, {len(self._entries) - len(self)} revoked)"

    def authenticate(self, token: str | None) -> Authentication[P]:
        if not token:
            return Authentication(None, MISSING)
        if not token.isascii():  # every token is ASCII; aiohttp hands other header bytes over as surrogates
            return Authentication(None, INVALID)
        digest = token_digest(token)
        found: _Entry[P] | None = None
        for entry in self._entries:  # no early exit: every lookup costs the same
            if hmac.compare_digest(entry.digest, digest):
                found = entry
        if found is None:
            return Authentication(None, INVALID)
        if found.revoked:
            return Authentication(None, REVOKED)
        return Authentication(found.principal)


def required_text(item: Mapping[str, Any], where: str, field: str) -> str:
    """A non-empty string field of a token-file entry, or a CatalogueError naming it."""
    value = item.get(field)
    if not isinstance(value, str) or not value.strip():
        raise CatalogueError(f"{where}.{field}: missing")
    return value.strip()
