"""ec2.yml with its defaults (own VPC, one instance per kind) against the emulator: what it creates, that a second
run changes nothing, what the aws_ec2 inventory makes of it, and that the teardown removes all of it.

The tests share one deployment and run in file order; the teardown test is last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts import aws_emulator
from tests.aws.ec2_emulated import (
    Run,
    check,
    group_members,
    hostvars,
    ingress,
    instances,
    inventory_copy,
    inventory_list,
    run_playbook,
    tag_filters,
    tagged_leftovers,
    tags_of,
)

pytestmark = pytest.mark.aws

PROJECT = "chat-sentiment"
ENVIRONMENT = "dev"  # ec2.yml's and inventories/aws's default, so the unchanged inventory directory lists it
PREFIX = f"{PROJECT}-{ENVIRONMENT}"
SSH_CIDR = "203.0.113.0/24"
HTTP_CIDR = "198.51.100.0/24"
NEWEST_ROCKY = "ami-0a1b2c3d4e5f60902"  # see aws_emulator.emulator_images()
# ec2.yml's default instances: Name -> (instance type, inventory groups).
EXPECTED_HOSTS = {
    f"{PREFIX}-zookeeper-1": ("t3.small", {"zookeeper"}),
    f"{PREFIX}-kafka-1": ("t3.medium", {"kafka"}),
    f"{PREFIX}-spark-1": ("t3.large", {"spark", "web"}),
    f"{PREFIX}-shipper-1": ("t3.micro", {"shipper"}),
}
GROUPS = ("zookeeper", "kafka", "spark", "shipper", "web")


@pytest.fixture(scope="module")
def extra_vars(emulator: aws_emulator.Emulator, public_key: Path) -> dict[str, object]:
    return {
        "ec2_endpoint_url": emulator.url,
        "ec2_ssh_cidrs": [SSH_CIDR],
        "ec2_http_cidrs": [HTTP_CIDR],
        "ec2_public_key_file": str(public_key),
    }


@pytest.fixture(scope="module")
def first_run(aws_env: dict[str, str], extra_vars: dict[str, object]) -> Run:
    run = run_playbook("ec2.yml", aws_env, extra_vars)
    assert run.returncode == 0, run.output
    return run


@pytest.fixture(scope="module")
def vpc(first_run: Run, ec2: Any) -> dict[str, Any]:
    vpcs = ec2.describe_vpcs(Filters=tag_filters(PROJECT, ENVIRONMENT))["Vpcs"]
    assert len(vpcs) == 1, vpcs
    return dict(vpcs[0])


@pytest.fixture(scope="module")
def security_groups(first_run: Run, ec2: Any, vpc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The tagged security groups by their Group tag."""
    found = ec2.describe_security_groups(Filters=tag_filters(PROJECT, ENVIRONMENT))["SecurityGroups"]
    assert {g["VpcId"] for g in found} == {vpc["VpcId"]}
    return {tags_of(g)["Group"]: g for g in found}


