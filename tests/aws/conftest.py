"""The local AWS API emulator (moto in server mode on 127.0.0.1) shared by the EC2 tests of a session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import aws_emulator
from tests.aws.ec2_emulated import ec2_client


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[aws_emulator.Emulator]:
    with aws_emulator.running(tmp_path_factory.mktemp("moto")) as running:
        yield running


@pytest.fixture(scope="session")
def aws_env(emulator: aws_emulator.Emulator) -> dict[str, str]:
    """The environment of the Ansible runs: the emulator's endpoint, dummy credentials, no profile."""
    return emulator.env()


@pytest.fixture(scope="session")
def ec2(emulator: aws_emulator.Emulator) -> Any:
    return ec2_client(emulator.url)


@pytest.fixture(scope="session")
def public_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway ed25519 public key, the key pair's material (the private half stays in the temp dir)."""
    return aws_emulator.ssh_public_key(tmp_path_factory.mktemp("ssh"))
