"""A small synchronous Chrome DevTools Protocol driver for headless Chromium, so browser tests need no new dependency.

One asyncio loop runs in a background thread holding the page's websocket; the test calls plain methods.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = os.environ.get("BORDERBUS_CHROMIUM", "/usr/bin/chromium")


class BrowserError(RuntimeError):
    """A CDP command failed, JavaScript threw, or the browser did not start."""


class Page:
    """One tab, driven over its own DevTools websocket."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse
    ) -> None:
        self._loop, self._session, self._ws = loop, session, ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []  # console output and uncaught errors, for failure messages
        self.clicks: list[str] = []  # where each click landed, for failure messages
        self._reader = asyncio.run_coroutine_threadsafe(self._read(), loop)

    async def _read(self) -> None:
        async for message in self._ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            payload = json.loads(message.data)
            if "id" in payload and (future := self._pending.pop(payload["id"], None)) is not None and not future.done():
                future.set_result(payload)
            elif payload.get("method") == "Runtime.consoleAPICalled":
                args = payload["params"]["args"]
                self.console.append(
                    f"{payload['params']['type']}: " + " ".join(str(a.get("value", a.get("description"))) for a in args)
                )
            elif payload.get("method") == "Runtime.exceptionThrown":
                details = payload["params"]["exceptionDetails"]
                self.console.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(BrowserError("DevTools connection closed"))

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        command_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[command_id] = future
        await self._ws.send_str(json.dumps({"id": command_id, "method": method, "params": params}))
        return await future

    def send(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        """Run one CDP command and return its result."""
        answer = asyncio.run_coroutine_threadsafe(self._call(method, params), self._loop).result(timeout)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` (promises awaited); a JavaScript exception raises BrowserError."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"{expression!r} threw: {details.get('exception', {}).get('description', details.get('text'))}")
        return result["result"].get("value")

    def goto(self, url: str, timeout: float = 30) -> None:
        """Navigate and wait until the new document has loaded (the marker tells it from the old one)."""
        self.evaluate("window.__cdpOldDocument = true")
        answer = self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise BrowserError(f"cannot open {url}: {answer['errorText']}")
        self.wait_for("!window.__cdpOldDocument && document.readyState === 'complete'", timeout)

    def wait_for(self, predicate: str, timeout: float = 30, interval: float = 0.1) -> Any:
        """Poll the JavaScript ``predicate`` until it is truthy and return its value."""
        deadline = time.monotonic() + timeout
        value: Any = None
        while time.monotonic() < deadline:
            value = self.evaluate(predicate)
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(
            f"after {timeout} s still falsy ({value!r}): {predicate}\nbrowser console:\n"
            + "\n".join(self.console[-20:])
            + "\nlast clicks:\n"
            + "\n".join(self.clicks[-5:])
            + "\nstatus lines:\n"
            + self._status_lines()
        )

    def _status_lines(self) -> str:
        """What the page's status regions say (what a screen reader would announce): the page's own account of a
        failure the test only sees as a timeout."""
        try:
            lines = self.evaluate(
                """[...document.querySelectorAll('[role=status], [aria-live]')]
                .filter((e) => e.textContent.trim()).map((e) => `#${e.id}: ${e.textContent.trim()}`)"""
            )
        except (BrowserError, TimeoutError) as error:
            return f"(could not read them: {error})"
        return "\n".join(lines or [])

    def _aim(self, selector: str) -> tuple[float, float]:
        """Scroll the element into view, return its centre, and arm a one-shot guard for the click aimed at it.

        A live page moves under the pointer (a row arriving above the target pushes it down between aiming and
        pressing). The guard, first in the capture phase, swallows a click whose point is no longer inside the
        element, so nothing else gets it and ``click`` aims again. A click inside the element's box that lands on
        something covering it goes through: that is what a user's click would do.
        """
        box = self.evaluate(
            f"""(() => {{ const selector = {json.dumps(selector)}; const e = document.querySelector(selector);
            if (!e) return null;
            e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect();
            if (window.__cdpGuard) window.removeEventListener('click', window.__cdpGuard, true);
            window.__cdpClick = 'none';
            window.__cdpGuard = (event) => {{
              window.removeEventListener('click', window.__cdpGuard, true);
              const now = document.querySelector(selector);
              if (now && now.contains(event.target)) {{ window.__cdpClick = 'hit'; return; }}
              const b = now && now.getBoundingClientRect();
              const inside = b && event.clientX >= b.left && event.clientX <= b.right
                && event.clientY >= b.top && event.clientY <= b.bottom;
              if (inside) {{ window.__cdpClick = 'covered'; return; }}
              event.stopImmediatePropagation(); event.preventDefault();
              window.__cdpClick = 'moved';
            }};
            window.addEventListener('click', window.__cdpGuard, true);
            return [r.left + r.width / 2, r.top + r.height / 2]; }})()"""
        )
        if box is None:
            raise BrowserError(f"no element matches {selector!r}")
        return float(box[0]), float(box[1])

    def click(self, selector: str, attempts: int = 5) -> None:
        """A real mouse click at the element's centre (a disabled or covered element does not get it).

        If the element moved away before the click arrived, the stray click is swallowed and the element aimed at
        again, up to ``attempts`` times; every outcome is kept in ``clicks`` for failure messages.
        """
        for _ in range(attempts):
            x, y = self._aim(selector)
            for kind in ("mousePressed", "mouseReleased"):
                self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
            outcome = self.evaluate(
                "(() => { const outcome = window.__cdpClick;"
                " if (window.__cdpGuard) window.removeEventListener('click', window.__cdpGuard, true);"
                " window.__cdpGuard = null; return outcome; })()"
            )
            self.clicks.append(f"{selector} at ({x:.0f}, {y:.0f}): {outcome}")
            if outcome != "moved":
                return
        raise BrowserError(f"{selector!r} moved away from the pointer {attempts} times running")

    def type(self, selector: str, text: str) -> None:
        """Focus the element by clicking it, then type ``text`` as keyboard input."""
        self.click(selector)
        self.send("Input.insertText", text=text)

    def press(self, key: str, code: str | None = None) -> None:
        """One real key press (keydown, char, keyup) to whatever has the focus, e.g. ``press("j")``."""
        text = key if len(key) == 1 else ""
        base = {"key": key, "code": code or (f"Key{key.upper()}" if key.isalpha() and len(key) == 1 else key)}
        self.send("Input.dispatchKeyEvent", type="keyDown" if text else "rawKeyDown", text=text, **base)
        self.send("Input.dispatchKeyEvent", type="keyUp", **base)

    def screenshot(self, path: Path | str) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))
        return target


