"""Avro single-object encoding: ``C3 01`` marker, 8-byte CRC-64-AVRO fingerprint, binary body.

Any Avro implementation can read these messages given the writer schema, which readers find
by fingerprint (see :mod:`borderbus.schema_registry`). fastavro does the binary work: about ten
times faster than the pure-Python ``avro`` package on this hot path (see ``make bench``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, cast

import fastavro

from borderbus.schemas import SchemaVersion

MARKER = b"\xc3\x01"
HEADER_LENGTH = len(MARKER) + 8

WriterLookup = Callable[[bytes], "dict[str, Any] | None"]
"""Finds a parsed writer schema by fingerprint, or None when nobody knows it."""


class DecodeError(Exception):
    """A record that cannot be decoded; ``reason`` is a short stable code for metrics and dead letters."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def encode(schema: SchemaVersion, record: dict[str, Any]) -> bytes:
    """Encode one record with ``schema`` as its writer schema."""
    buffer = io.BytesIO()
    buffer.write(MARKER)
    buffer.write(schema.fingerprint)
    fastavro.schemaless_writer(buffer, schema.parsed, record)
    return buffer.getvalue()


def read_fingerprint(data: bytes) -> bytes:
    """The writer's fingerprint, or DecodeError('bad_marker') when this is not a single-object message."""
    if len(data) < HEADER_LENGTH or data[:2] != MARKER:
        raise DecodeError("bad_marker", f"message does not start with C3 01 and a fingerprint (first bytes {data[:4].hex()})")
    return data[2:HEADER_LENGTH]


def decode(data: bytes, reader: SchemaVersion, writer_lookup: WriterLookup, *, plain: bool = False) -> dict[str, Any]:
    """Decode ``data`` into ``reader``'s shape, applying Avro schema resolution to the writer's schema.

    ``plain`` leaves uuids as their strings and timestamps as epoch milliseconds, as they travel: for a reader
    that wants them so, it saves making ``UUID`` and ``datetime`` objects, a third of decoding an agency event."""
    fp = read_fingerprint(data)
    writer = writer_lookup(fp)
    if writer is None:
        raise DecodeError("unknown_fingerprint", f"no schema is registered with fingerprint {fp.hex()}")
    reader_schema: dict[str, Any] | None = reader.parsed
    if plain:
        writer = _plain(fp, writer)
        reader_schema = None if fp == reader.fingerprint else _plain(reader.fingerprint, reader.parsed)
    body = io.BytesIO(data)
    body.seek(HEADER_LENGTH)
    try:
        record = fastavro.schemaless_reader(body, writer, reader_schema)
    except Exception as error:  # fastavro raises EOFError, ValueError, IndexError... on garbage
        raise DecodeError("corrupt_body", f"{type(error).__name__}: {error}") from error
    if body.tell() != len(data):
        raise DecodeError("corrupt_body", f"{len(data) - body.tell()} bytes left over after the record")
    if not isinstance(record, dict):
        raise DecodeError("corrupt_body", "body is not a record")
    return record


PLAIN_LOGICAL_TYPES = frozenset({"uuid", "timestamp-millis"})
_plain_schemas: dict[bytes, dict[str, Any]] = {}


def _plain(fp: bytes, schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` (parsed) without the logical types that :func:`decode` leaves ``plain``. The fingerprint does not
    cover logical types, but two schemas that differ only by them are the same without them."""
    plain = _plain_schemas.get(fp)
    if plain is None:
        plain = _plain_schemas[fp] = cast(dict[str, Any], fastavro.parse_schema(_without_logical_types(schema)))
    return plain


def _without_logical_types(schema: Any) -> Any:
    """A schema definition again (fastavro's own keys of a parsed schema, such as its named types, left out)."""
    if isinstance(schema, dict):
        return {
            key: _without_logical_types(value)
            for key, value in schema.items()
            if not ((key == "logicalType" and value in PLAIN_LOGICAL_TYPES) or key.startswith("__"))
        }
    if isinstance(schema, list):
        return [_without_logical_types(item) for item in schema]
    return schema
