"""Officers and their API tokens, through the bus's one token mechanism (:mod:`borderbus.tokens`):
only SHA-256 digests are stored, entries may be ``revoked: true``, lookups are constant-time.

An entry may name the officer's preferred console language (``locale: ar``); the console starts in
it and the officer may switch (kept in their browser).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderbus import tokens
from borderbus.catalogue import CatalogueError
from borderbus.tokens import Authentication, TokenDirectory, required_text, token_digest

TOKEN_PREFIX = "bbo_"
LOCALES = ("en", "ar")
"""Console languages with complete catalogues (``console/i18n/<locale>.json``); English is the default."""
ROLES = ("silence", "supervisor")
"""``silence``: may create, edit and expire their own silences; ``supervisor``: may also change any silence of
their agency and read the audit trail of their agency's officers. Every officer may read alerts and act."""


@dataclass(frozen=True)
class Officer:
    officer_id: str
    agency: str
    name: str | None = None
    locale: str = "en"
    roles: frozenset[str] = frozenset()


def new_token() -> str:
    return tokens.new_token(TOKEN_PREFIX)


def officer_entry(
    officer_id: str, agency: str, token: str, locale: str | None = None, *, roles: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """The officers-file entry for a token (what ``borderbus desk token`` prints)."""
    entry: dict[str, Any] = {"id": officer_id, "agency": agency, "token_sha256": token_digest(token)}
    if locale is not None:
        entry["locale"] = locale
    if roles:
        entry["roles"] = sorted(set(roles))
    return entry


class OfficerDirectory:
    """Looks an officer up by token (``officers:`` in ``officers.yaml``)."""

    def __init__(self, directory: TokenDirectory[Officer]) -> None:
        self._directory = directory

    @classmethod
    def load(cls, path: Path, known_agencies: set[str]) -> OfficerDirectory:
        def parse(item: Mapping[str, Any], where: str) -> Officer:
            if item.get("agency") not in known_agencies:
                raise CatalogueError(f"{where}.agency: unknown agency {item.get('agency')!r}")
            name, locale = item.get("name"), item.get("locale", "en")
            if locale not in LOCALES:
                raise CatalogueError(f"{where}.locale: {locale!r} is not one of {', '.join(LOCALES)}")
            roles = item.get("roles") or []
            if not isinstance(roles, list) or any(role not in ROLES for role in roles):
                raise CatalogueError(f"{where}.roles: expected a list of {', '.join(ROLES)}")
            return Officer(
                required_text(item, where, "id"), str(item["agency"]), str(name) if name else None, str(locale), frozenset(roles)
            )

        return cls(TokenDirectory.load(path, "officers", parse))

    def __len__(self) -> int:
        return len(self._directory)

    def __repr__(self) -> str:
        return f"OfficerDirectory({self._directory!r})"

    def check(self, token: str | None) -> Authentication[Officer]:
        """The officer, or why not (missing, invalid or revoked token)."""
        return self._directory.authenticate(token)

    def authenticate(self, token: str | None) -> Officer | None:
        return self.check(token).principal