def test_first_run_builds_a_public_subnet_in_its_own_vpc(first_run: Run, ec2: Any, vpc: dict[str, Any]) -> None:
    assert first_run.stats["changed"] > 0
    assert vpc["CidrBlock"] == "10.42.0.0/16"
    assert not vpc["IsDefault"]
    assert tags_of(vpc) == {"Project": PROJECT, "Environment": ENVIRONMENT, "Name": PREFIX}

    vpc_filter = [{"Name": "vpc-id", "Values": [vpc["VpcId"]]}]
    subnets = ec2.describe_subnets(Filters=vpc_filter)["Subnets"]
    assert [(s["CidrBlock"], s["AvailabilityZone"], s["MapPublicIpOnLaunch"]) for s in subnets] == [
        ("10.42.1.0/24", "us-east-1a", True)
    ]
    assert tags_of(subnets[0])["Project"] == PROJECT

    gateways = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc["VpcId"]]}])[
        "InternetGateways"
    ]
    assert len(gateways) == 1
    assert tags_of(gateways[0])["Environment"] == ENVIRONMENT

    tables = ec2.describe_route_tables(Filters=tag_filters(PROJECT, ENVIRONMENT))["RouteTables"]
    assert len(tables) == 1
    assert {a.get("SubnetId") for a in tables[0]["Associations"]} == {subnets[0]["SubnetId"]}
    default_routes = [r for r in tables[0]["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
    assert [r.get("GatewayId") for r in default_routes] == [gateways[0]["InternetGatewayId"]]


def test_each_port_is_open_only_to_the_groups_that_need_it(security_groups: dict[str, dict[str, Any]]) -> None:
    assert set(security_groups) == set(GROUPS)
    names = {g["GroupId"]: tags_of(g)["Group"] for g in security_groups.values()}
    rules = {group: ingress(sg, names) - {(22, 22, SSH_CIDR)} for group, sg in security_groups.items()}
    assert rules == {
        "zookeeper": {
            (2181, 2181, "zookeeper"),
            (2181, 2181, "kafka"),
            (2888, 2888, "zookeeper"),
            (3888, 3888, "zookeeper"),
        },
        "kafka": {(9092, 9092, "kafka"), (9092, 9092, "spark"), (9092, 9092, "shipper")},
        "spark": set(),
        "shipper": set(),
        "web": {(80, 80, HTTP_CIDR)},
    }
    # SSH from the operators' CIDR only, on every group.
    assert all((22, 22, SSH_CIDR) in ingress(sg, names) for sg in security_groups.values())
    for group, sg in security_groups.items():
        assert sg["GroupName"] == f"{PREFIX}-{group}"
        assert tags_of(sg) == {
            "Project": PROJECT,
            "Environment": ENVIRONMENT,
            "Name": f"{PREFIX}-{group}",
            "Group": group,
        }


def test_key_pair_holds_the_given_public_key(first_run: Run, ec2: Any, public_key: Path) -> None:
    pairs = ec2.describe_key_pairs(Filters=tag_filters(PROJECT, ENVIRONMENT), IncludePublicKey=True)["KeyPairs"]
    assert [p["KeyName"] for p in pairs] == [PREFIX]
    material = public_key.read_text().split()[:2]
    assert pairs[0]["PublicKey"].split()[:2] == material


def test_instances_per_group_with_their_size_image_groups_and_tags(
    first_run: Run, ec2: Any, vpc: dict[str, Any], security_groups: dict[str, dict[str, Any]]
) -> None:
    found = {tags_of(i)["Name"]: i for i in instances(ec2, tag_filters(PROJECT, ENVIRONMENT))}
    assert set(found) == set(EXPECTED_HOSTS)
    subnet_ids = {s["SubnetId"] for s in ec2.describe_subnets(Filters=tag_filters(PROJECT, ENVIRONMENT))["Subnets"]}
    for name, (instance_type, groups) in EXPECTED_HOSTS.items():
        instance = found[name]
        assert instance["State"]["Name"] == "running"
        assert instance["InstanceType"] == instance_type
        # The newest image from the Rocky Linux account, not the newer look-alike from another account.
        assert instance["ImageId"] == NEWEST_ROCKY
        assert instance["KeyName"] == PREFIX
        assert instance["VpcId"] == vpc["VpcId"]
        assert instance["SubnetId"] in subnet_ids
        assert instance.get("PublicIpAddress")
        attached = {sg["GroupId"] for sg in instance["SecurityGroups"]}
        assert attached == {security_groups[g]["GroupId"] for g in groups}
        tags = tags_of(instance)
        assert tags["Project"] == PROJECT
        assert tags["Environment"] == ENVIRONMENT
        assert set(tags["Group"].split()) == groups
        assert (tags["Os"], tags["SshUser"]) == ("rocky9", "rocky")


def test_second_run_changes_nothing(first_run: Run, aws_env: dict[str, str], extra_vars: dict[str, object]) -> None:
    second = run_playbook("ec2.yml", aws_env, extra_vars)
    assert second.returncode == 0, second.output
    assert second.stats["changed"] == 0, second.output
    assert second.stats["failures"] == 0


def test_inventory_groups_the_instances_and_reaches_their_addresses(
    first_run: Run, ec2: Any, emulator: aws_emulator.Emulator, aws_env: dict[str, str], tmp_path: Path
) -> None:
    source = inventory_copy(tmp_path / "aws", emulator.url, ENVIRONMENT)
    env = {k: v for k, v in aws_env.items() if k not in ("AWS_URL", "AWS_ENDPOINT_URL")}  # the config's option only
    listing = inventory_list(source, env)
    for group in GROUPS:
        assert group_members(listing, group) == {n for n, (_, g) in EXPECTED_HOSTS.items() if group in g}, group

    by_name = {tags_of(i)["Name"]: i for i in instances(ec2, tag_filters(PROJECT, ENVIRONMENT))}
    public = hostvars(listing)
    for name, instance in by_name.items():
        assert public[name]["ansible_host"] == instance["PublicIpAddress"]
        assert public[name]["ansible_user"] == "rocky"
        assert public[name]["ec2_private_address"] == instance["PrivateIpAddress"]
        # The shared group_vars come along: services talk over private addresses.
        assert public[name]["kafka_advertised_host"] == "{{ ec2_private_address }}"

    private = hostvars(inventory_list(source, {**env, "CHAT_SENTIMENT_EC2_ADDRESS": "private"}))
    for name, instance in by_name.items():
        assert private[name]["ansible_host"] == instance["PrivateIpAddress"]
        assert instance["PrivateIpAddress"].startswith("10.42.1.")


def test_inventory_directory_unchanged_graph(first_run: Run, aws_env: dict[str, str]) -> None:
    """`ansible-inventory -i inventories/aws --graph` as the README shows it (the endpoint from AWS_URL)."""
    graph = check(aws_emulator.inventory(aws_emulator.AWS_INVENTORY, aws_env, "--graph"))
    for group in GROUPS:
        assert f"@{group}:" in graph
    for name in EXPECTED_HOSTS:
        assert name in graph


def test_teardown_leaves_nothing_tagged(
    first_run: Run, ec2: Any, aws_env: dict[str, str], extra_vars: dict[str, object]
) -> None:
    run = run_playbook("ec2-teardown.yml", aws_env, extra_vars)
    assert run.returncode == 0, run.output
    leftovers = tagged_leftovers(ec2, tag_filters(PROJECT, ENVIRONMENT))
    assert leftovers == {kind: [] for kind in leftovers}
    terminated = instances(ec2, tag_filters(PROJECT, ENVIRONMENT), states=["terminated"])
    assert {tags_of(i)["Name"] for i in terminated} == set(EXPECTED_HOSTS)
    # The region's default VPC was never ours to delete.
    assert ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
