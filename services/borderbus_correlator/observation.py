"""From a decoded agency event (the Avro record) to the :class:`Observation` rules read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from borderbus.identifiers import subject_key
from borderbus_correlator.model import Observation


def _millis(value: Any) -> int:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else int(value)


def _facts(event_type: str, record: dict[str, Any], keys_by_id: dict[str, str]) -> dict[str, Any]:
    if event_type == "sighting":
        return {"method": record["method"]}
    if event_type == "finance-flag":
        return {
            "risk_score": record["risk_score"],
            "channel": record["channel"],
            "amount": str(record["amount"]),
            "currency": record["currency"],
        }
    if event_type == "case-update":
        return {
            "case_id": record["case_id"],
            "status": record["status"],
            "network_id": record.get("network_id"),
            "warrant_ref": record.get("warrant_ref"),
            "roles": {keys_by_id[r["subject_id"]]: r["role"] for r in record["subject_roles"] if r["subject_id"] in keys_by_id},
            "removed": [keys_by_id[i] for i in record.get("removed_subject_ids") or () if i in keys_by_id],
        }
    if event_type == "platform-report":
        return {"platform": record["platform"], "content_kind": record["content_kind"], "content_ref": record["content_ref"]}
    return {}


def observe(agency: str, event_type: str, record: dict[str, Any]) -> Observation:
    """The correlation view of one event; subjects become subject keys, primary first, without repeats."""
    keys_by_id: dict[str, str] = {}
    for subject in record["subjects"]:
        keys_by_id.setdefault(subject["id"], subject_key(subject["kind"], subject["id"]))
    location = record.get("location") or {}
    revision = record.get("revises") or {}
    return Observation(
        event_id=str(record["event_id"]),
        agency=agency,
        event_type=event_type,
        occurred_at_ms=_millis(record["occurred_at"]),
        reported_at_ms=_millis(record["reported_at"]),
        tlp=record["tlp"],
        subjects=tuple(dict.fromkeys(keys_by_id.values())),
        border_point=location.get("border_point"),
        latitude=location.get("latitude"),
        longitude=location.get("longitude"),
        facts=_facts(event_type, record, keys_by_id),
        revises=str(revision["event_id"]) if revision else None,
        revision=revision.get("action") if revision else None,
        revision_reaches=tuple(
            dict.fromkeys(subject_key(s["kind"], s["id"]) for s in revision.get("subjects") or ()) if revision else ()
        ),
    )
