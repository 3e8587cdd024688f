"""The example inventories parse, put hosts in the groups site.yml plays on, and set only variables the roles
know; the aws_ec2 inventory filters on what ec2.yml tags. No AWS API is involved."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import aws_emulator
from scripts.paths import REPO

GROUPS = ["zookeeper", "kafka", "spark", "shipper", "web"]
BAREMETAL = REPO / "inventories" / "example-baremetal"
ROLES = REPO / "ansible" / "roles"
# Variables every inventory may set that no role declares: Ansible's connection settings and the global switch.
GLOBAL_VARIABLES = {"chat_source"}
_PATH = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _ansible(*args: str) -> str:
    result = subprocess.run(
        [aws_emulator.tool(args[0]), *args[1:]],
        cwd=REPO,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": _PATH},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _role_variables() -> set[str]:
    """Every variable a role declares: its defaults and the options of its argument specs."""
    names: set[str] = set()
    for role in ROLES.iterdir():
        defaults = role / "defaults" / "main.yml"
        if defaults.exists():
            names.update((yaml.safe_load(defaults.read_text()) or {}).keys())
        specs = role / "meta" / "argument_specs.yml"
        if specs.exists():
            for entry in (yaml.safe_load(specs.read_text()) or {}).get("argument_specs", {}).values():
                names.update((entry or {}).get("options", {}).keys())
    return names


def _group_vars_files(inventory: Path) -> list[Path]:
    return sorted(p for p in (inventory / "group_vars").rglob("*.yml"))


@pytest.mark.parametrize(
    ("inventory", "members"),
    [
        (
            "cluster",
            {
                "zookeeper": {"node1", "node2", "node3"},
                "kafka": {"node1", "node2", "node3"},
                "spark": {"spark1"},
                "shipper": {"shipper1"},
                "web": {"spark1"},
            },
        ),
        ("laptop", {group: {"laptop"} for group in GROUPS}),
    ],
)
def test_example_inventory_groups(inventory: str, members: dict[str, set[str]]) -> None:
    listing: dict[str, Any] = json.loads(_ansible("ansible-inventory", "-i", str(BAREMETAL / inventory), "--list"))
    assert {group: set(listing.get(group, {}).get("hosts", [])) for group in GROUPS} == members
    # Every play of site.yml finds its hosts in this inventory.
    hosts = _ansible("ansible-playbook", "--list-hosts", "-i", str(BAREMETAL / inventory), "ansible/playbooks/site.yml")
    assert "hosts (0)" not in hosts


@pytest.mark.parametrize(
    "inventory", [BAREMETAL / "cluster", BAREMETAL / "laptop", aws_emulator.AWS_INVENTORY], ids=lambda p: p.name
)
def test_group_vars_only_set_role_variables(inventory: Path) -> None:
    known = _role_variables() | GLOBAL_VARIABLES
    files = _group_vars_files(inventory)
    assert files
    for path in files:
        for name in yaml.safe_load(path.read_text()) or {}:
            assert name.startswith("ansible_") or name in known, f"{path.relative_to(REPO)}: {name} is no role's"


def test_laptop_connects_locally() -> None:
    hosts = yaml.safe_load((BAREMETAL / "laptop" / "hosts.yml").read_text())
    assert hosts["all"]["hosts"]["laptop"]["ansible_connection"] == "local"


def test_aws_inventory_matches_what_ec2_yml_tags() -> None:
    """The plugin's filters and groups follow ec2.yml's defaults, so the two can not drift apart unnoticed."""
    config = yaml.safe_load((aws_emulator.AWS_INVENTORY / "aws_ec2.yml").read_text())
    play = yaml.safe_load((aws_emulator.PLAYBOOKS / "ec2.yml").read_text())[0]
    defaults = play["vars"]
    assert config["plugin"] == "amazon.aws.aws_ec2"
    assert config["regions"] == [defaults["ec2_region"]]
    assert config["filters"]["tag:Project"] == defaults["ec2_project"]
    assert config["filters"]["tag:Environment"] == defaults["ec2_environment"]
    assert sorted(config["groups"]) == sorted(GROUPS) == sorted(defaults["__ec2_groups"])
    assert "endpoint_url" not in config  # AWS itself unless AWS_URL says otherwise
    for forbidden in ("access_key", "secret_key", "aws_access_key", "aws_secret_key", "session_token"):
        assert forbidden not in config
