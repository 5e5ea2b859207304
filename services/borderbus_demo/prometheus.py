"""A real Prometheus for the demo and the tests: the bus's targets, the repo's rules, a private TSDB.

``PrometheusProcess`` writes a ``prometheus.yml`` (one scrape job per entry of ``targets``) and a copy of
``ops/prometheus/rules/borderbus.yml`` into its instance folder, runs the Debian ``prometheus`` binary on
127.0.0.1 with a short scrape interval, and reads results back through the HTTP API. Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import yaml

from borderbus.config import REPO_ROOT

RULES_FILE = REPO_ROOT / "ops" / "prometheus" / "rules" / "borderbus.yml"
DEFAULT_BINARY = "/usr/bin/prometheus"
_STOP_TIMEOUT_S = 30.0


class PrometheusError(RuntimeError):
    """Prometheus could not be started, or its API answered with an error."""


def find_prometheus() -> str:
    """The prometheus binary: Debian's, else the one on PATH."""
    if os.access(DEFAULT_BINARY, os.X_OK):
        return DEFAULT_BINARY
    found = shutil.which("prometheus")
    if found is None:
        raise PrometheusError("prometheus not found: install it with `make system-packages` (Debian package prometheus)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _duration(seconds: float) -> str:
    """Prometheus duration syntax, in milliseconds so sub-second intervals work."""
    return f"{max(1, round(seconds * 1000))}ms"


class PrometheusProcess:
    """One Prometheus server scraping ``targets`` (job name -> ``host:port`` list) with the repo's rules.

    ``start()`` returns once ``/-/ready`` answers (``startup_seconds`` says how long that took);
    ``stop()`` ends only this process. Usable as a context manager.
    """

    def __init__(
        self,
        targets: Mapping[str, Sequence[str]],
        instance_dir: Path,
        *,
        port: int | None = None,
        scrape_interval: float = 1.0,
        evaluation_interval: float | None = None,
        rule_files: Sequence[Path] = (RULES_FILE,),
        binary: str | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.scrape_targets = {job: list(addresses) for job, addresses in targets.items()}
        self.instance_dir = Path(instance_dir)
        self.port = port if port is not None else _free_port()
        self.scrape_interval = scrape_interval
        self.evaluation_interval = evaluation_interval if evaluation_interval is not None else scrape_interval
        self.rule_files = [Path(path) for path in rule_files]
        self.binary = binary
        self.startup_timeout = startup_timeout
        self.startup_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.instance_dir / "prometheus.yml"

    @property
    def log_path(self) -> Path:
        return self.instance_dir / "prometheus.log"

    def write_config(self) -> Path:
        """Write prometheus.yml and copy the rule files next to it (so the folder is self-contained)."""
        rules_dir = self.instance_dir / "rules"
        rules_dir.mkdir(parents=True, exist_ok=True)
        for rule_file in self.rule_files:
            shutil.copyfile(rule_file, rules_dir / rule_file.name)
        interval = _duration(self.scrape_interval)
        config = {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": _duration(self.evaluation_interval),
            },
            "rule_files": [f"rules/{rule_file.name}" for rule_file in self.rule_files],
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": addresses}]} for job, addresses in self.scrape_targets.items()
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        return self.config_path

    def start(self) -> PrometheusProcess:
        if self._process is not None and self._process.poll() is None:
            return self
        binary = self.binary or find_prometheus()
        self.write_config()
        command = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.instance_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
            "--web.enable-lifecycle",
        ]
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            self._wait_ready(started)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_ready(self, started: float) -> None:
        assert self._process is not None
        while time.monotonic() - started < self.startup_timeout:
            if self._process.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self._process.returncode}:\n{self._log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise PrometheusError(f"prometheus was not ready on {self.url} within {self.startup_timeout:.0f} s:\n{self._log_tail()}")

    def _log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def _api(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            body = json.loads(error.read() or b"{}")
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {dict(params or {})}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """Instant query: the result list of ``/api/v1/query`` (a scalar comes back as one unlabelled sample)."""
        params = {"query": promql}
        if at is not None:
            params["time"] = f"{at:.3f}"
        data = self._api("/api/v1/query", params)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return cast(list[dict[str, Any]], data["result"])

    def scalar(self, promql: str) -> float | None:
        """The value of a query that yields at most one sample; None when it yields none."""
        result = self.query(promql)
        if len(result) > 1:
            raise PrometheusError(f"{promql!r} returned {len(result)} series, expected at most one: {result}")
        return float(result[0]["value"][1]) if result else None

    def targets(self) -> list[dict[str, Any]]:
        """The active targets of ``/api/v1/targets`` (``labels``, ``health``, ``lastError``, ``scrapeUrl``...)."""
        return cast(list[dict[str, Any]], self._api("/api/v1/targets", {"state": "active"})["activeTargets"])

    def alerts(self) -> list[dict[str, Any]]:
        """Pending and firing alerts of ``/api/v1/alerts``."""
        return cast(list[dict[str, Any]], self._api("/api/v1/alerts")["alerts"])

    def wait_for_targets_up(self, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Until every configured target was scraped successfully; raise naming the ones that were not."""
        deadline = time.monotonic() + timeout
        while True:
            active = self.targets()
            down = [t for t in active if t.get("health") != "up"]
            if active and not down:
                return active
            if time.monotonic() >= deadline:
                details = "; ".join(f"{t['scrapeUrl']} {t.get('health')}: {t.get('lastError') or '-'}" for t in down)
                raise PrometheusError(f"targets not up after {timeout:.0f} s: {details or 'no active targets'}")
            time.sleep(0.5)

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)

    def __enter__(self) -> PrometheusProcess:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
