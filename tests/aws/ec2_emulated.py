"""Helpers for the EC2 tests: playbook runs with the json callback, the emulator's view through boto3, and a test
copy of the aws_ec2 inventory pointed at the emulator."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import yaml

from scripts import aws_emulator

LIVE_STATES = ["pending", "running", "stopping", "stopped"]


@dataclass(frozen=True)
class Run:
    """One ansible-playbook run: its exit code, the recap of localhost, and the output to show on failure."""

    returncode: int
    stats: dict[str, int]
    output: str


def run_playbook(name: str, env: Mapping[str, str], extra_vars: Mapping[str, object]) -> Run:
    """Run ``ansible/playbooks/<name>`` with the json callback and return localhost's recap."""
    result = aws_emulator.playbook(name, env, extra_vars, json_output=True)
    tail = f"{name} exit {result.returncode}\nstdout:\n{result.stdout[-6000:]}\nstderr:\n{result.stderr[-3000:]}"
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        return Run(result.returncode, {}, tail)
    return Run(result.returncode, dict(report.get("stats", {}).get("localhost", {})), tail)


def ec2_client(url: str, region: str = aws_emulator.REGION) -> Any:
    """A boto3 EC2 client of the emulator (dummy credentials, no profile)."""
    return boto3.session.Session(
        aws_access_key_id=aws_emulator.DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=aws_emulator.DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=region,
    ).client("ec2", endpoint_url=url)


def tag_filters(project: str, environment: str) -> list[dict[str, Any]]:
    return [
        {"Name": "tag:Project", "Values": [project]},
        {"Name": "tag:Environment", "Values": [environment]},
    ]


def tags_of(resource: Mapping[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in resource.get("Tags", [])}


def instances(ec2: Any, filters: list[dict[str, Any]], states: list[str] | None = None) -> list[dict[str, Any]]:
    """Instances matching ``filters`` in ``states`` (the live ones by default)."""
    wanted = [*filters, {"Name": "instance-state-name", "Values": states or LIVE_STATES}]
    pages = ec2.get_paginator("describe_instances").paginate(Filters=wanted)
    return [i for page in pages for r in page["Reservations"] for i in r["Instances"]]


def tagged_leftovers(ec2: Any, filters: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Every live resource kind ec2.yml creates that still carries the tags, by kind (empty lists when clean).

    Read per kind rather than through DescribeTags: the emulator keeps a deleted resource's tags in that index.
    """
    return {
        "instances": [i["InstanceId"] for i in instances(ec2, filters)],
        "volumes": [v["VolumeId"] for v in ec2.describe_volumes(Filters=filters)["Volumes"]],
        "security_groups": [g["GroupId"] for g in ec2.describe_security_groups(Filters=filters)["SecurityGroups"]],
        "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs(Filters=filters)["KeyPairs"]],
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=filters)["Vpcs"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=filters)["Subnets"]],
        "internet_gateways": [
            g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=filters)["InternetGateways"]
        ],
        "route_tables": [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=filters)["RouteTables"]],
    }


def ingress(group: Mapping[str, Any], names: Mapping[str, str]) -> set[tuple[int, int, str]]:
    """A security group's inbound rules as (from port, to port, source): a CIDR, or the source group's name."""
    rules: set[tuple[int, int, str]] = set()
    for permission in group["IpPermissions"]:
        ports = (permission.get("FromPort", -1), permission.get("ToPort", -1))
        for cidr in permission.get("IpRanges", []):
            rules.add((*ports, cidr["CidrIp"]))
        for pair in permission.get("UserIdGroupPairs", []):
            rules.add((*ports, names.get(pair["GroupId"], pair["GroupId"])))
        for cidr6 in permission.get("Ipv6Ranges", []):
            rules.add((*ports, cidr6["CidrIpv6"]))
    return rules


def inventory_copy(dest: Path, endpoint_url: str, environment: str) -> Path:
    """inventories/aws copied to ``dest`` (group_vars too), its plugin config pointed at the emulator with the
    documented endpoint_url option and filtered on ``environment``; returns the directory."""
    shutil.copytree(aws_emulator.AWS_INVENTORY, dest)
    config_path = dest / "aws_ec2.yml"
    config = yaml.safe_load(config_path.read_text())
    config["endpoint_url"] = endpoint_url
    config["filters"]["tag:Environment"] = environment
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    return dest


def inventory_list(source: Path, env: Mapping[str, str]) -> dict[str, Any]:
    result = aws_emulator.inventory(source, env, "--list")
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout))


def group_members(listing: Mapping[str, Any], group: str) -> set[str]:
    return set(listing.get(group, {}).get("hosts", []))


def _plain(value: Any) -> Any:
    """A value of ``ansible-inventory --list`` without ansible-core's ``{"__ansible_unsafe": ...}`` wrapping."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def hostvars(listing: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each host's variables, unwrapped."""
    return {host: _plain(dict(values)) for host, values in listing.get("_meta", {}).get("hostvars", {}).items()}


def check(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout
