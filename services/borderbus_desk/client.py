"""``borderbus alerts ...``: the duty desk from a terminal, over the same HTTP API as the console.

Going through the desk (not straight to Kafka) means the terminal sees exactly what the officer's
token allows, and actions get the same checks as in the console.
"""

from __future__ import annotations

import builtins
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any, TextIO

DEFAULT_DESK_URL = "http://127.0.0.1:8300"


class DeskClientError(Exception):
    pass


class DeskClient:
    def __init__(self, base_url: str, token: str) -> None:
        if not token:
            raise DeskClientError("no officer token: pass --token or set BORDERBUS_TOKEN")
        self.base_url = base_url.rstrip("/")
        self.token = token

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise DeskClientError(_describe(error.code, error.read())) from None
        except urllib.error.URLError as error:
            raise DeskClientError(f"cannot reach the desk at {self.base_url}: {error.reason}") from None

    def list(self, query: dict[str, str]) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self._request("GET", "/api/v1/alerts?" + urllib.parse.urlencode(query))["alerts"]
        return alerts

    def act(self, alert_id: str, action: str, note: str | None) -> dict[str, Any]:
        path = f"/api/v1/alerts/{urllib.parse.quote(alert_id, safe='')}/actions"
        result: dict[str, Any] = self._request("POST", path, {"action": action, "note": note})
        return result

    def silences(self, state: str | None = None) -> builtins.list[dict[str, Any]]:
        query = "?" + urllib.parse.urlencode({"state": state}) if state else ""
        found: builtins.list[dict[str, Any]] = self._request("GET", "/api/v1/silences" + query)["silences"]
        return found

    def add_silence(self, body: dict[str, Any]) -> dict[str, Any]:
        made: dict[str, Any] = self._request("POST", "/api/v1/silences", body)
        return made

    def expire_silence(self, silence_id: str, comment: str | None) -> dict[str, Any]:
        path = f"/api/v1/silences/{urllib.parse.quote(silence_id, safe='')}/expire"
        done: dict[str, Any] = self._request("POST", path, {"comment": comment} if comment else {})
        return done

    def audit(self, query: dict[str, str]) -> builtins.list[dict[str, Any]]:
        entries: builtins.list[dict[str, Any]] = self._request("GET", "/api/v1/audit?" + urllib.parse.urlencode(query))["entries"]
        return entries

    def stream(self, query: dict[str, str], *, reconnect: bool = True) -> Iterator[dict[str, Any]]:
        """Alert changes forever, reconnecting with Last-Event-ID so none is missed."""
        last_id: str | None = None
        while True:
            headers = {"Authorization": f"Bearer {self.token}", "Accept": "text/event-stream"}
            if last_id:
                headers["Last-Event-ID"] = last_id
            request = urllib.request.Request(self.base_url + "/api/v1/stream?" + urllib.parse.urlencode(query), headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    for event_id, data in sse_events(response):
                        last_id = event_id or last_id
                        view = json.loads(data)
                        if "alert_id" in view:  # silence events are for the console's banner
                            yield view
            except urllib.error.HTTPError as error:
                raise DeskClientError(_describe(error.code, error.read())) from None
            except (urllib.error.URLError, OSError) as error:
                if not reconnect:
                    raise DeskClientError(f"stream from {self.base_url} ended: {error}") from None
                print(f"stream interrupted ({error}); reconnecting", file=sys.stderr)
            time.sleep(1.0)


def sse_events(lines: Any) -> Iterator[tuple[str | None, str]]:
    event_id: str | None = None
    data: list[str] = []
    for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield event_id, "\n".join(data)
            event_id, data = None, []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "id":
                event_id = value
            elif name == "data":
                data.append(value)


def _describe(status: int, body: bytes) -> str:
    try:
        payload = json.loads(body)
        field = f" (field {payload['field']})" if payload.get("field") else ""
        return f"HTTP {status} {payload.get('error')}{field}: {payload.get('message')}"
    except (ValueError, AttributeError):
        return f"HTTP {status}: {body[:200]!r}"


def alert_change_line(view: dict[str, Any]) -> str:
    acted = view["actions"][-1] if view["actions"] else None
    by = f" by {acted['actor']} ({acted['agency']})" if acted else ""
    retraction = view.get("retraction")
    why = [
        f"retracted ({retraction['reason']}: {retraction['detail']}; events {', '.join(retraction['event_ids'])})"
        if retraction
        else None,
        view.get("reopened"),
        view.get("updated_since_acknowledged"),
    ]
    notes = "".join(f"  [{item}]" for item in why if item)
    return (
        f"{view['updated_at'][:19]}Z {view['severity']:<8} {view['status'].upper():<14}{by:<28} "
        f"{view['alert_id']}  v{view['version']} {view['rule']}: {view['summary'][:90]}{notes}"
    )


def tail(client: DeskClient, query: dict[str, str], *, as_json: bool, out: TextIO = sys.stdout) -> int:
    for view in client.stream(query):
        out.write((json.dumps(view, separators=(",", ":")) if as_json else alert_change_line(view)) + "\n")
        out.flush()
    return 0


def silence_line(view: dict[str, Any]) -> str:
    matchers = " ".join(
        f"{name}={','.join(value) if isinstance(value, list) else value}" for name, value in view["matchers"].items() if value
    )
    soon = "  [expires soon]" if view.get("expires_soon") else ""
    return (
        f"{view['silence_id']}  {view['state']:<8} v{view['version']} {view['starts_at'][:19]}Z -> {view['ends_at'][:19]}Z "
        f"by {view['created_by']} ({view['agency']})  {matchers}  # {view['comment']}{soon}"
    )


def audit_line(entry: dict[str, Any]) -> str:
    about = entry.get("alert_id") or entry.get("silence_id") or ""
    return (
        f"{entry['occurred_at'][:23]}Z {entry['officer']} ({entry.get('agency') or '-'}) {entry['what']:<16} {about}  "
        f"{entry['outcome']}  from {entry['client_address']}  {entry['detail']}"
    )
