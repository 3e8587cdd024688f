"""The all-in-one host: a message makes the round trip, and an upgrade keeps the topic and its messages.

The checks every Kafka-tier host passes are in ../../shared/tests/test_kafka_tier.py (see molecule.yml).
"""

from __future__ import annotations

import json
import time

import pytest

RUN_CLASS = "/usr/local/bin/kafka-run-class"
UPGRADE_STATE = "/var/lib/molecule-upgrade.json"


ADMIN_CONFIG = "/etc/kafka/admin.properties"  # the admin identity's TLS and SCRAM settings (root only)
CONFIG_FLAGS = {"kafka.tools.ConsoleProducer": "--producer.config", "kafka.tools.ConsoleConsumer": "--consumer.config"}


def run_class(host, *args: str, stdin: str | None = None):
    # Kafka's tools only: ZooKeeper's FourLetterWordMain takes no client settings and prints its usage instead.
    if args[0].startswith("kafka.") and host.file(ADMIN_CONFIG).exists:
        args = (*args, CONFIG_FLAGS.get(args[0], "--command-config"), ADMIN_CONFIG)
    command = RUN_CLASS + " %s" * len(args)
    if stdin is not None:
        command = "printf '%%s\\n' %s | " + command
        return host.run(command, stdin, *args)
    return host.run(command, *args)


def bootstrap(host) -> str:
    return f"{host.ansible.get_variables()['ansible_host']}:9092"


def consume_all(host, topic: str) -> list[str]:
    result = run_class(host, "kafka.tools.ConsoleConsumer", "--bootstrap-server", bootstrap(host), "--topic", topic,
                       "--partition", "0", "--offset", "earliest", "--timeout-ms", "10000")
    assert result.rc == 0, result.stderr
    return result.stdout.splitlines()


def test_message_produced_is_consumed(host):
    message = f"aio round trip {time.time_ns()}"
    produced = run_class(host, "kafka.tools.ConsoleProducer", "--bootstrap-server", bootstrap(host),
                         "--topic", "twitch-chat", "--producer-property", "acks=all", stdin=message)
    assert produced.rc == 0 and "ERROR" not in produced.stderr, produced.stderr
    assert message in consume_all(host, "twitch-chat")


def test_upgrade_kept_the_topic_and_its_messages(host):
    state_file = host.file(UPGRADE_STATE)
    if not state_file.exists:
        pytest.skip("before the upgrade (the side effect writes the state)")
    state = json.loads(state_file.content_string)
    assert state["from"] != state["to"]
    # Same topic (its id survives only if the data directory and ZooKeeper's data did) ...
    described = run_class(host, "kafka.admin.TopicCommand", "--bootstrap-server", bootstrap(host), "--describe",
                          "--topic", state["topic"])
    assert f"TopicId: {state['topic_id']}" in described.stdout, described.stdout
    # ... with every message written before the upgrade, read back by the new release.
    consumed = consume_all(host, state["topic"])
    missing = [message for message in state["messages"] if message not in consumed]
    assert not missing, f"lost in the upgrade from {state['from']} to {state['to']}: {missing}"
    # The old release stays on disk beside the new one (a rollback is a kafka_version change back).
    assert host.file(f"/opt/kafka/kafka_2.13-{state['from']}/libs").is_directory
