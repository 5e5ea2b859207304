"""Real Apache Kafka brokers for the tests, without requiring Docker.

``LocalKafkaBroker`` drives ``ops/kafka/kafka.sh`` (a KRaft single-node broker run from Maven Central
jars with the machine's Java 17+); ``session_bootstrap()`` is the one policy that decides which broker a
test session talks to. Standard library only (the optional Docker branch imports ``docker`` and
``testcontainers`` lazily), so importing this module never needs a broker, Docker or pytest.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
KAFKA_SH = REPO_ROOT / "ops" / "kafka" / "kafka.sh"
DEFAULT_INSTANCE_DIR = REPO_ROOT / ".local" / "kafka" / "instance"
DEFAULT_PORT = 9092

# `up` may fetch the jars with Maven first (a few seconds with a warm ~/.m2, longer when cold) and then
# waits up to 90 s for the broker itself.
_START_TIMEOUT_S = 300
_STOP_TIMEOUT_S = 60


class LocalKafkaBroker:
    """One broker instance of ``ops/kafka/kafka.sh``: its own folder (config, data, logs, pid file) and
    its own client and controller ports on 127.0.0.1.

    ``start()`` is idempotent (a running instance is left alone) and returns once the broker serves
    requests; ``stop()`` stops only this instance's process and is harmless when it is not running.
    """

    def __init__(
        self,
        instance_dir: str | os.PathLike[str] = DEFAULT_INSTANCE_DIR,
        port: int = DEFAULT_PORT,
        controller_port: int | None = None,
        heap: str | None = None,
    ) -> None:
        self.instance_dir = Path(instance_dir)
        self.port = int(port)
        self.controller_port = int(controller_port) if controller_port is not None else self.port + 1
        self.heap = heap

    @property
    def ports(self) -> list[int]:
        """Every port the instance binds on 127.0.0.1 (kafka.sh's defaults relative to the client port)."""
        return [self.port, self.controller_port, *(self.port + offset for offset in PORT_OFFSETS)]

    @property
    def tls_bootstrap(self) -> str:
        """The SASL_SSL listener (server certificate from the CA in ``.local/tls/ca.pem``)."""
        return f"127.0.0.1:{self.port + TLS_PORT_OFFSET}"

    @property
    def mtls_bootstrap(self) -> str:
        """The mutual-TLS listener: the principal is the client certificate's CN."""
        return f"127.0.0.1:{self.port + TLS_PORT_OFFSET + 1}"

    def __repr__(self) -> str:
        return f"LocalKafkaBroker({str(self.instance_dir)!r}, port={self.port}, controller_port={self.controller_port})"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.instance_dir / "kafka.pid"

    @property
    def server_log(self) -> Path:
        return self.instance_dir / "logs" / "server.log"

    def pid(self) -> int | None:
        """The pid recorded in the pid file (the process may be dead: see ``is_running``)."""
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KAFKA_INSTANCE_DIR"] = str(self.instance_dir)
        env["KAFKA_PORT"] = str(self.port)
        env["KAFKA_CONTROLLER_PORT"] = str(self.controller_port)
        if self.heap:
            env["KAFKA_HEAP"] = self.heap
        return env

    def run(self, *args: str, timeout: float = _START_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``kafka.sh ARGS`` for this instance; on failure raise with its output."""
        proc = subprocess.run(
            ["bash", str(KAFKA_SH), *args],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"kafka.sh {' '.join(args)} failed (exit {proc.returncode}) for {self!r}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc

    def start(self) -> None:
        self.run("up", timeout=_START_TIMEOUT_S)

    def stop(self) -> None:
        self.run("down", timeout=_STOP_TIMEOUT_S)

    def reset(self) -> None:
        """Stop the broker and delete the instance folder (data included)."""
        self.run("reset", timeout=_STOP_TIMEOUT_S)

    def is_running(self) -> bool:
        return self.run("status", timeout=30, check=False).returncode == 0

    def serving_pid(self) -> int:
        """The process listening on the client port: the broker that answers, whatever pid files or other JVMs
        of the same instance (a start that was retried, one still shutting down) say."""
        return listening_pid(self.port)

    def __enter__(self) -> LocalKafkaBroker:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


METRICS_PORT_OFFSET = 312
"""kafka.sh attaches the JMX exporter on KAFKA_METRICS_PORT, by default the client port + 312 (9404 for 9092)."""
TLS_PORT_OFFSET = 10
"""kafka.sh's SASL_SSL listener (client port + 10; the mTLS one is + 11)."""
PORT_OFFSETS = (2, TLS_PORT_OFFSET, TLS_PORT_OFFSET + 1, METRICS_PORT_OFFSET)
"""Ports kafka.sh derives from the client port besides the controller's: inter-broker, TLS, mTLS, metrics."""


def broker_metrics_address(bootstrap: str) -> str:
    """host:port of the broker's JMX exporter, by the same rule as kafka.sh."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    metrics_port = os.environ.get("KAFKA_METRICS_PORT") or str(int(port) + METRICS_PORT_OFFSET)
    return f"{host}:{metrics_port}"


def docker_available() -> bool:
    """True when a Docker engine answers (``docker.from_env().ping()``); False on any error, including
    the ``docker`` package not being installed."""
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _noop() -> None:
    pass


def admin_sasl_config() -> dict[str, str]:
    """librdkafka properties to connect to a local broker as its admin (password from kafka.sh's file)."""
    password = (REPO_ROOT / ".local" / "credentials" / "admin").read_text().strip()
    return {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "admin",
        "sasl.password": password,
    }


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def listening_pid(port: int) -> int:
    """The pid holding the listening TCP socket on ``port`` (from /proc: the socket's inode, then whose fd it is)."""
    inodes = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(f"socket:[{fields[9]}]")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
    raise LookupError(f"nothing listens on 127.0.0.1:{port}")


def listening_ports(span: int, step: int = 20) -> range:
    """Where a test picks ports to listen on: below the kernel's ephemeral range, whose ports any outgoing
    connection may take, as one did the TLS port of a test broker while it restarted (fresh-clone run,
    "Address already in use"). ``span``: how far above the base port a family reaches."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(10000, max(10000 + step, low - span), step)


def free_base_port(attempts: int = 200) -> int:
    """A client port whose whole family (controller, inter-broker, TLS, mTLS, metrics) is free."""
    for _ in range(attempts):
        port = random.choice(listening_ports(METRICS_PORT_OFFSET + 1))
        if all(port_free(p) for p in LocalKafkaBroker(DEFAULT_INSTANCE_DIR, port).ports):
            return port
    raise RuntimeError("no free port family for a test broker on 127.0.0.1")


CLUSTER_NODES = (1, 2, 3)
CLUSTER_PORT_STEP = 20
"""kafka.sh's cluster: node N's client port is the cluster port + 20*(N-1), its family derived as for one broker."""
DEFAULT_CLUSTER_DIR = REPO_ROOT / ".local" / "kafka" / "cluster"
_ONE_BROKER_VARIABLES = frozenset(
    {"KAFKA_INSTANCE_DIR", "KAFKA_PORT", "KAFKA_CONTROLLER_PORT", "KAFKA_INTERNAL_PORT", "KAFKA_TLS_PORT", "KAFKA_MTLS_PORT",
     "KAFKA_METRICS_PORT", "KAFKA_NODE_ID", "KAFKA_QUORUM_BOOTSTRAP", "KAFKA_INITIAL_CONTROLLERS", "KAFKA_CLUSTER_ID"}
)


class LocalKafkaCluster:
    """The three-node KRaft cluster of ``kafka.sh cluster-*`` (replication 3, min ISR 2, secured like one
    broker), in its own folder and on its own port families, with one broker at a time to kill, pause or
    restart by pid."""

    def __init__(
        self, cluster_dir: str | os.PathLike[str] = DEFAULT_CLUSTER_DIR, port: int = 19092, heap: str | None = None
    ) -> None:
        self.cluster_dir = Path(cluster_dir)
        self.port = int(port)
        self.heap = heap

    def __repr__(self) -> str:
        return f"LocalKafkaCluster({str(self.cluster_dir)!r}, port={self.port})"

    def node_port(self, node: int) -> int:
        return self.port + CLUSTER_PORT_STEP * (node - 1)

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.node_port(node)}" for node in CLUSTER_NODES)

    @property
    def ports(self) -> list[int]:
        return [p for node in CLUSTER_NODES for p in LocalKafkaBroker(self.cluster_dir, self.node_port(node)).ports]

    def env(self) -> dict[str, str]:
        # One broker's settings would leak into every node; "off" switches (TLS, metrics) still apply.
        env = {key: value for key, value in os.environ.items() if key not in _ONE_BROKER_VARIABLES or value == "off"}
        env["KAFKA_CLUSTER_DIR"] = str(self.cluster_dir)
        env["KAFKA_CLUSTER_PORT"] = str(self.port)
        if self.heap:
            env["KAFKA_HEAP"] = self.heap
        return env

    def run(
        self, *args: str, timeout: float = _START_TIMEOUT_S, check: bool = True, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            ["bash", str(KAFKA_SH), *args],
            env={**self.env(), **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"kafka.sh {' '.join(args)} failed (exit {proc.returncode}) for {self!r}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc

    def start(self) -> None:
        self.run("cluster-up", timeout=2 * _START_TIMEOUT_S)

    def stop(self) -> None:
        self.run("cluster-down", timeout=3 * _STOP_TIMEOUT_S)

    def reset(self) -> None:
        self.run("cluster-reset", timeout=3 * _STOP_TIMEOUT_S)

    def node_pid(self, node: int) -> int | None:
        """Node ``node``'s broker pid while it runs (None when it does not), by kafka.sh's rule: the pid file's
        process is a java running kafka.Kafka with this node's server.properties. Read here rather than by
        ``kafka.sh node-pid``, so a fault lands when it is due even on a loaded machine."""
        node_dir = (self.cluster_dir / f"node-{node}").resolve()
        try:
            pid = int((node_dir / "kafka.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        running = "java" in cmdline and f" kafka.Kafka {node_dir / 'server.properties'}" in cmdline and state not in ("Z", "X")
        return pid if running else None

    def start_node(self, node: int) -> None:
        """Start one node again (after SIGKILL) and wait until it serves requests."""
        self.run("node-up", str(node), env={"KAFKA_START_TIMEOUT": "180"})

    def server_log(self, node: int) -> Path:
        return self.cluster_dir / f"node-{node}" / "logs" / "server.log"

    def __enter__(self) -> LocalKafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def free_cluster_port(attempts: int = 200) -> int:
    """A cluster port whose three nodes' port families are all free."""
    for _ in range(attempts):
        port = random.choice(listening_ports(CLUSTER_PORT_STEP * (len(CLUSTER_NODES) - 1) + METRICS_PORT_OFFSET + 1))
        if all(port_free(p) for p in LocalKafkaCluster(DEFAULT_CLUSTER_DIR, port).ports):
            return port
    raise RuntimeError("no free port families for a test cluster on 127.0.0.1")


SESSION_BROKER: LocalKafkaBroker | None = None
"""The local broker this session uses (None with an external broker or testcontainers)."""


def session_bootstrap() -> tuple[str, Callable[[], None]]:
    """Pick the Kafka broker for a test session; return ``(bootstrap_servers, cleanup)``.

    Call ``cleanup()`` once at the end of the session. The branches, in order:

    1. ``KAFKA_BOOTSTRAP_SERVERS`` is set: use that broker (a developer's or CI's own). Nothing is
       started, and ``cleanup`` does nothing.
    2. A Docker engine answers (``docker_available()``): start a ``testcontainers`` ``KafkaContainer`` in
       KRaft mode (image from ``BORDERBUS_TEST_KAFKA_IMAGE`` if set, else testcontainers' default);
       ``cleanup`` stops the container.
    3. Otherwise (the usual case here: no Docker): the local broker of ``ops/kafka/kafka.sh``, on
       ``127.0.0.1:9092`` (or ``BORDERBUS_TEST_KAFKA_PORT``, controller on that port + 1) in the default
       instance ``.local/kafka/instance`` (a non-default port gets its own ``.local/kafka/instance-PORT``).
       If that broker was already running (e.g. ``make kafka-up``) it is reused and ``cleanup`` leaves
       it running; if this call started it, ``cleanup`` stops it (its data stays; ``kafka.sh reset``
       deletes it). When the port (or one kafka.sh derives from it) is taken by something else, e.g.
       another clone's ``make demo`` broker, a free port family is picked instead.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        return external, _noop

    if docker_available():
        try:
            from testcontainers.community.kafka import KafkaContainer
        except ImportError:  # older testcontainers
            from testcontainers.kafka import KafkaContainer

        image = os.environ.get("BORDERBUS_TEST_KAFKA_IMAGE")
        container = KafkaContainer(image) if image else KafkaContainer()
        if hasattr(container, "with_kraft"):
            container = container.with_kraft()
        container.start()
        return container.get_bootstrap_server(), container.stop

    global SESSION_BROKER
    port = int(os.environ.get("BORDERBUS_TEST_KAFKA_PORT", DEFAULT_PORT))
    broker = _instance(port)
    if broker.is_running():
        SESSION_BROKER = broker
        return broker.bootstrap, _noop
    if not all(port_free(p) for p in broker.ports):
        broker = _instance(free_base_port())
    broker.start()
    SESSION_BROKER = broker
    return broker.bootstrap, broker.stop


def _instance(port: int) -> LocalKafkaBroker:
    instance_dir = DEFAULT_INSTANCE_DIR if port == DEFAULT_PORT else DEFAULT_INSTANCE_DIR.with_name(f"instance-{port}")
    return LocalKafkaBroker(instance_dir, port)
