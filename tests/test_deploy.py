"""docker-compose.yml and deploy/ on paper (no docker engine here): the topology is complete,
and haproxy accepts its configuration with the addresses compose gives it."""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from common.settings import Settings
from locker_bridge.config import load as load_bridge_config

REPO = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


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
