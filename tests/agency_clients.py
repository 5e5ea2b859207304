"""Agency client credentials made for a test: a clients file with fresh tokens, like ``borderbus agency token`` makes."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from borderbus_agency.clients import AgencyClients, client_entry, new_client_token


def write_clients(path: Path, clients: Mapping[str, tuple[str, str]], revoked: frozenset[str] = frozenset()) -> dict[str, str]:
    """``{client: (agency, scope)}`` -> clients file at ``path``; returns ``{client: token}``.
    Clients named in ``revoked`` are written with ``revoked: true``."""
    tokens = {client: new_client_token() for client in clients}
    entries = []
    for client, (agency, scope) in clients.items():
        entry: dict[str, object] = dict(client_entry(agency, client, tokens[client], scope))
        if client in revoked:
            entry["revoked"] = True
        entries.append(entry)
    path.write_text(yaml.safe_dump({"clients": entries}, sort_keys=False))
    return tokens


def clients_for(
    path: Path, clients: Mapping[str, tuple[str, str]], known: set[str], revoked: frozenset[str] = frozenset()
) -> tuple[AgencyClients, dict[str, str]]:
    """The loaded directory and the tokens, for an in-process agency app."""
    tokens = write_clients(path, clients, revoked)
    return AgencyClients.load(path, known), tokens
