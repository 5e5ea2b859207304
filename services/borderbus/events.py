"""From an agency's JSON to a record the Avro schema accepts, or a list of errors naming each field.

Validation collects every problem in a request rather than stopping at the first, so an agency
fixes a bad batch in one round trip. Identifiers go through :mod:`borderbus.identifiers` here and
nowhere else on the way in, under the agency's identifier policy (``agencies.yaml``):

- a subject that cannot be put in canonical form is dropped and reported as a warning (the 202
  lists it), so one bad identifier never costs the event its other subjects; an agency with
  ``invalid_subjects: refuse_event`` gets the whole event refused instead, and an event left with
  no valid subject is refused either way, naming each subject's field;
- a well-formed but unverifiable identifier is kept in canonical form with ``verified: false`` and
  counted in ``borderbus_identifiers_unverified_total{kind}``; ``identifier_policy: strict``
  treats it as invalid;
- an event may name at most ``max_subjects_per_event`` subjects (422 on ``subjects``);
- every string, array and number keeps to :mod:`borderbus.limits` (422 naming the field and the limit),
  and an event's encoded size to ``MAX_EVENT_BYTES`` (413), so nothing the broker would refuse is accepted.
"""

from __future__ import annotations

import math
import re
import reprlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from prometheus_client import Counter

from borderbus import identifiers, limits
from borderbus.catalogue import Agency, Catalogue
from borderbus.codec import encode
from borderbus.schemas import SchemaVersion

MAX_CLOCK_SKEW_MS = limits.MAX_CLOCK_SKEW_MS
MAX_EVENT_BYTES = limits.MAX_EVENT_BYTES
MAX_ERRORS = 200
"""Errors listed for one request; the rest are counted in a last entry, so a hostile body of a million
unknown fields cannot make an answer (and the memory behind it) larger than the body."""
TLP_ALIASES = {"AMBER+STRICT": "AMBER_STRICT"}
_TYPOLOGY = re.compile(r"^[A-Z][A-Z0-9_]{1,63}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_MISSING = object()

UNVERIFIED_IDENTIFIERS = Counter(
    "borderbus_identifiers_unverified_total",
    "Subjects kept in canonical form but marked verified: false (well formed, not verifiable), by kind; counted when prepared.",
    ["kind"],
)


@dataclass(frozen=True)
class FieldError:
    """One problem: which event of the request (``index``), which field, and why."""

    index: int | None
    field: str
    reason: str
    code: str = "invalid_field"

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason, "code": self.code}

    def __str__(self) -> str:
        where = f"event {self.index}: " if self.index is not None else ""
        return f"{where}{self.field}: {self.reason}"


class InvalidEvents(Exception):
    """Raised with every problem found; nothing from the request may be published."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(str(error) for error in errors[:5]) + (" ..." if len(errors) > 5 else ""))
        self.errors = errors


@dataclass(frozen=True)
class PreparedEvent:
    """A validated record and the Kafka key of its primary subject."""

    event_type: str
    record: dict[str, Any]
    key: str
    warnings: tuple[FieldError, ...] = ()  # subjects dropped under the agency's policy (reported in the 202)

    @property
    def event_id(self) -> str:
        return str(self.record["event_id"])


def warnings_body(events: list[PreparedEvent]) -> dict[str, Any]:
    """``{"warnings": [...]}`` for a 202 when subjects were dropped under the agency's policy, else nothing."""
    warnings = [warning.as_dict() for event in events for warning in event.warnings]
    return {"warnings": warnings} if warnings else {}


def to_millis(value: Any) -> int:
    """Epoch milliseconds from an int or an ISO-8601 string with a time zone."""
    if isinstance(value, bool):
        raise ValueError("must be epoch milliseconds or an ISO-8601 time with a time zone")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{shown(value)} is not an ISO-8601 time") from None
        if parsed.tzinfo is None:
            raise ValueError(f"{shown(value)} has no time zone; add 'Z' or an offset")
        try:
            return int(parsed.timestamp() * 1000)
        except (OverflowError, OSError):  # year 1 at +14:00 is before the epoch's range
            raise ValueError(f"{shown(value)} is outside the representable range") from None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    raise ValueError("must be epoch milliseconds or an ISO-8601 time with a time zone")


