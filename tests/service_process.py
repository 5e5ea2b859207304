"""``borderbus`` services as real child processes for tests: a free port, a log file, ready once it answers.

Real processes, not threads, so a test can SIGKILL one, and each has its own metrics registry.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from borderbus.bus import Bus
from local_kafka import listening_ports, port_free

IDENTITY_VARIABLES = ("BORDERBUS_PRINCIPAL", "KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD")


def free_port(attempts: int = 200) -> int:
    """A free port below the ephemeral range: a service restarted on it must find it still free."""
    for _ in range(attempts):
        port = random.choice(listening_ports(1, step=1))
        if port_free(port):
            return port
    raise RuntimeError("no free port on 127.0.0.1")


class ServiceProcess:
    """``borderbus ARGS PORT_OPTION PORT`` on the bus's broker and topic prefix, logging to ``log_dir``.

    ``start()`` may be called again after ``stop()`` or ``kill()``: the service comes back on the same port.
    """

    def __init__(
        self,
        bus: Bus,
        log_dir: Path,
        name: str,
        args: Sequence[str],
        *,
        port_option: str = "--port",
        ready_path: str = "/healthz",
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.bus = bus
        self.port = free_port()
        self.command = [sys.executable, "-m", "borderbus_cli", *args, port_option, str(self.port)]
        self.log_path = log_dir / f"{name}-{self.port}.log"
        self.ready_path = ready_path
        self.extra_env = dict(env or {})
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 90.0) -> Self:
        # No identity from the test's environment: each command authenticates as its own principal
        # (agency-<code>, correlator, desk-*) with its password from the credentials folder.
        inherited = {key: value for key, value in os.environ.items() if key not in IDENTITY_VARIABLES}
        env = {
            **inherited,
            **self.extra_env,
            "KAFKA_BOOTSTRAP_SERVERS": self.bus.settings.bootstrap_servers,
            "BORDERBUS_TOPIC_PREFIX": self.bus.settings.topic_prefix,
        }
        if self.bus.settings.credentials_dir is not None:
            env.setdefault("BORDERBUS_CREDENTIALS_DIR", str(self.bus.settings.credentials_dir))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.command[3:]} exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + self.ready_path, timeout=2):
                    return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"{self.command[3:]} did not answer {self.ready_path} within {timeout} s:\n{self.log()}")

    def log(self, *, whole: bool = False) -> str:
        """The end of the log (for assertion messages), or all of it (to search: access lines can crowd the end)."""
        text = self.log_path.read_text(errors="replace")
        return text if whole else text[-4000:]

    def metrics(self) -> str:
        with urllib.request.urlopen(self.url + "/metrics", timeout=5) as response:
            return response.read().decode()

    def kill(self) -> None:
        """SIGKILL: no chance to commit, flush or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
