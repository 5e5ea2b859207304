"""Run the bus on one machine: an HTTP service per agency, the simulator driving them, the correlator,
the duty desk with its console, a Prometheus scraping them all, and a live view.

Each service runs as its own process, as it would in production, and logs to ``.local/demo/``.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

from borderbus.bus import Bus
from borderbus.config import REPO_ROOT
from borderbus_demo.alert_view import AlertWatch, alert_in_full
from borderbus_demo.prometheus import PrometheusError, PrometheusProcess
from borderbus_demo.tally import Tally
from borderbus_simulator.driver import HttpSender, SendReport, make_scenario, send_scenario, write_tokens
from borderbus_simulator.scenario import write_ground_truth

LOG_DIR = REPO_ROOT / ".local" / "demo"
STATUS_EVERY_SECONDS = 5.0
OPEN_ENDED_SECONDS = 7 * 24 * 3600.0
ROUND_SECONDS = 60.0  # each minute a new world unfolds, so alerts keep coming
MIN_ROUND_EVENTS = 100  # a world needs room for its planted patterns
CORRELATOR_PORT = 6066
DESK_PORT = 8300
PROMETHEUS_PORT = 9090
BROKER_METRICS_PORT = int(os.environ.get("KAFKA_METRICS_PORT", "9404"))


class Services:
    """Child processes of the demo, stopped together however the demo ends."""

    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        log = (LOG_DIR / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "borderbus_cli", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={key: value for key, value in os.environ.items() if key != "BORDERBUS_PRINCIPAL"},  # each picks its own
        )
        self.processes.append((name, process))

    def check_alive(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}; see {LOG_DIR / (name + '.log')}")

    def stop(self) -> None:
        for _name, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _name, process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(urls: dict[str, str], services: Services, timeout: float = 60.0, path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout
    pending = dict(urls)
    while pending:
        services.check_alive()
        for name, url in list(pending.items()):
            try:
                with urllib.request.urlopen(f"{url}{path}", timeout=2) as response:
                    if response.status == 200:
                        del pending[name]
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            raise RuntimeError(f"not ready after {timeout:.0f} s: {', '.join(pending)}")
        time.sleep(0.3)


def print_table(title: str, sent: Counter[tuple[str, str]], read: Counter[tuple[str, str]]) -> None:
    print(f"\n{title}")
    print(f"  {'agency':<15} {'event type':<16} {'accepted':>9} {'on the bus':>11}")
    for key in sorted(set(sent) | set(read)):
        print(f"  {key[0]:<15} {key[1]:<16} {sent[key]:>9} {read[key]:>11}")
    print(f"  {'total':<32} {sum(sent.values()):>9} {sum(read.values()):>11}", flush=True)


def print_alert_summary(alerts: AlertWatch) -> None:
    counts = alerts.by_rule_and_severity()
    print(f"\nalerts: {len(alerts.latest)} alerts in {alerts.versions} versions")
    for (rule, severity), count in sorted(counts.items()):
        print(f"  {rule:<28} {severity:<9} {count:>4}")
    example = alerts.most_severe()
    if example is not None:
        print("\none alert in full:\n" + alert_in_full(example))


def write_demo_officers(bus: Bus) -> tuple[str, dict[str, str]]:
    """One demo officer per agency with a fresh token each run; returns the file and the tokens."""
    import yaml

    from borderbus_desk.officers import new_token, officer_entry

    tokens = {code: new_token() for code in bus.catalogue.agencies}
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / "officers.yaml"
    entries = [officer_entry(f"duty-{code}", code, token, roles=["silence", "supervisor"]) for code, token in tokens.items()]
    path.write_text(yaml.safe_dump({"officers": entries}, sort_keys=False))
    write_tokens(LOG_DIR / "officer-tokens.txt", tokens)
    return str(path), tokens


def write_demo_clients(bus: Bus) -> tuple[str, dict[str, str]]:
    """One client credential per agency service (the simulator's) with a fresh token each run."""
    import yaml

    from borderbus_agency.clients import client_entry, new_client_token

    tokens = {code: new_client_token() for code in bus.catalogue.agencies}
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    path = LOG_DIR / "agency-clients.yaml"
    entries = [client_entry(code, "demo-simulator", token) for code, token in tokens.items()]
    path.write_text(yaml.safe_dump({"clients": entries}, sort_keys=False))
    write_tokens(LOG_DIR / "agency-tokens.txt", tokens)
    return str(path), tokens


def start_prometheus(urls: dict[str, str]) -> PrometheusProcess | None:
    """Prometheus on :9090 scraping the whole demo; the demo goes on without it if it cannot start."""
    targets = {
        "borderbus-broker": [f"127.0.0.1:{BROKER_METRICS_PORT}"],
        "borderbus-agency": [url.removeprefix("http://") for url in urls.values()],
        "borderbus-correlator": [f"127.0.0.1:{CORRELATOR_PORT}"],
        "borderbus-desk": [f"127.0.0.1:{DESK_PORT}"],
    }
    try:
        return PrometheusProcess(targets, LOG_DIR / "prometheus", port=PROMETHEUS_PORT, scrape_interval=5.0).start()
    except PrometheusError as error:
        print(f"  prometheus      not started: {error}")
        return None


def run_demo(bus: Bus, *, seconds: float | None, seed: int, rate: float, base_port: int) -> int:
    """``make demo``: start everything, send the scenario, show counts until the time is up or Ctrl-C."""
    duration = seconds or OPEN_ENDED_SECONDS
    services = Services()
    urls = {code: f"http://127.0.0.1:{base_port + i}" for i, code in enumerate(bus.catalogue.agencies)}
    tally: Tally | None = None
    alerts: AlertWatch | None = None
    prometheus: PrometheusProcess | None = None
    report = SendReport()
    stop = threading.Event()
    try:
        clients_file, client_tokens = write_demo_clients(bus)
        for code, url in urls.items():
            port = url.rsplit(":", 1)[1]
            services.start(f"agency-{code}", "agency", "serve", "--agency", code, "--port", port, "--clients", clients_file)
        print(f"starting {len(urls)} agency services (logs in {LOG_DIR}) ...", flush=True)
        wait_ready(urls, services)
        for code, url in urls.items():
            print(f"  {code:<15} {url}/v1/events/<type>   {bus.catalogue.agency(code).name}")
        print(f"                  client tokens of the simulator: {LOG_DIR / 'agency-tokens.txt'}")
        services.start("correlator", "correlator", "run", "--web-port", str(CORRELATOR_PORT))
        wait_ready({"correlator": f"http://127.0.0.1:{CORRELATOR_PORT}"}, services, path="/healthz")
        print(f"  correlator      http://127.0.0.1:{CORRELATOR_PORT}/metrics")
        officers_file, tokens = write_demo_officers(bus)
        services.start("desk", "desk", "serve", "--port", str(DESK_PORT), "--officers", officers_file)
        wait_ready({"desk": f"http://127.0.0.1:{DESK_PORT}"}, services, timeout=120)
        print(f"  duty console    http://127.0.0.1:{DESK_PORT}/   demo officer token (UK Border Force): {tokens['uk-bf']}")
        print(f"                  tokens of every agency's demo officer: {LOG_DIR / 'officer-tokens.txt'}")
        print(f"                  terminal: BORDERBUS_TOKEN={tokens['uk-bf']} borderbus alerts tail --min-severity HIGH")
        prometheus = start_prometheus(urls)
        if prometheus is not None:
            print(f"  prometheus      {prometheus.url}/graph   (targets: {prometheus.url}/targets)")
        this_run: set[str] = set()
        tally = Tally(bus, only=this_run).start()
        alerts = AlertWatch(bus, only=this_run).start()
        ground_truth = REPO_ROOT / ".local" / "demo" / "ground-truth.json"

        def simulate() -> None:
            """One scenario per round (a new world each), so an open-ended demo never runs dry."""
            for round_number in itertools.count():
                remaining = duration - (time.monotonic() - started)
                if stop.is_set() or remaining * rate < MIN_ROUND_EVENTS:
                    return
                scenario = make_scenario(bus, seed=seed + round_number, rate=rate, duration=min(ROUND_SECONDS, remaining))
                this_run.update(planned.body["event_id"] for planned in scenario.events)
                write_ground_truth(scenario, ground_truth)
                print(
                    f"\nsimulator: seed {seed + round_number}, {rate:.0f} events/s, {len(scenario.events)} events planned;"
                    f" ground truth in {ground_truth}",
                    flush=True,
                )
                send_scenario(scenario.events, HttpSender(urls, client_tokens), rate, stop, report)

        sender = threading.Thread(target=simulate, name="simulator", daemon=True)
        started = time.monotonic()
        sender.start()
        next_status = started + STATUS_EVERY_SECONDS
        while sender.is_alive() and time.monotonic() - started < duration:
            time.sleep(0.2)
            services.check_alive()
            if time.monotonic() >= next_status:
                print_table(f"after {time.monotonic() - started:.0f} s", report.accepted, tally.counts)
                next_status += STATUS_EVERY_SECONDS
    except KeyboardInterrupt:
        print("\ninterrupted")
    finally:
        stop.set()
        time.sleep(2.0)  # let the last acknowledged events reach the tally
        time.sleep(3.0 if alerts is not None else 0.0)  # the correlator's last alerts
        for watcher in (tally, alerts):
            if watcher is not None:
                watcher.stop()
        desk_statuses = desk_status_counts()
        services.stop()
        if prometheus is not None:
            prometheus.stop()
    if tally is not None:
        print_table("summary", report.accepted, tally.counts)
        refused = sum(report.refused.values())
        print(f"  refused by the agency services: {refused}" + (f" (first: {report.errors[0]})" if report.errors else ""))
    if alerts is not None:
        print_alert_summary(alerts)
    if desk_statuses:
        print("\nduty desk (all alerts on the bus): " + ", ".join(f"{count} {status}" for status, count in desk_statuses.items()))
    return 0


def desk_status_counts() -> dict[str, int]:
    """Alerts by status from the desk's own metrics; empty if the desk is not up."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{DESK_PORT}/metrics", timeout=3) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        sample.labels["status"]: int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == "borderbus_desk_alerts"
        for sample in family.samples
    }
