"""Officers and their API tokens. Only SHA-256 digests of tokens are stored: the tokens are random
(256 bits), so a slow password hash would add nothing but latency to every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from borderbus.catalogue import CatalogueError, read_yaml


@dataclass(frozen=True)
class Officer:
    officer_id: str
    agency: str
    name: str | None = None


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return "bbo_" + secrets.token_urlsafe(32)


def officer_entry(officer_id: str, agency: str, token: str) -> dict[str, str]:
    """The officers-file entry for a token (what ``borderbus desk token`` prints)."""
    return {"id": officer_id, "agency": agency, "token_sha256": token_digest(token)}


class OfficerDirectory:
    """Looks an officer up by token, comparing digests in constant time."""

    def __init__(self, entries: dict[str, Officer]) -> None:
        self._by_digest = entries

    @classmethod
    def load(cls, path: Path, known_agencies: set[str]) -> OfficerDirectory:
        raw = read_yaml(path).get("officers") or []
        entries: dict[str, Officer] = {}
        for index, item in enumerate(raw):
            where = f"{path}: officers[{index}]"
            digest = str(item.get("token_sha256", "")).lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise CatalogueError(f"{where}.token_sha256: expected 64 hex digits (the SHA-256 of the token)")
            if item.get("agency") not in known_agencies:
                raise CatalogueError(f"{where}.agency: unknown agency {item.get('agency')!r}")
            if not item.get("id"):
                raise CatalogueError(f"{where}.id: missing")
            if digest in entries:
                raise CatalogueError(f"{where}: the same token is listed twice")
            entries[digest] = Officer(str(item["id"]), str(item["agency"]), item.get("name"))
        return cls(entries)

    def __len__(self) -> int:
        return len(self._by_digest)

    def authenticate(self, token: str) -> Officer | None:
        digest = token_digest(token)
        for known, officer in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return officer
        return None
