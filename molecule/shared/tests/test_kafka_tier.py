"""Checks every host of the Kafka tier passes, whatever the scenario (all-in-one or cluster).

Scenarios that converge the zookeeper and kafka roles pull this file in through their molecule.yml
(``verifier.additional_files_or_dirs``); their own tests add what is specific to them.
"""

from __future__ import annotations

import functools
import json
import os
import re

import pytest
import testinfra

RUN_CLASS = "/usr/local/bin/kafka-run-class"
UPGRADE_STATE = "/var/lib/molecule-upgrade.json"
ADMIN_CONFIG = "/etc/kafka/admin.properties"
DEFAULT_VERSION = "3.0.0"
DECLARED_TOPICS = {"twitch-chat": 1, "twitter": 1}  # the kafka role's default topics and their partitions


def variables(host) -> dict:
    return host.ansible.get_variables()


def members(host, group: str) -> list[str]:
    return variables(host)["groups"].get(group, [])


@functools.cache
def other_host(name: str):
    """Another host of the scenario, through molecule's inventory."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


@functools.cache
def address(name: str) -> str:
    # Molecule gives every platform its ansible_host; the roles advertise that address.
    return other_host(name).ansible.get_variables()["ansible_host"]


def in_group(host, group: str) -> bool:
    return variables(host)["inventory_hostname"] in members(host, group)


def run_class(host, *args: str):
    return host.run(RUN_CLASS + " %s" * len(args), *args)


def admin_args(host, flag: str = "--command-config") -> list[str]:
    """The admin identity's client settings (kafka_security sasl_ssl), none in plaintext mode."""
    return [flag, ADMIN_CONFIG] if host.file(ADMIN_CONFIG).exists else []


def protocol(host) -> str:
    return "SASL_SSL" if host.file(ADMIN_CONFIG).exists else "PLAINTEXT"


def expected_version(host) -> str:
    state = host.file(UPGRADE_STATE)
    return json.loads(state.content_string)["to"] if state.exists else DEFAULT_VERSION


def describe(host, topic: str) -> tuple[dict[str, str], list[dict[str, str]]]:
    """TopicCommand --describe: the summary fields and one dict per partition."""
    me = variables(host)["inventory_hostname"]
    result = run_class(host, "kafka.admin.TopicCommand", "--bootstrap-server", f"{address(me)}:9092",
                       "--describe", "--topic", topic, *admin_args(host))
    assert result.rc == 0, result.stderr
    summary, partitions = {}, []
    for line in result.stdout.splitlines():
        fields = dict(part.split(":", 1) for part in line.strip().split("\t") if ":" in part)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if fields.get("Topic") != topic:
            continue
        if "Partition" in fields:
            partitions.append(fields)
        else:
            summary.update(fields)
    return summary, partitions


@pytest.mark.parametrize(("service", "user", "group"), [("zookeeper", "zookeeper", "zookeeper"),
                                                        ("kafka", "kafka", "kafka")])
def test_service_is_enabled_and_runs_as_its_own_user(host, service, user, group):
    if not in_group(host, group):
        pytest.skip(f"not in group {group}")
    unit = host.service(service)
    assert unit.is_enabled
    assert unit.is_running
    pid = host.check_output(f"systemctl show -p MainPID --value {service}")
    assert host.check_output(f"ps -o user= -p {pid}") == user
    account = host.user(user)
    assert account.uid < 1000, "a system user"
    assert account.shell.endswith("nologin")


@pytest.mark.parametrize(("service", "group"), [("zookeeper", "zookeeper"), ("kafka", "kafka")])
def test_unit_restarts_on_failure_with_limits_and_java_home(host, service, group):
    if not in_group(host, group):
        pytest.skip(f"not in group {group}")
    shown = host.check_output(f"systemctl show -p Restart -p LimitNOFILE -p Environment -p ExecStart {service}")
    assert "Restart=on-failure" in shown
    assert "LimitNOFILE=100000" in shown
    java_home = re.search(r"JAVA_HOME=(\S+)", shown)
    assert java_home, shown
    assert host.file(f"{java_home.group(1)}/bin/java").exists
    # Heaps from the scenario's converge.yml reach the JVM.
    assert "-Xmx" in host.check_output(f"ps -o args= -p $(systemctl show -p MainPID --value {service})")