class Browser:
    """Headless Chromium in its own process group and throwaway profile."""

    def __init__(self, process: subprocess.Popen[bytes], profile: Path, port: int) -> None:
        self.process, self.profile, self.port = process, profile, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="cdp", daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = None
        self.pages: list[Page] = []

    @classmethod
    def launch(cls, *, width: int = 1680, height: int = 1050, timeout: float = 30) -> Browser:
        if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
            raise BrowserError(f"Chromium not found at {CHROMIUM}: run `bash ops/setup/system-packages.sh` (or `make tools`)")
        profile = Path(tempfile.mkdtemp(prefix="borderbus-chromium-"))
        flags = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-crash-reporter",
            "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}", "--hide-scrollbars",
            "about:blank",
        ]  # fmt: skip
        log = (profile / "chromium.log").open("wb")
        process = subprocess.Popen([CHROMIUM, *flags], stdout=log, stderr=log, start_new_session=True)
        active_port = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (active_port.exists() and active_port.read_text().count("\n") >= 1):
            if process.poll() is not None or time.monotonic() > deadline:
                output = (profile / "chromium.log").read_text(errors="replace")[-2000:]
                process.kill()
                shutil.rmtree(profile, ignore_errors=True)
                raise BrowserError(f"Chromium did not open its DevTools port (exit {process.poll()}):\n{output}")
            time.sleep(0.05)
        return cls(process, profile, int(active_port.read_text().splitlines()[0]))

    def new_page(self) -> Page:
        """Open a tab and attach to it over its own websocket."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as response:
            ws_url = json.loads(response.read())["webSocketDebuggerUrl"]

        async def connect() -> Page:
            if self._session is None:
                self._session = aiohttp.ClientSession()
            ws = await self._session.ws_connect(ws_url, max_msg_size=0)
            return Page(self._loop, self._session, ws)

        page = asyncio.run_coroutine_threadsafe(connect(), self._loop).result(10)
        page.send("Runtime.enable")
        page.send("Page.enable")
        self.pages.append(page)
        return page

    def close(self) -> None:
        """Kill Chromium with its renderer and helper processes, and delete the profile."""
        if self._session is not None:
            asyncio.run_coroutine_threadsafe(self._session.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        for sig in (signal.SIGTERM, signal.SIGKILL):  # the group holds the renderers and zygotes too
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # children are reaped by init a moment after the leader
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
