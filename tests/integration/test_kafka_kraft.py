"""The mirror's Kafka 3.9 and 4.x tarballs run a KRaft node, and their admin tools do what the kafka role needs.

One combined-mode node (``process.roles=broker,controller``) per version, on 127.0.0.1 at free ports in a temporary
directory: ``kafka-storage format`` with a cluster id and a SCRAM credential, the same format again (what a second
role run would do), ``kafka.Kafka``, then a topic, records through the console tools and kafka-python, the
metadata quorum, SCRAM credentials and ACLs through the admin tools. The class of each tool comes from
``kafka_local.TOOL_CLASSES``; ``test_tool_classes_are_in_the_jars`` checks that table against every tarball.

Needs ``mvn`` (a cold mirror resolves from Maven Central) and ``java`` 17 or newer on PATH (Kafka 4.x brokers and
tools need 17) and kafka-python. Every process started here listens on 127.0.0.1 only and is stopped on teardown.
"""

from __future__ import annotations

import subprocess
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from scripts.mirror import kafka as kafka_mirror
from tests.integration.kafka_kraft import (
    KraftNode,
    format_storage,
    kraft_node,
    log4j2_status_problems,
    random_uuid,
    start_kraft,
    unpack,
)
from tests.integration.kafka_local import TOOL_CLASSES, release, run_tool, tail, tool_class

pytestmark = pytest.mark.integration

# 3.9 is the bridge (the last line with ZooKeeper mode and the one that migrates); 4.x is KRaft only.
KRAFT_VERSIONS = tuple(version for version in kafka_mirror.KAFKA_VERSIONS if release(version) >= (3, 9))
TOPIC = "twitch-chat"
ADMIN, ADMIN_PASSWORD = "admin", "admin-secret"
RECORDS = ("Kappa 1", "PogChamp 2", "LUL 3")


@dataclass(frozen=True)
class Formatted:
    """A KRaft node whose storage was formatted once, then formatted again in three ways, and then started."""

    node: KraftNode
    first: subprocess.CompletedProcess[str]
    again: subprocess.CompletedProcess[str]
    ignoring: subprocess.CompletedProcess[str]
    other_id: subprocess.CompletedProcess[str]
    before: dict[str, bytes]  # the formatted directory's files after the first format
    after: dict[str, bytes]  # ... and after the other three


