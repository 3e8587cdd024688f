"""ec2.yml refuses settings that would expose SSH to everyone or name groups site.yml does not play on, before it
calls any AWS API (the endpoint here answers nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts import aws_emulator

NOWHERE = "http://127.0.0.1:9"  # discard port: an API call would fail with a connection error, not the assert


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        ({}, "ec2_ssh_cidrs | length > 0"),
        (
            {"ec2_ssh_cidrs": ["203.0.113.0/24"], "ec2_instances": [{"name": "db", "instance_type": "t3.micro"}]},
            "flatten | difference(__ec2_groups)",
        ),
        (
            {
                "ec2_ssh_cidrs": ["203.0.113.0/24"],
                "ec2_instances": [{"name": "web", "instance_type": "t3.micro", "os": "windows"}],
            },
            "difference(ec2_images.keys() | list)",
        ),
    ],
    ids=["no-ssh-cidrs", "unknown-group", "unknown-os"],
)
def test_bad_settings_fail_before_any_api_call(extra_vars: dict[str, object], expected: str, tmp_path: Path) -> None:
    env = aws_emulator.client_env(NOWHERE, tmp_path)
    result = aws_emulator.playbook("ec2.yml", env, {"ec2_endpoint_url": NOWHERE, **extra_vars})
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert expected in output  # the condition that failed
    assert "Set ec2_ssh_cidrs" in output  # the message saying what to set
    assert "The settings describe a reachable, well-formed deployment" in output
    assert "EndpointConnectionError" not in output
