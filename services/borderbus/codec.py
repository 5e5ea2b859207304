"""Avro single-object encoding: ``C3 01`` marker, 8-byte CRC-64-AVRO fingerprint, binary body.

Any Avro implementation can read these messages given the writer schema, which readers find
by fingerprint (see :mod:`borderbus.schema_registry`). fastavro does the binary work: about ten
times faster than the pure-Python ``avro`` package on this hot path (see ``make bench``).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

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


def decode(data: bytes, reader: SchemaVersion, writer_lookup: WriterLookup) -> dict[str, Any]:
    """Decode ``data`` into ``reader``'s shape, applying Avro schema resolution to the writer's schema."""
    fp = read_fingerprint(data)
    writer = writer_lookup(fp)
    if writer is None:
        raise DecodeError("unknown_fingerprint", f"no schema is registered with fingerprint {fp.hex()}")
    body = io.BytesIO(data)
    body.seek(HEADER_LENGTH)
    try:
        record = fastavro.schemaless_reader(body, writer, reader.parsed)
    except Exception as error:  # fastavro raises EOFError, ValueError, IndexError... on garbage
        raise DecodeError("corrupt_body", f"{type(error).__name__}: {error}") from error
    if body.tell() != len(data):
        raise DecodeError("corrupt_body", f"{len(data) - body.tell()} bytes left over after the record")
    if not isinstance(record, dict):
        raise DecodeError("corrupt_body", "body is not a record")
    return record
