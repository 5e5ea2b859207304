"""What every borderbus HTTP service does the same way: limit failed authentication per client
address, set security headers, and keep an access log that never holds a credential.

The access log names the path only (no query string, no headers), so a token a client wrongly put
in a URL or sent in a header never reaches a log line; it names the caller by the name their token
was issued to.
"""

from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from borderbus.tokens import MISSING, RATE_LIMITED, Authentication, P, bearer_token

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CALLER_KEY = web.RequestKey("caller", str)
"""``request[CALLER_KEY]``: who the request's token was issued to (set by each service's auth), for the access log."""

access_log = logging.getLogger("borderbus.access")

API_HEADERS: Mapping[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}
"""For JSON/metrics services: nothing of theirs is ever to be rendered or framed."""

CONSOLE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CONSOLE_HEADERS: Mapping[str, str] = {
    **API_HEADERS,
    "Content-Security-Policy": CONSOLE_CSP,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
"""For a service that serves a web page: scripts and styles from its own files only (no inline code)."""


class FailedAuthLimiter:
    """At most ``limit`` failed authentications per client address in a sliding ``window``; then the
    address is refused (429) until its oldest failure leaves the window.

    While an address is limited, every attempt from it is refused before its token is checked, so a
    guess cannot be confirmed by the answer. Bounded memory: the least recently failing addresses are
    forgotten beyond ``max_addresses``.
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        *,
        max_addresses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.window, self.max_addresses, self.clock = limit, window, max_addresses, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until ``address`` may try again, or None if it may now."""
        failures = self._failures.get(address)
        if failures is None:
            return None
        now = self.clock()
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil(failures[0] + self.window - now))

    def record_failure(self, address: str) -> None:
        failures = self._failures.pop(address, None) or deque(maxlen=self.limit)
        failures.append(self.clock())
        self._failures[address] = failures
        while len(self._failures) > self.max_addresses:
            self._failures.popitem(last=False)


def authenticate_request(
    request: web.Request, authenticate: Callable[[str | None], Authentication[P]], limiter: FailedAuthLimiter
) -> Authentication[P]:
    """The caller of ``request`` by its bearer token, through ``limiter``: a limited address is
    refused (``rate_limited``) before its token is looked at; a wrong or revoked token counts
    against its address, a missing one (no guess) does not."""
    address = client_address(request)
    wait = limiter.retry_after(address)
    if wait is not None:
        return Authentication(None, RATE_LIMITED, wait)
    result = authenticate(bearer_token(request.headers.get("Authorization")))
    if result.principal is None and result.failure != MISSING:
        limiter.record_failure(address)
    return result


def client_address(request: web.Request) -> str:
    """The peer's address (behind a reverse proxy, configure it to pass the real peer: see README)."""
    return request.remote or "unknown"


def security_headers(headers: Mapping[str, str]) -> Callable[[web.Request, web.StreamResponse], Awaitable[None]]:
    """An ``on_response_prepare`` hook: runs for every response, errors, static files and streams included."""

    async def add(_request: web.Request, response: web.StreamResponse) -> None:
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    return add


@web.middleware
async def access_logging(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One line per request: address, method, path (never the query), status, caller, duration."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as error:
        status = error.status
        raise
    finally:
        access_log.info(
            "%s %s %s %d %s %.1fms",
            client_address(request),
            request.method,
            request.path,
            status,
            request.get(CALLER_KEY, "-"),
            (time.perf_counter() - started) * 1000,
        )
