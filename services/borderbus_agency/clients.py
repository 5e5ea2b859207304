"""An agency service's callers: client credentials (bearer tokens) declared in ``agency-clients.yaml``.

Each entry names the agency, the client system (``anpr-dov-2``), the token's SHA-256 and optionally
``revoked: true``; ``scope`` is ``publish`` (the default) or ``metrics`` (may read ``/metrics``
only, so a scraper's credential cannot publish). A metrics entry may name agency ``*`` so one
Prometheus credential scrapes every agency service. ``borderbus agency token`` issues entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borderbus.catalogue import CatalogueError
from borderbus.tokens import Authentication, TokenDirectory, new_token, required_text, token_digest

TOKEN_PREFIX = "bba_"
SCOPES = ("publish", "metrics")
ANY_AGENCY = "*"


@dataclass(frozen=True)
class AgencyClient:
    agency: str
    client: str
    scope: str = "publish"

    def may(self, agency: str, scope: str) -> bool:
        return self.scope == scope and (self.agency == agency or (scope == "metrics" and self.agency == ANY_AGENCY))


def new_client_token() -> str:
    return new_token(TOKEN_PREFIX)


def client_entry(agency: str, client: str, token: str, scope: str = "publish") -> dict[str, str]:
    """The clients-file entry for a token (what ``borderbus agency token`` prints): the hash, never the token."""
    entry = {"agency": agency, "client": client, "token_sha256": token_digest(token)}
    if scope != "publish":
        entry["scope"] = scope
    return entry


class AgencyClients:
    """The declared client credentials of every agency (one file serves all agency services)."""

    def __init__(self, directory: TokenDirectory[AgencyClient]) -> None:
        self._directory = directory

    @classmethod
    def load(cls, path: Path, known_agencies: set[str]) -> AgencyClients:
        def parse(item: Mapping[str, Any], where: str) -> AgencyClient:
            agency = required_text(item, where, "agency")
            scope = str(item.get("scope", "publish"))
            if scope not in SCOPES:
                raise CatalogueError(f"{where}.scope: expected one of {', '.join(SCOPES)}, not {scope!r}")
            if agency not in known_agencies and not (agency == ANY_AGENCY and scope == "metrics"):
                raise CatalogueError(f"{where}.agency: unknown agency {agency!r}")
            return AgencyClient(agency, required_text(item, where, "client"), scope)

        return cls(TokenDirectory.load(path, "clients", parse))

    def __len__(self) -> int:
        return len(self._directory)

    def __repr__(self) -> str:
        return f"AgencyClients({self._directory!r})"

    def authenticate(self, token: str | None) -> Authentication[AgencyClient]:
        return self._directory.authenticate(token)
