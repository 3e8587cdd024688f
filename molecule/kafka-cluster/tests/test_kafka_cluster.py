"""The 3-node cluster: the ensemble has a leader, messages cross hosts, and acks=all writes survive a broker down.

The checks every Kafka-tier host passes are in ../../shared/tests/test_kafka_tier.py (see molecule.yml). The
tests here drive several hosts at once, so they run from the first host only.
"""

from __future__ import annotations

import functools
import os
import time

import pytest
import testinfra

RUN_CLASS = "/usr/local/bin/kafka-run-class"
TOPIC = "twitter"  # declared with replication factor 3; min.insync.replicas is 2


@functools.cache
def node(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


@functools.cache
def address(name: str) -> str:
    return node(name).ansible.get_variables()["ansible_host"]


def brokers(host) -> list[str]:
    return host.ansible.get_variables()["groups"]["kafka"]


def bootstrap(names: list[str]) -> str:
    return ",".join(f"{address(name)}:9092" for name in names)


ADMIN_CONFIG = "/etc/kafka/admin.properties"  # the admin identity's TLS and SCRAM settings (root only)
CONFIG_FLAGS = {"kafka.tools.ConsoleProducer": "--producer.config", "kafka.tools.ConsoleConsumer": "--consumer.config"}


def run_class(host, *args: str, stdin: str | None = None):
    # Kafka's tools only: ZooKeeper's FourLetterWordMain takes no client settings and prints its usage instead.
    if args[0].startswith("kafka.") and host.file(ADMIN_CONFIG).exists:
        args = (*args, CONFIG_FLAGS.get(args[0], "--command-config"), ADMIN_CONFIG)
    command = RUN_CLASS + " %s" * len(args)
    if stdin is not None:
        return host.run("printf '%%s\\n' %s | " + command, stdin, *args)
    return host.run(command, *args)


def produce(host, servers: str, messages: list[str]) -> None:
    result = run_class(host, "kafka.tools.ConsoleProducer", "--bootstrap-server", servers, "--topic", TOPIC,
                       "--producer-property", "acks=all", "--request-timeout-ms", "30000",
                       stdin="\n".join(messages))
    assert result.rc == 0 and "ERROR" not in result.stderr, f"acks=all produce failed: {result.stderr}"


def consume(host, servers: str) -> list[str]:
    result = run_class(host, "kafka.tools.ConsoleConsumer", "--bootstrap-server", servers, "--topic", TOPIC,
                       "--partition", "0", "--offset", "earliest", "--timeout-ms", "10000")
    assert result.rc == 0, result.stderr
    return result.stdout.splitlines()


def isr(host, servers: str) -> list[str]:
    described = run_class(host, "kafka.admin.TopicCommand", "--bootstrap-server", servers, "--describe",
                          "--topic", TOPIC)
    for line in described.stdout.splitlines():
        fields = dict(part.split(":", 1) for part in line.strip().split("\t") if ":" in part)
        if fields.get("Partition", "").strip() == "0":
            return fields["Isr"].strip().split(",")
    raise AssertionError(f"no partition 0 in: {described.stdout}{described.stderr}")


@pytest.fixture
def first(host):
    names = brokers(host)
    if host.ansible.get_variables()["inventory_hostname"] != names[0]:
        pytest.skip("drives the whole cluster from the first host")
    return names


def test_ensemble_has_one_leader_and_the_rest_follow(host, first):
    modes, answers = [], []
    for name in host.ansible.get_variables()["groups"]["zookeeper"]:
        srvr = run_class(host, "org.apache.zookeeper.client.FourLetterWordMain", address(name), "2181", "srvr")
        modes += [line.split(":", 1)[1].strip() for line in srvr.stdout.splitlines() if line.startswith("Mode:")]
        answers.append(f"{name}: rc {srvr.rc} {srvr.stdout[-300:]} {srvr.stderr[-300:]}")
    assert sorted(modes) == ["follower", "follower", "leader"], answers


def test_message_produced_on_one_host_is_consumed_on_another(host, first):
    producer, *consumers = first
    message = f"cluster round trip {time.time_ns()}"
    produce(node(producer), bootstrap([producer]), [message])
    for consumer in consumers:
        # Each consumer bootstraps from another broker than the producer's: advertised listeners must be right.
        assert message in consume(node(consumer), bootstrap([consumer])), f"{producer} -> {consumer}"


def test_acks_all_writes_survive_one_broker_down(host, first):
    producer, consumer, stopped = first
    alive = bootstrap([producer, consumer])
    messages = [f"one broker down {time.time_ns()} #{index}" for index in range(1, 21)]
    node(stopped).check_output("systemctl stop kafka")
    try:
        deadline = time.monotonic() + 60
        while len(isr(node(producer), alive)) != 2 and time.monotonic() < deadline:
            time.sleep(2)
        assert len(isr(node(producer), alive)) == 2, "the stopped broker should have left the ISR"
        produce(node(producer), alive, messages)
        consumed = consume(node(consumer), alive)
        assert not [m for m in messages if m not in consumed], "acks=all writes lost with one broker down"
    finally:
        node(stopped).check_output("systemctl start kafka")
        deadline = time.monotonic() + 180
        while len(isr(node(producer), alive)) != 3 and time.monotonic() < deadline:
            time.sleep(3)
    assert len(isr(node(producer), alive)) == 3, f"{stopped} did not rejoin the ISR"
    # The restarted broker has every message too.
    consumed = consume(node(stopped), bootstrap([stopped]))
    assert not [m for m in messages if m not in consumed]
