"""``borderbus publish``: publish a JSON-lines file as one agency, all or nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from tqdm import tqdm

from borderbus.events import FieldError, InvalidEvents
from borderbus_agency.publisher import AgencyPublisher

PROGRESS_THRESHOLD = 1000


def read_jsonl(path: Path) -> tuple[list[Any], list[int], list[FieldError]]:
    """The events of a file, the line each came from, and the lines that are not JSON (``index`` = line)."""
    bodies: list[Any] = []
    line_numbers: list[int] = []
    errors: list[FieldError] = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                bodies.append(json.loads(line))
                line_numbers.append(line_number)
            except json.JSONDecodeError as error:
                errors.append(FieldError(line_number, "line", f"is not valid JSON: {error.msg}", "invalid_json"))
    return bodies, line_numbers, errors


def publish_file(publisher: AgencyPublisher, event_type: str, path: Path, out: TextIO = sys.stdout) -> int:
    """Validate the whole file, then publish it in one transaction. Returns the process exit code."""
    bodies, line_numbers, errors = read_jsonl(path)
    if not errors:
        try:
            events = publisher.prepare(event_type, bodies)
        except InvalidEvents as invalid:
            errors = [
                FieldError(line_numbers[e.index] if e.index is not None else None, e.field, e.reason, e.code)
                for e in invalid.errors
            ]
    if errors:
        for error in errors:
            where = f"{path}:{error.index}: " if error.index is not None else f"{path}: "
            print(f"{where}{error.field}: {error.reason}", file=sys.stderr)
        print(f"nothing published: {len(errors)} problem(s) in {path}", file=sys.stderr)
        return 2
    with tqdm(total=len(events), unit="event", disable=len(events) < PROGRESS_THRESHOLD or not out.isatty(), file=out) as bar:
        already = publisher.publish_prepared(events, on_acknowledged=bar.update)
    topic = publisher.catalogue.ingest_topic(publisher.agency.code, event_type)
    print(f"published {len(events) - len(already)} {event_type} event(s) to {topic}", file=out)
    return 0
