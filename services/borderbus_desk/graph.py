"""The network graph of one alert: its subjects, the links its evidence made, and the other open alerts
that touch those subjects.

An evidence event that names several subjects links every pair of them (the correlator links subjects
the same way), so each link says which events made it. Other alerts come in only through a subject
they share with this one, and only those the caller passes in: the desk passes alerts the officer may
see, so the graph is no way round visibility.

Pure: alert records (timestamps in epoch milliseconds, as the desk keeps them) in, a JSON-able dict out.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

MAX_OTHER_ALERTS = 50


def subject_key(subject: Mapping[str, Any]) -> str:
    """``KIND:canonical-id``, the form evidence items name subjects in."""
    return f"{subject['kind']}:{subject['id']}"


def _kind_and_id(key: str) -> tuple[str, str]:
    kind, _, canonical = key.partition(":")
    return kind, canonical


def subjects_of(record: Mapping[str, Any]) -> set[str]:
    """Every subject an alert is about or its evidence names."""
    named = {subject_key(subject) for subject in record["subjects"]}
    for item in record["evidence"]:
        named.update(item.get("subjects") or ())
    return named


def build_graph(record: Mapping[str, Any], others: Iterable[tuple[Mapping[str, Any], str]]) -> dict[str, Any]:
    """The graph of the alert ``record``; ``others`` are ``(record, desk status)`` of the open alerts the
    officer may see (this alert among them or not)."""
    about = {subject_key(subject) for subject in record["subjects"]}
    evidence = sorted(record["evidence"], key=lambda item: (item["occurred_at"], item["event_id"]))
    named_by: dict[str, list[str]] = {key: [] for key in about}
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for item in evidence:
        named = sorted(set(item.get("subjects") or ()))
        for key in named:
            named_by.setdefault(key, []).append(item["event_id"])
        for pair in itertools.combinations(named, 2):
            pairs.setdefault(pair, []).append(
                {key: item[key] for key in ("event_id", "event_type", "agency", "occurred_at", "border_point")}
            )
    nodes: list[dict[str, Any]] = []
    for key in sorted(named_by):
        kind, canonical = _kind_and_id(key)
        nodes.append(
            {"id": key, "type": "subject", "kind": kind, "label": canonical, "in_alert": key in about, "evidence": named_by[key]}
        )
    links: list[dict[str, Any]] = [
        {"source": a, "target": b, "type": "evidence", "evidence": items} for (a, b), items in sorted(pairs.items())
    ]
    touching = []
    for other, status in others:
        if other["alert_id"] == record["alert_id"]:
            continue
        shared = sorted(subjects_of(other) & set(named_by))
        if shared:
            touching.append((other, status, shared))
    touching.sort(key=lambda found: (-int(found[0]["updated_at"]), found[0]["alert_id"]))
    for other, status, shared in touching[:MAX_OTHER_ALERTS]:
        node_id = f"alert:{other['alert_id']}"
        nodes.append(
            {
                "id": node_id,
                "type": "alert",
                "alert_id": other["alert_id"],
                "rule": other["rule"],
                "severity": other["severity"],
                "status": status,
                "label": other["alert_id"],
            }
        )
        links += [{"source": node_id, "target": key, "type": "alert"} for key in shared]
    return {
        "alert_id": record["alert_id"],
        "nodes": nodes,
        "links": links,
        "other_alerts": len(touching),
        "truncated": len(touching) > MAX_OTHER_ALERTS,
    }
