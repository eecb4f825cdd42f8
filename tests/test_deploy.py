"""docker-compose.yml and deploy/ on paper (no docker engine here): the topology is complete,
haproxy accepts its configuration with the addresses compose gives it, Prometheus scrapes every
node and Grafana is provisioned with a dashboard that asks only for metrics chargebay exports."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from chargebay.stack import Stack
from common.settings import Settings
from locker_bridge.config import load as load_bridge_config

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
PROMETHEUS = yaml.safe_load((REPO / "deploy" / "prometheus.yml").read_text())
GRAFANA = REPO / "deploy" / "grafana"
DASHBOARD = json.loads((GRAFANA / "dashboards" / "chargebay.json").read_text())
TARGETS = [t for p in DASHBOARD["panels"] for t in p["targets"]]
# the series names a family of each type stands for in a query
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"),
            "summary": ("_count", "_sum", "_created")}


def test_compose_describes_the_production_topology() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "migrate", "csms-1", "csms-2", "api", "lb", "sim",
            "locker"} <= set(services)
    for name in ("csms-1", "csms-2", "api"):
        env = services[name]["environment"]
        assert env["CHARGEBAY_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["CHARGEBAY_REDIS_URL"].startswith("redis://")
        assert services[name]["command"][:2] == ["chargebay", "serve"]
    assert "--role" in services["api"]["command"] and "api" in services["api"]["command"]
    assert "ws://lb:9000/ocpp" in services["sim"]["command"]
    lb = services["lb"]
    assert "./deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in lb["volumes"]
    assert {"9000:9000", "8000:8000"} <= set(lb["ports"])


def test_the_nodes_trust_forwarded_addresses_from_the_balancer_only() -> None:
    """haproxy appends the caller's address (option forwardfor, both frontends), and every node
    behind it trusts exactly the balancer's fixed address to say so (issue #13, item 8)."""
    services = COMPOSE["services"]
    lb_address = services["lb"]["networks"]["default"]["ipv4_address"]
    [subnet] = [c["subnet"] for c in COMPOSE["networks"]["default"]["ipam"]["config"]]
    assert ipaddress.ip_address(lb_address) in ipaddress.ip_network(subnet)
    for name in ("csms-1", "csms-2", "api"):
        assert services[name]["environment"]["CHARGEBAY_TRUSTED_PROXIES"] == lb_address, name
        Settings(_env_file=None, trusted_proxies=lb_address)  # type: ignore[call-arg]  # valid
    config = (REPO / "deploy" / "haproxy.cfg").read_text()
    sections = re.split(r"^(?=\S)", config, flags=re.M)
    frontends = {s.split()[1]: s for s in sections if s.startswith("frontend ")}
    for name in ("ocpp", "rest"):
        assert re.search(r"^\s+option forwardfor\b", frontends[name], re.M), name


def test_the_locker_service_config_is_valid() -> None:
    config = load_bridge_config(REPO / "deploy" / "bays.yaml")
    assert config.csms_url == "ws://lb:9000/ocpp"


