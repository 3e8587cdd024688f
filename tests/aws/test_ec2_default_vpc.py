"""ec2.yml's other options against the emulator: the region's default VPC and one all-in-one Amazon Linux 2023
instance in every group. The teardown must leave the default VPC and its subnets in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scripts import aws_emulator
from tests.aws.ec2_emulated import (
    Run,
    group_members,
    hostvars,
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
ENVIRONMENT = "aio"
NAME = f"{PROJECT}-{ENVIRONMENT}-aio-1"
GROUPS = ["zookeeper", "kafka", "spark", "shipper", "web"]
AL2023 = "ami-0a1b2c3d4e5f60903"  # see aws_emulator.emulator_images()


@pytest.fixture(scope="module")
def extra_vars(emulator: aws_emulator.Emulator, public_key: Path) -> dict[str, object]:
    return {
        "ec2_endpoint_url": emulator.url,
        "ec2_environment": ENVIRONMENT,
        "ec2_use_default_vpc": True,
        "ec2_ssh_cidrs": ["203.0.113.0/24"],
        "ec2_public_key_file": str(public_key),
        "ec2_instances": [{"name": "aio", "groups": GROUPS, "instance_type": "t3.large", "os": "al2023"}],
    }


@pytest.fixture(scope="module")
def default_vpc(ec2: Any) -> dict[str, Any]:
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(vpcs) == 1
    return dict(vpcs[0])


@pytest.fixture(scope="module")
def provisioned(aws_env: dict[str, str], extra_vars: dict[str, object], default_vpc: dict[str, Any]) -> Run:
    run = run_playbook("ec2.yml", aws_env, extra_vars)
    assert run.returncode == 0, run.output
    return run


def test_instance_goes_into_the_default_subnet_of_the_zone(
    provisioned: Run, ec2: Any, default_vpc: dict[str, Any]
) -> None:
    assert ec2.describe_vpcs(Filters=tag_filters(PROJECT, ENVIRONMENT))["Vpcs"] == []
    assert ec2.describe_subnets(Filters=tag_filters(PROJECT, ENVIRONMENT))["Subnets"] == []
    [instance] = instances(ec2, tag_filters(PROJECT, ENVIRONMENT))
    subnet = ec2.describe_subnets(SubnetIds=[instance["SubnetId"]])["Subnets"][0]
    assert (subnet["VpcId"], subnet["AvailabilityZone"], subnet["DefaultForAz"]) == (
        default_vpc["VpcId"],
        "us-east-1a",
        True,
    )
    assert instance["ImageId"] == AL2023
    tags = tags_of(instance)
    assert (tags["Name"], tags["SshUser"]) == (NAME, "ec2-user")
    assert tags["Group"].split() == GROUPS
    groups = ec2.describe_security_groups(Filters=tag_filters(PROJECT, ENVIRONMENT))["SecurityGroups"]
    assert {g["VpcId"] for g in groups} == {default_vpc["VpcId"]}
    assert {g["GroupId"] for g in instance["SecurityGroups"]} == {g["GroupId"] for g in groups}


def test_all_in_one_host_is_in_every_group(
    provisioned: Run, ec2: Any, emulator: aws_emulator.Emulator, aws_env: dict[str, str], tmp_path: Path
) -> None:
    listing = inventory_list(inventory_copy(tmp_path / "aws", emulator.url, ENVIRONMENT), aws_env)
    for group in GROUPS:
        assert group_members(listing, group) == {NAME}, group
    [instance] = instances(ec2, tag_filters(PROJECT, ENVIRONMENT))
    assert hostvars(listing)[NAME]["ansible_host"] == instance["PublicIpAddress"]
    assert hostvars(listing)[NAME]["ansible_user"] == "ec2-user"


def test_teardown_keeps_the_default_vpc(
    provisioned: Run, ec2: Any, aws_env: dict[str, str], extra_vars: dict[str, object], default_vpc: dict[str, Any]
) -> None:
    subnets_before = {
        s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]}])["Subnets"]
    }
    run = run_playbook("ec2-teardown.yml", aws_env, extra_vars)
    assert run.returncode == 0, run.output
    leftovers = tagged_leftovers(ec2, tag_filters(PROJECT, ENVIRONMENT))
    assert leftovers == {kind: [] for kind in leftovers}
    assert ec2.describe_vpcs(VpcIds=[default_vpc["VpcId"]])["Vpcs"]
    subnets_after = {
        s["SubnetId"]
        for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc["VpcId"]]}])["Subnets"]
    }
    assert subnets_after == subnets_before