def snapshot(data: Path) -> dict[str, bytes]:
    return {str(path.relative_to(data)): path.read_bytes() for path in sorted(data.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module", params=KRAFT_VERSIONS)
def formatted(
    request: pytest.FixtureRequest, kafka_tarballs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Formatted]:
    version: str = request.param
    base = tmp_path_factory.mktemp(f"kraft-{version}")
    home = unpack(kafka_tarballs[version], version, base)
    node = kraft_node(home, version, base)
    scram = f"SCRAM-SHA-512=[name={ADMIN},password={ADMIN_PASSWORD}]"
    first = format_storage(node, node.cluster_id, "--add-scram", scram)
    assert first.returncode == 0, f"format failed:\n{first.stdout}\n{first.stderr}"
    before = snapshot(node.data)
    again = format_storage(node, node.cluster_id, "--add-scram", scram)
    ignoring = format_storage(node, node.cluster_id, "--ignore-formatted")
    other_id = format_storage(node, random_uuid(home, version))
    after = snapshot(node.data)
    with start_kraft(node):
        yield Formatted(node, first, again, ignoring, other_id, before, after)


def tool(node: KraftNode, name: str, *args: str, stdin: str | None = None) -> str:
    """Run an admin tool against the node; its stdout (the test fails with its output when it exits non-zero)."""
    result = run_tool(node.home, node.version, name, *args, stdin=stdin)
    assert not log4j2_status_problems(result.stderr), f"Log4j 2 could not read the tools' config:\n{result.stderr}"
    assert result.returncode == 0, f"{tool_class(node.version, name)} {args} exited {result.returncode}:\n" + (
        f"{result.stdout}\n{result.stderr}"
    )
    return result.stdout


def test_format_writes_the_cluster_id_and_node_id(formatted: Formatted) -> None:
    node = formatted.node
    assert f"Formatting metadata directory {node.data}" in formatted.first.stdout
    meta = dict(line.split("=", 1) for line in formatted.before["meta.properties"].decode().splitlines() if "=" in line)
    assert meta["cluster.id"] == node.cluster_id
    assert meta["node.id"] == "1"


def test_formatting_a_formatted_directory_is_refused_or_skipped_never_redone(formatted: Formatted) -> None:
    # What a second role run meets: plain format fails, --ignore-formatted succeeds doing nothing, a different
    # cluster id fails; none of them touches the directory.
    node = formatted.node
    assert formatted.again.returncode == 1
    assert f"Log directory {node.data} is already formatted" in formatted.again.stderr
    assert "--ignore-formatted" in formatted.again.stderr
    assert formatted.ignoring.returncode == 0
    assert "All of the log directories are already formatted" in formatted.ignoring.stdout
    assert "Formatting metadata directory" not in formatted.ignoring.stdout
    assert formatted.other_id.returncode == 1
    assert f"but read {node.cluster_id}" in formatted.other_id.stderr
    assert formatted.after == formatted.before


def test_node_runs_in_kraft_mode_with_its_version_and_logging(formatted: Formatted) -> None:
    node = formatted.node
    server_log = node.logs / "kafka" / "server.log"
    text = server_log.read_text()
    assert "Kafka Server started (kafka.server.KafkaRaftServer)" in text, tail(server_log)
    assert f"Kafka version: {node.version}" in text, tail(server_log)
    assert (node.logs / "kafka" / "controller.log").exists()
    # Log4j 2 reports a configuration it cannot read on the console (its status logger), then logs nothing.
    assert not log4j2_status_problems((node.logs / "kafka.out").read_text())


def test_metadata_quorum_has_the_node_as_its_only_voter_and_leader(formatted: Formatted) -> None:
    node = formatted.node
    status = tool(node, "metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", "--status")
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    assert fields["ClusterId"].strip() == node.cluster_id
    assert fields["LeaderId"].strip() == "1"
    assert '"id": 1' in fields["CurrentVoters"] or fields["CurrentVoters"].strip() == "[1]", status
    replication = tool(node, "metadata-quorum", "--bootstrap-server", node.bootstrap, "describe", "--replication")
    assert "Leader" in replication, replication


def test_topic_carries_records_from_the_console_producer_to_both_consumers(formatted: Formatted) -> None:
    node = formatted.node
    bootstrap = ("--bootstrap-server", node.bootstrap)
    created = tool(
        node,
        "topics",
        *bootstrap,
        "--create",
        "--if-not-exists",
        "--topic",
        TOPIC,
        "--partitions",
        "2",
        "--replication-factor",
        "1",
        "--config",
        "retention.ms=86400000",
    )
    assert f"Created topic {TOPIC}" in created
    described = tool(node, "topics", *bootstrap, "--describe", "--topic", TOPIC)
    assert "PartitionCount: 2" in described, described
    assert "retention.ms=86400000" in described, described

    lines = "".join(f"{record}\n" for record in RECORDS)
    tool(node, "console-producer", *bootstrap, "--topic", TOPIC, "--producer-property", "acks=all", stdin=lines)
    consumed = tool(
        node,
        "console-consumer",
        *bootstrap,
        "--topic",
        TOPIC,
        "--from-beginning",
        "--max-messages",
        str(len(RECORDS)),
        "--timeout-ms",
        "60000",
    )
    assert sorted(consumed.splitlines()) == sorted(RECORDS)

    consumer = KafkaConsumer(bootstrap_servers=node.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, partition) for partition in range(2)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received: list[str] = []
        deadline = time.monotonic() + 60
        while len(received) < len(RECORDS) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                received.extend(record.value.decode() for record in records)
    finally:
        consumer.close()
    assert sorted(received) == sorted(RECORDS)


def test_scram_credentials_come_from_format_and_from_the_configs_tool(formatted: Formatted) -> None:
    node = formatted.node
    bootstrap = ("--bootstrap-server", node.bootstrap)
    described = tool(node, "configs", *bootstrap, "--describe", "--entity-type", "users", "--entity-name", ADMIN)
    assert f"SCRAM credential configs for user-principal '{ADMIN}' are SCRAM-SHA-512=iterations=4096" in described

    tool(
        node,
        "configs",
        *bootstrap,
        "--alter",
        "--entity-type",
        "users",
        "--entity-name",
        "chat-job",
        "--add-config",
        "SCRAM-SHA-512=[iterations=8192,password=job-secret]",
    )
    described = tool(node, "configs", *bootstrap, "--describe", "--entity-type", "users", "--entity-name", "chat-job")
    assert "SCRAM-SHA-512=iterations=8192" in described, described
    assert "job-secret" not in described


def test_topic_configs_and_acls_through_the_admin_tools(formatted: Formatted) -> None:
    node = formatted.node
    bootstrap = ("--bootstrap-server", node.bootstrap)
    topic = "chat-sentiment-scored"
    tool(node, "topics", *bootstrap, "--create", "--topic", topic, "--partitions", "1", "--replication-factor", "1")
    tool(
        node,
        "configs",
        *bootstrap,
        "--alter",
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
        "--add-config",
        "retention.ms=3600000,cleanup.policy=[delete]",
    )
    described = tool(node, "configs", *bootstrap, "--describe", "--entity-type", "topics", "--entity-name", topic)
    assert "retention.ms=3600000" in described, described

    tool(
        node,
        "acls",
        *bootstrap,
        "--add",
        "--allow-principal",
        "User:chat-job",
        "--operation",
        "Read",
        "--operation",
        "Describe",
        "--topic",
        topic,
        "--resource-pattern-type",
        "literal",
    )
    listed = tool(node, "acls", *bootstrap, "--list", "--topic", topic)
    assert "principal=User:chat-job" in listed, listed
    assert "operation=READ" in listed, listed
    assert "operation=DESCRIBE" in listed, listed


# Options the kafka role, its modules and kafka-smoke.yml pass to each tool.
ROLE_OPTIONS = {
    "topics": (
        "--bootstrap-server",
        "--create",
        "--if-not-exists",
        "--describe",
        "--alter",
        "--topic",
        "--partitions",
        "--replication-factor",
        "--config",
        "--command-config",
    ),
    "configs": (
        "--bootstrap-server",
        "--alter",
        "--describe",
        "--entity-type",
        "--entity-name",
        "--add-config",
        "--add-config-file",
        "--command-config",
    ),
    "acls": (
        "--bootstrap-server",
        "--add",
        "--remove",
        "--list",
        "--allow-principal",
        "--operation",
        "--topic",
        "--group",
        "--resource-pattern-type",
        "--command-config",
    ),
    "console-producer": (
        "--bootstrap-server",
        "--topic",
        "--producer-property",
        "--request-timeout-ms",
        "--producer.config",
    ),
    "console-consumer": (
        "--bootstrap-server",
        "--topic",
        "--partition",
        "--offset",
        "--timeout-ms",
        "--consumer.config",
    ),
}


@pytest.mark.parametrize("version", KRAFT_VERSIONS)
def test_the_tools_take_the_options_the_role_passes(
    kafka_tarballs: dict[str, Path], tmp_path: Path, version: str
) -> None:
    home = unpack(kafka_tarballs[version], version, tmp_path)
    for name, options in ROLE_OPTIONS.items():
        result = run_tool(home, version, name, "--help")
        usage = result.stdout + result.stderr
        missing = [option for option in options if option not in usage]
        assert not missing, f"{tool_class(version, name)} of {version} lacks {missing}:\n{usage}"
    configs = run_tool(home, version, "configs", "--help")
    # --zookeeper (SCRAM credentials before the brokers start) is gone with ZooKeeper mode in 4.0.
    assert ("--zookeeper" in configs.stdout + configs.stderr) is not kafka_mirror.kraft_only(version)


def jar_classes(home: Path) -> set[str]:
    classes = set()
    for jar in (home / "libs").glob("*.jar"):
        with zipfile.ZipFile(jar) as archive:
            classes.update(
                name[: -len(".class")].replace("/", ".") for name in archive.namelist() if name.endswith(".class")
            )
    return classes


@pytest.mark.parametrize("version", kafka_mirror.KAFKA_VERSIONS)
def test_tool_classes_are_in_the_jars(kafka_tarballs: dict[str, Path], tmp_path: Path, version: str) -> None:
    home = unpack(kafka_tarballs[version], version, tmp_path)
    classes = jar_classes(home)
    assert "kafka.Kafka" in classes
    for name, choices in TOOL_CLASSES.items():
        if release(version) < release(choices[0][0]):
            continue
        assert tool_class(version, name) in classes, (version, name)
    if kafka_mirror.kraft_only(version):
        # What the seed's role and smoke playbook call, and the ZooKeeper-mode authorizer, are gone in 4.x.
        for removed in (
            "kafka.admin.TopicCommand",
            "kafka.admin.ConfigCommand",
            "kafka.admin.AclCommand",
            "kafka.tools.ConsoleProducer",
            "kafka.tools.ConsoleConsumer",
            "kafka.security.authorizer.AclAuthorizer",
            "org.apache.zookeeper.ZooKeeper",
        ):
            assert removed not in classes, removed
        assert "org.apache.kafka.metadata.authorizer.StandardAuthorizer" in classes