def test_haproxy_accepts_the_config() -> None:
    if shutil.which("haproxy") is None:
        if os.environ.get("CHARGEBAY_CI") == "1":
            pytest.fail("haproxy missing in CI (scripts/services.sh installs it)")
        pytest.skip("haproxy is not installed (apt-get install haproxy; CI does)")
    env = {**os.environ, **COMPOSE["services"]["lb"]["environment"], "LB_MAXCONN": "1000"}
    # compose's service names resolve only inside compose: check with local addresses too
    for overrides in ({}, {"CSMS_1": "127.0.0.1:1", "CSMS_2": "127.0.0.1:2", "API_1": "127.0.0.1:3"}):
        result = subprocess.run(["haproxy", "-c", "-f", str(REPO / "deploy" / "haproxy.cfg")],
                                env={**env, **overrides}, capture_output=True, text=True)
        assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_copies_every_package_the_project_installs() -> None:
    """The Dockerfile copies each top-level package of pyproject.toml's package list (a package
    left out installs nothing and the image fails at its first import: it once lacked four)."""
    import tomllib

    listed = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {name.rstrip("*") for name in listed}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (REPO / "Dockerfile").read_text(), re.MULTILINE))
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_prometheus_scrapes_every_node_directly() -> None:
    """Each chargebay node is a target of its own (through lb each scrape would reach another
    node), on one port each: a node's two /metrics are the same document."""
    services = COMPOSE["services"]
    prometheus = services["prometheus"]
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    targets = [t for job in PROMETHEUS["scrape_configs"] for c in job["static_configs"] for t in c["targets"]]
    nodes = {name for name, s in services.items() if s.get("command", [])[:2] == ["chargebay", "serve"]}
    assert sorted(t.split(":")[0] for t in targets) == sorted(nodes) == ["api", "csms-1", "csms-2"]
    assert {"csms-1:9000", "csms-2:9000", "api:8000"} == set(targets)


def test_promtool_accepts_the_config_and_the_dashboards_queries(tmp_path: Path) -> None:
    """promtool parses the scrape config, and every dashboard query as PromQL (each written as a
    recording rule, Grafana's $__rate_interval as a plain range)."""
    if shutil.which("promtool") is None:
        problem = "promtool is not installed (apt-get install prometheus; scripts/services.sh does in CI)"
        if os.environ.get("CHARGEBAY_CI") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    config = subprocess.run(["promtool", "check", "config", str(REPO / "deploy" / "prometheus.yml")],
                            capture_output=True, text=True)
    assert config.returncode == 0, config.stdout + config.stderr
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"chargebay:panel_query_{n}", "expr": t["expr"].replace("$__rate_interval", "1m")}
        for n, t in enumerate(TARGETS)]}]}
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    checked = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    grafana = COMPOSE["services"]["grafana"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana["volumes"]
    assert "prometheus" in grafana["depends_on"]
    [source] = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    assert "9090:9090" in COMPOSE["services"]["prometheus"]["ports"]
    [provider] = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "chargebay.yml").read_text())["providers"]
    assert provider["type"] == "file" and provider["options"]["path"] == "/etc/grafana/dashboards"
    assert {p["datasource"]["uid"] for p in DASHBOARD["panels"]} | {t["datasource"]["uid"] for t in TARGETS} == {
        source["uid"]}
    titles = {p["title"] for p in DASHBOARD["panels"]}
    assert {"Charge points online / offline", "Connector statuses", "Sessions open", "kW per site",
            "kWh today per site", "OCPP message rate", "Errors"} <= titles
    assert len({p["id"] for p in DASHBOARD["panels"]}) == len(DASHBOARD["panels"])


async def test_the_dashboard_asks_only_for_what_metrics_exports(stack: Stack) -> None:
    """Every series a panel names is in a running stack's /metrics, and every label it groups a
    fleet gauge by is one that gauge has (a renamed metric would leave a panel silently empty)."""
    async with httpx.AsyncClient(timeout=20) as client:
        answer = await client.get(f"{stack.http_url}/metrics")
    assert answer.status_code == 200
    exported: set[str] = set()
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(answer.text):
        exported |= {family.name, *(family.name + s for s in SUFFIXES.get(family.type, ()))}
        for sample in family.samples:
            exported.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    asked = {name for t in TARGETS for name in re.findall(r"\bchargebay_\w+", t["expr"])}
    assert asked and asked <= exported, f"not exported: {sorted(asked - exported)}"
    for target in TARGETS:
        for grouped, metric in re.findall(r"by \(([^)]*)\) \((chargebay_\w+)\)", target["expr"]):
            wanted = {label.strip() for label in grouped.split(",")} - {"instance", "job"}  # Prometheus' own
            assert wanted <= labels[metric], (target["expr"], labels[metric])