def test_zookeeper_listens_and_answers_ruok(host):
    if not in_group(host, "zookeeper"):
        pytest.skip("not in group zookeeper")
    assert host.socket("tcp://2181").is_listening
    me = variables(host)["inventory_hostname"]
    ruok = run_class(host, "org.apache.zookeeper.client.FourLetterWordMain", address(me), "2181", "ruok")
    assert ruok.stdout.strip() == "imok", ruok.stderr


def test_zookeeper_myid_follows_the_group(host):
    if not in_group(host, "zookeeper"):
        pytest.skip("not in group zookeeper")
    me = variables(host)["inventory_hostname"]
    expected = members(host, "zookeeper").index(me) + 1
    assert host.file("/var/lib/zookeeper/myid").content_string.strip() == str(expected)
    properties = host.file("/etc/zookeeper/zookeeper.properties").content_string
    assert "4lw.commands.whitelist=ruok,srvr,mntr" in properties
    ensemble = members(host, "zookeeper")
    if len(ensemble) > 1:
        for index, name in enumerate(ensemble, start=1):
            assert f"server.{index}={address(name)}:2888:3888" in properties


def test_broker_listens_and_advertises_its_address(host):
    if not in_group(host, "kafka"):
        pytest.skip("not in group kafka")
    assert host.socket("tcp://0.0.0.0:9092").is_listening
    me = variables(host)["inventory_hostname"]
    brokers = members(host, "kafka")
    properties = dict(
        line.split("=", 1) for line in host.file("/etc/kafka/server.properties").content_string.splitlines()
        if line and not line.startswith("#")
    )
    assert properties["broker.id"] == str(brokers.index(me) + 1)
    assert properties["listeners"] == f"{protocol(host)}://0.0.0.0:9092"
    assert properties["advertised.listeners"] == f"{protocol(host)}://{address(me)}:9092"
    zookeepers = [f"{address(name)}:2181" for name in members(host, "zookeeper")]
    assert properties["zookeeper.connect"] == ",".join(zookeepers)
    replication = min(3, len(brokers))
    assert properties["default.replication.factor"] == str(replication)
    assert properties["offsets.topic.replication.factor"] == str(replication)
    assert properties["transaction.state.log.replication.factor"] == str(replication)
    assert properties["min.insync.replicas"] == ("2" if len(brokers) >= 3 else "1")


def test_topics_exist_with_declared_partitions_and_replication(host):
    if not in_group(host, "kafka"):
        pytest.skip("not in group kafka")
    replication = min(3, len(members(host, "kafka")))
    for topic, partitions in DECLARED_TOPICS.items():
        summary, rows = describe(host, topic)
        assert summary.get("PartitionCount") == str(partitions), (topic, summary)
        assert summary.get("ReplicationFactor") == str(replication), (topic, summary)
        assert len(rows) == partitions
        for row in rows:
            assert len(row["Replicas"].split(",")) == replication, row
            assert len(row["Isr"].split(",")) == replication, f"{topic}: a replica is out of sync: {row}"


def test_release_in_use_is_linked_and_reports_its_version(host):
    if not (in_group(host, "kafka") or in_group(host, "zookeeper")):
        pytest.skip("not in the Kafka tier")
    version = expected_version(host)
    current = host.file("/opt/kafka/current")
    assert current.is_symlink
    assert current.linked_to == f"/opt/kafka/kafka_2.13-{version}"
    assert host.file(f"/opt/kafka/current/libs/kafka_2.13-{version}.jar").exists
    reported = run_class(host, "kafka.Kafka", "--version")
    assert reported.stdout.strip().startswith(version), reported.stdout + reported.stderr
    # The running services were restarted onto the release the link names.
    for service, group in (("kafka", "kafka"), ("zookeeper", "zookeeper")):
        if in_group(host, group):
            pid = host.check_output(f"systemctl show -p MainPID --value {service}")
            args = host.check_output(f"ps -o args= -p {pid}")
            if service == "zookeeper" and "/opt/zookeeper/" in args:
                continue  # a standalone ZooKeeper release (kafka-cluster's own tests check it)
            assert f"/opt/kafka/kafka_2.13-{version}/libs/*" in args
