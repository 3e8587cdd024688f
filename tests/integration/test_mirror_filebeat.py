"""The mirror's Filebeat tarball: intact, in Elastic's layout, and a Filebeat that accepts our Kafka output config.

Builds the tarball first when the mirror lacks it (``filebeat.build`` is a no-op once it is in the manifest), so a
cold run takes minutes; a warm one, seconds.
"""

from __future__ import annotations

import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from scripts.mirror import filebeat, manifest
from scripts.paths import mirror_root

pytestmark = pytest.mark.integration

TOP = filebeat.top_dir()
EXPECTED_TOP_LEVEL = {
    ".build_hash.txt",
    "LICENSE.txt",
    "NOTICE.txt",
    "README.md",
    "fields.yml",
    "filebeat",
    "filebeat.reference.yml",
    "filebeat.yml",
    "kibana",
    "module",
    "modules.d",
}
# The newest protocol version Filebeat 7.17's Kafka output accepts ("2.6.0" is the top of its sarama fork's
# SupportedVersions); a Kafka 3.0 broker speaks it.
KAFKA_PROTOCOL_VERSION = "2.6.0"
CONFIG = f"""\
filebeat.inputs:
  - type: filestream
    id: twitch-chat
    paths:
      - "{{logs}}/*.log"

output.kafka:
  hosts: ["127.0.0.1:9092"]
  topic: "twitch-chat"
  version: "{KAFKA_PROTOCOL_VERSION}"
  required_acks: 1
  compression: gzip
"""


@pytest.fixture(scope="module")
def tarball() -> Path:
    root = mirror_root()
    artifacts = filebeat.build(root)
    assert artifacts == [filebeat.tarball_path(root)]
    return artifacts[0]


@pytest.fixture(scope="module")
def home(tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("filebeat")
    with tarfile.open(tarball) as archive:
        archive.extractall(dest, filter="data")
    return dest / TOP


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["./filebeat", *args], cwd=home, capture_output=True, text=True, timeout=120, check=False)


def test_sha512_matches_sidecar_and_manifest(tarball: Path) -> None:
    sidecar = tarball.with_name(tarball.name + ".sha512")
    digest, name = sidecar.read_text().split()
    assert name == tarball.name
    assert manifest.sha512_of(tarball) == digest
    assert manifest.recorded(mirror_root(), tarball) == digest


def test_layout_matches_elastic_tarball(tarball: Path) -> None:
    with tarfile.open(tarball) as archive:
        members = archive.getmembers()
    names = [member.name for member in members]
    assert all(name == TOP or name.startswith(TOP + "/") for name in names), "one top directory only"
    assert {name.split("/")[1] for name in names if "/" in name} == EXPECTED_TOP_LEVEL
    by_name = {member.name: member for member in members}
    assert by_name[f"{TOP}/filebeat"].mode == 0o755
    assert by_name[f"{TOP}/filebeat.yml"].mode == 0o600
    assert all(member.uid == 0 and member.gid == 0 for member in members)
    assert f"{TOP}/modules.d/kafka.yml.disabled" in by_name
    assert f"{TOP}/module/kafka/log/manifest.yml" in by_name
    assert not [name for name in names if "/_meta" in name or name.endswith("fields.go")]


def test_version_is_pinned(home: Path) -> None:
    assert stat.S_IMODE((home / "filebeat").stat().st_mode) & 0o111
    result = run(home, "version")
    assert result.returncode == 0, result.stderr
    assert f"filebeat version {filebeat.FILEBEAT_VERSION} " in result.stdout
    commit = (home / ".build_hash.txt").read_text().strip()
    assert commit in result.stdout


def test_kafka_output_config_ok(home: Path, tmp_path: Path) -> None:
    logs = tmp_path / "chat"
    logs.mkdir()
    config = tmp_path / "filebeat.yml"
    config.write_text(CONFIG.format(logs=logs))
    config.chmod(0o600)  # filebeat's strict.perms refuses configs writable by group or others
    result = run(
        home,
        "test",
        "config",
        "-c",
        str(config),
        "--path.data",
        str(tmp_path / "data"),
        "--path.logs",
        str(tmp_path / "logs"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config OK" in result.stdout