_BOUNDED = reprlib.Repr()
_BOUNDED.maxlevel = 3
_BOUNDED.maxlist = _BOUNDED.maxtuple = _BOUNDED.maxdict = _BOUNDED.maxset = 6
_BOUNDED.maxstring = _BOUNDED.maxother = 120


def shown(value: Any, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters: errors name a bad value without echoing megabytes of it.

    A container is shown through :mod:`reprlib`, which stops after a few items and levels: a full
    ``repr`` of a list that repeats one nested list thousands of times costs gigabytes before the cut.
    """
    text = repr(value) if isinstance(value, (str, bytes)) else _BOUNDED.repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def now_millis() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


class _Converter:
    """Walks an Avro schema and converts JSON values to what fastavro writes, collecting errors."""

    def __init__(self, names: dict[str, Any], index: int | None) -> None:
        self.names = names
        self.index = index
        self.errors: list[FieldError] = []

    def fail(self, path: str, reason: str, code: str = "invalid_field") -> object:
        self.errors.append(FieldError(self.index, path, reason, code))
        return _MISSING

    def _in_range(self, path: str, value: float, bounds: tuple[float, float] | None) -> bool:
        if bounds is None or bounds[0] <= value <= bounds[1]:
            return True
        self.fail(path, f"must be between {bounds[0]} and {bounds[1]}", "out_of_range")
        return False

    def convert(self, schema: Any, value: Any, path: str) -> Any:
        if isinstance(schema, str) and schema in self.names:
            schema = self.names[schema]
        if isinstance(schema, list):
            return self._union(schema, value, path)
        kind = schema if isinstance(schema, str) else schema["type"]
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if logical == "timestamp-millis":
            try:
                millis = to_millis(value)
            except ValueError as error:
                return self.fail(path, str(error))
            if not limits.MIN_TIMESTAMP_MS <= millis < limits.MAX_TIMESTAMP_MS:
                return self.fail(path, "must be a time from 1900 to 2199", "out_of_range")
            return millis
        if logical == "uuid":
            if not isinstance(value, str) or len(value) > 45:
                return self.fail(path, f"{shown(value)} is not a UUID")
            try:
                return str(uuid.UUID(value))
            except ValueError:
                return self.fail(path, f"{shown(value)} is not a UUID")
        if logical == "decimal":
            return self._decimal(schema, value, path)
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            return self.fail(path, f"schema type {kind} is not supported for JSON input")
        return handler(schema, value, path)

    def _union(self, branches: list[Any], value: Any, path: str) -> Any:
        if value is None:
            return None if "null" in branches else self.fail(path, "must not be null")
        for branch in (b for b in branches if b != "null"):
            trial = _Converter(self.names, self.index)
            converted = trial.convert(branch, value, path)
            if not trial.errors:
                return converted
            if len(branches) == 2:
                self.errors.extend(trial.errors)
                return _MISSING
        return self.fail(path, "does not match any allowed type")

    def _record(self, schema: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            return self.fail(path or "event", "must be a JSON object")
        known = {field["name"] for field in schema["fields"]}
        extras = sorted(set(value) - known)
        for extra in extras[:10]:
            name = extra if extra.strip() and len(extra) <= 40 else shown(extra, 40)  # "" or "  " still names something
            self.fail(_join(path, name), "is not a field of " + schema["name"], "unknown_field")
        if len(extras) > 10:
            self.fail(path or "event", f"has {len(extras) - 10} more fields that {schema['name']} does not have", "unknown_field")
        record = {}
        for field in schema["fields"]:
            name = field["name"]
            field_path = _join(path, name)
            if name in value:
                record[name] = self.convert(field["type"], value[name], field_path)
            elif "default" in field:
                record[name] = field["default"]
            else:
                self.fail(field_path, "is required")
        return record

    def _enum(self, schema: dict[str, Any], value: Any, path: str) -> Any:
        symbol = TLP_ALIASES.get(value, value) if isinstance(value, str) else value
        if symbol not in schema["symbols"]:
            return self.fail(path, f"{shown(value)} is not one of {', '.join(schema['symbols'])}")
        return symbol

    def _array(self, schema: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, list):
            return self.fail(path, "must be a JSON array")
        if len(value) > (most := limits.max_items(path)):
            return self.fail(path, f"has {len(value)} items; at most {most}", "too_many_items")
        return [self.convert(schema["items"], item, f"{path}[{i}]") for i, item in enumerate(value)]

    def _map(self, schema: dict[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            return self.fail(path, "must be a JSON object")
        if len(value) > (most := limits.max_items(path)):
            return self.fail(path, f"has {len(value)} entries; at most {most}", "too_many_items")
        return {key: self.convert(schema["values"], item, _join(path, key)) for key, item in value.items()}

    def _null(self, _schema: Any, value: Any, path: str) -> Any:
        return None if value is None else self.fail(path, "must be null")

    def _boolean(self, _schema: Any, value: Any, path: str) -> Any:
        return value if isinstance(value, bool) else self.fail(path, "must be true or false")

    def _int(self, _schema: Any, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.fail(path, "must be a whole number")
        if not limits.INT_RANGE[0] <= value <= limits.INT_RANGE[1]:
            return self.fail(path, "is outside the 32-bit range", "out_of_range")
        return value if self._in_range(path, value, limits.value_range(path)) else _MISSING

    def _long(self, _schema: Any, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            return self.fail(path, "must be a whole number")
        if not limits.LONG_RANGE[0] <= value <= limits.LONG_RANGE[1]:
            return self.fail(path, "is outside the 64-bit range", "out_of_range")
        return value if self._in_range(path, value, limits.value_range(path)) else _MISSING

    def _double(self, _schema: Any, value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.fail(path, "must be a number")
        try:
            number = float(value)
        except OverflowError:  # an integer beyond the double range
            return self.fail(path, "is outside the range of a double", "out_of_range")
        if not math.isfinite(number):
            return self.fail(path, "must be a finite number", "out_of_range")
        return number if self._in_range(path, number, limits.value_range(path)) else _MISSING

    _float = _double

    def _string(self, _schema: Any, value: Any, path: str) -> Any:
        if not isinstance(value, str):
            return self.fail(path, "must be a string")
        if len(value) > (most := limits.max_string(path)):
            return self.fail(path, f"has {len(value)} characters; at most {most}", "too_long")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate ("\ud800" in JSON): no UTF-8 form for Avro to write
                return self.fail(path, "is not valid Unicode text (it holds a lone surrogate)")
        return value

    def _decimal(self, schema: dict[str, Any], value: Any, path: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            return self.fail(path, 'must be a decimal number, preferably as a string such as "1250.00"')
        scale, precision = schema.get("scale", 0), schema["precision"]
        text = str(value)
        if len(text) > precision + 40:  # room for a sign, a point, zeros and an exponent
            return self.fail(path, f"has more than {precision} digits", "out_of_range")
        try:
            amount = Decimal(text)
            if not amount.is_finite():
                return self.fail(path, "must be a finite decimal number")
            exact = amount.quantize(Decimal(1).scaleb(-scale))
        except InvalidOperation:  # not a number, or an exponent no quantize can hold ("1e999999999")
            return self.fail(path, f"{shown(value)} is not a decimal number of at most {precision} digits")
        if amount != exact:
            return self.fail(path, f"must have at most {scale} decimal places")
        amount = exact
        if len(amount.as_tuple().digits) > precision:
            return self.fail(path, f"has more than {precision} digits")
        return amount


def _named_types(schema: Any, names: dict[str, Any] | None = None) -> dict[str, Any]:
    """Named types by name, so references by name resolve during conversion."""
    names = {} if names is None else names
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, names)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            names[schema["name"]] = schema
            if schema.get("namespace"):
                names[f"{schema['namespace']}.{schema['name']}"] = schema
        for field in schema.get("fields", []):
            _named_types(field["type"], names)
        for key in ("items", "values"):
            if key in schema:
                _named_types(schema[key], names)
    return names


def _largest_field(value: Any, path: str = "") -> str:
    """The path of the biggest string in a record: what to name when an event is too large."""
    best, best_size = path or "event", -1
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        child = f"{path}[{key}]" if isinstance(key, int) else _join(path, key)
        if isinstance(item, str | bytes):
            size, where = len(item), child
        elif isinstance(item, dict | list):
            where = _largest_field(item, child)
            size = len(str(item))
        else:
            continue
        if size > best_size:
            best, best_size = where, size
    return best


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


class EventPreparer:
    """Turns one agency's JSON events into validated records; one instance per publishing agency."""

    def __init__(self, catalogue: Catalogue, schemas: dict[str, SchemaVersion], agency: Agency) -> None:
        self.catalogue = catalogue
        self.schemas = schemas
        self.agency = agency
        self._names = {event_type: _named_types(schema.definition) for event_type, schema in schemas.items()}

    def prepare_batch(self, event_type: str, bodies: list[Any], *, first_index: int = 0) -> list[PreparedEvent]:
        """All events prepared, or InvalidEvents with every error; never a part of the batch."""
        self.check_event_type(event_type)
        prepared: list[PreparedEvent] = []
        errors: list[FieldError] = []
        seen_ids: dict[str, int] = {}
        now = now_millis()
        for offset, body in enumerate(bodies):
            index = first_index + offset
            try:
                event = self.prepare(event_type, body, index=index, now_ms=now)
            except InvalidEvents as invalid:
                errors.extend(invalid.errors)
                continue
            earlier = seen_ids.setdefault(event.event_id, index)
            if earlier != index:
                errors.append(FieldError(index, "event_id", f"repeats the event_id of event {earlier} in this request"))
            prepared.append(event)
        if len(errors) > MAX_ERRORS:
            more = len(errors) - MAX_ERRORS
            errors = [*errors[:MAX_ERRORS], FieldError(None, "body", f"{more} more errors not listed", "too_many_errors")]
        if errors:
            raise InvalidEvents(errors)
        return prepared

    def check_event_type(self, event_type: str) -> None:
        if event_type not in self.schemas:
            raise InvalidEvents(
                [
                    FieldError(
                        None,
                        "event_type",
                        f"unknown event type {event_type!r}; known: {', '.join(sorted(self.schemas))}",
                        "unknown_event_type",
                    )
                ]
            )
        if event_type not in self.agency.publishes:
            raise InvalidEvents(
                [
                    FieldError(
                        None,
                        "event_type",
                        f"agency {self.agency.code} may not publish {event_type}; "
                        f"it may publish {', '.join(self.agency.publishes)}",
                        "event_type_not_allowed",
                    )
                ]
            )

    def prepare(self, event_type: str, body: Any, *, index: int | None = None, now_ms: int | None = None) -> PreparedEvent:
        now = now_millis() if now_ms is None else now_ms
        if not isinstance(body, dict):
            raise InvalidEvents([FieldError(index, "event", "must be a JSON object")])
        body = dict(body)
        errors: list[FieldError] = []
        claimed = body.setdefault("agency", self.agency.code)
        if claimed != self.agency.code:
            errors.append(
                FieldError(
                    index,
                    "agency",
                    f"is {shown(claimed)} but this service publishes for {self.agency.code!r}; "
                    "an agency publishes only its own events",
                    "provenance_mismatch",
                )
            )
        body.setdefault("event_id", str(uuid.uuid4()))
        body.setdefault("reported_at", now)
        warnings: list[FieldError] = []
        subject_ids = self._normalise_subjects(body, index, errors, warnings)
        self._resolve_subject_refs(body, subject_ids, index, errors)
        revision = body.get("revises")
        if isinstance(revision, dict) and isinstance(revision.get("subjects"), list) and revision["subjects"]:
            revision = body["revises"] = dict(revision)
            self._normalise_subjects(revision, index, errors, warnings, where="revises.subjects")

        definition = self.schemas[event_type].definition
        converter = _Converter(self._names[event_type], index)
        record = converter.convert(definition, body, "")
        errors.extend(converter.errors)
        if not errors:
            errors.extend(self._check_meaning(event_type, record, index, now))
        if not errors:
            size = len(encode(self.schemas[event_type], record))
            if size > MAX_EVENT_BYTES:
                reason = f"makes the event {size} bytes once encoded; at most {MAX_EVENT_BYTES}"
                errors.append(FieldError(index, _largest_field(record), reason, "event_too_large"))
        if errors:
            raise InvalidEvents(errors)
        first = record["subjects"][0]
        for subject in record["subjects"]:
            if subject.get("verified") is False:
                UNVERIFIED_IDENTIFIERS.labels(subject["kind"]).inc()
        return PreparedEvent(event_type, record, identifiers.subject_key(first["kind"], first["id"]), tuple(warnings))

    def _normalise_subjects(
        self,
        body: dict[str, Any],
        index: int | None,
        errors: list[FieldError],
        warnings: list[FieldError],
        *,
        where: str = "subjects",
    ) -> list[str | None]:
        """Canonicalise each subject in place under the agency's policy; returns the canonical ids (None where one failed).

        A subject that fails is dropped with a warning, unless the agency refuses whole events, or
        no subject would be left (then every failure is an error).
        """
        subjects = body.get("subjects")
        if not isinstance(subjects, list) or not subjects:
            errors.append(FieldError(index, where, "must be a non-empty array: every event names at least one subject"))
            body.pop("subjects", None)
            return []
        limit = self.catalogue.max_subjects_per_event
        if len(subjects) > limit:
            reason = f"names {len(subjects)} subjects; one event may name at most {limit}"
            errors.append(FieldError(index, where, reason, "too_many_subjects"))
            body["subjects"] = []  # reported once: the schema check sees an empty array, not a missing field
            return []
        strict = self.agency.identifier_policy == "strict"
        canonical_ids: list[str | None] = []
        cleaned = []
        failures: list[FieldError] = []
        for position, subject in enumerate(subjects):
            path = f"{where}[{position}]"
            if not isinstance(subject, dict):
                errors.append(FieldError(index, path, "must be a JSON object with kind and id"))
                canonical_ids.append(None)
                continue
            subject = dict(subject)
            not_text = [name for name in ("kind", "id", "country") if not isinstance(subject.get(name, ""), str | None)]
            if not_text:
                failures.extend(FieldError(index, f"{path}.{name}", "must be a string") for name in not_text)
                canonical_ids.append(None)
                continue
            too_long = [
                name
                for name in ("kind", "id", "country")
                if isinstance(subject.get(name), str) and len(subject[name]) > limits.max_string(name)
            ]
            if too_long:
                for name in too_long:
                    reason = f"has {len(subject[name])} characters; at most {limits.max_string(name)}"
                    failures.append(FieldError(index, f"{path}.{name}", reason, "too_long"))
                canonical_ids.append(None)
                continue
            country = subject.pop("country", None)
            try:
                result = identifiers.canonicalise(
                    subject.get("kind", ""), subject.get("id", "") or "", country, strict=strict
                )
            except identifiers.IdentifierError as error:
                failures.append(FieldError(index, f"{path}.{error.field}", error.reason, "invalid_identifier"))
                canonical_ids.append(None)
                continue
            subject["id"], subject["verified"] = result.id, result.verified
            canonical_ids.append(subject["id"])
            cleaned.append(subject)
        if failures and (self.agency.invalid_subjects == "refuse_event" or not cleaned):
            errors.extend(failures)
        else:
            warnings.extend(FieldError(f.index, f.field, f"subject dropped: {f.reason}", "subject_dropped") for f in failures)
        body["subjects"] = cleaned
        return canonical_ids

    @staticmethod
    def _resolve_subject_refs(
        body: dict[str, Any], subject_ids: list[str | None], index: int | None, errors: list[FieldError]
    ) -> None:
        """``subject_index`` in subject_roles / counterparties becomes the canonical ``subject_id``, and
        ``removed_subject_indexes`` (a case update ending subjects' part in the case) ``removed_subject_ids``.

        A reference to a dropped subject goes with it: its role is left out, a counterparty keeps no subject id."""
        removed = body.pop("removed_subject_indexes", None)
        if removed is not None:
            if not isinstance(removed, list):
                errors.append(FieldError(index, "removed_subject_indexes", "must be an array of indexes into subjects"))
                removed = []
            elif len(removed) > (most := limits.max_items("removed_subject_indexes")):
                reason = f"has {len(removed)} items; at most {most}"
                errors.append(FieldError(index, "removed_subject_indexes", reason, "too_many_items"))
                removed = []
            ids = []
            for position, ref in enumerate(removed):
                if isinstance(ref, bool) or not isinstance(ref, int) or not 0 <= ref < len(subject_ids):
                    reason = f"must index into subjects (0..{len(subject_ids) - 1})"
                    errors.append(FieldError(index, f"removed_subject_indexes[{position}]", reason))
                elif subject_ids[ref] is not None:
                    ids.append(subject_ids[ref])
            body["removed_subject_ids"] = ids
        for list_name in ("subject_roles", "counterparties"):
            entries = body.get(list_name)
            if not isinstance(entries, list):
                continue
            entries = body[list_name] = list(entries)  # the caller's list stays as it was
            dropped: set[int] = set()
            for position, entry in enumerate(entries):
                if not isinstance(entry, dict) or "subject_index" not in entry:
                    continue
                entry = entries[position] = dict(entry)
                ref = entry.pop("subject_index")
                path = f"{list_name}[{position}].subject_index"
                if isinstance(ref, bool) or not isinstance(ref, int) or not 0 <= ref < len(subject_ids):
                    errors.append(FieldError(index, path, f"must index into subjects (0..{len(subject_ids) - 1})"))
                elif subject_ids[ref] is None and not errors:  # a subject dropped under the agency's policy
                    entry["subject_id"] = None
                    dropped.add(position)
                    continue
                # a placeholder keeps the schema check from reporting the same problem twice
                entry["subject_id"] = subject_ids[ref] if not errors and subject_ids[ref] is not None else ""
            if list_name == "subject_roles" and dropped:
                body[list_name] = [entry for position, entry in enumerate(entries) if position not in dropped]

    def _check_meaning(self, event_type: str, record: dict[str, Any], index: int | None, now: int) -> list[FieldError]:
        """Rules the schema cannot express."""
        errors: list[FieldError] = []

        def check(ok: bool, field: str, reason: str) -> None:
            if not ok:
                errors.append(FieldError(index, field, reason))

        check(record["occurred_at"] <= now + MAX_CLOCK_SKEW_MS, "occurred_at", "is in the future")
        check(record["occurred_at"] <= record["reported_at"] + MAX_CLOCK_SKEW_MS, "occurred_at", "is after reported_at")
        check(bool(record["source_system"].strip()), "source_system", "must not be empty")
        location = record.get("location")
        if location is not None:
            check(
                bool(_COUNTRY.match(location["country"])), "location.country", "must be an ISO 3166-1 alpha-2 code in upper case"
            )
            point = location.get("border_point")
            check(
                point is None or point in self.catalogue.border_points, "location.border_point", f"unknown border point {point!r}"
            )
            lat, lon = location.get("latitude"), location.get("longitude")
            check((lat is None) == (lon is None), "location", "latitude and longitude come together")
        subject_ids = {subject["id"] for subject in record["subjects"]}
        revision = record.get("revises")
        if revision is not None:
            same = str(revision["event_id"]) == str(record["event_id"])
            check(not same, "revises.event_id", "must be the id of an earlier event of this agency, not of this one")
            check(bool(revision["reason"].strip()), "revises.reason", "must say why the event is corrected or retracted")
        if event_type == "sighting":
            check(location is not None, "location", "a sighting must say where it happened")
        elif event_type == "finance-flag":
            check(record["amount"] > 0, "amount", "must be positive")
            check(bool(_CURRENCY.match(record["currency"])), "currency", "must be an ISO 4217 code such as USD")
            for position, typology in enumerate(record["typologies"]):
                check(bool(_TYPOLOGY.match(typology)), f"typologies[{position}]", "must be UPPER_SNAKE_CASE")
            for position, party in enumerate(record["counterparties"]):
                ref = party.get("subject_id")
                check(
                    ref is None or ref in subject_ids,
                    f"counterparties[{position}].subject_id",
                    "must be the id of one of this event's subjects",
                )
        elif event_type == "case-update":
            for position, role in enumerate(record["subject_roles"]):
                check(
                    role["subject_id"] in subject_ids,
                    f"subject_roles[{position}].subject_id",
                    "must be the id of one of this event's subjects",
                )
            for position, removed in enumerate(record.get("removed_subject_ids") or ()):
                check(removed in subject_ids, f"removed_subject_ids[{position}]", "must be one of this event's subjects")
            needs_warrant = record["status"] in ("WARRANT_ISSUED", "WARRANT_WITHDRAWN")
            check(
                not needs_warrant or bool(record.get("warrant_ref")),
                "warrant_ref",
                f"is required when status is {record['status']}",
            )
            check(
                bool(_COUNTRY.match(record["jurisdiction"])), "jurisdiction", "must be an ISO 3166-1 alpha-2 code in upper case"
            )
        elif event_type == "platform-report":
            check(
                record["platform"] in self.agency.platforms,
                "platform",
                f"{self.agency.code} reports for {', '.join(self.agency.platforms) or 'no platform'}",
            )
        return errors
