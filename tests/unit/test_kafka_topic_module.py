"""The kafka role's kafka_topic module: reading TopicCommand's describe output of Kafka 3.0 and 3.6.

The describe lines are what the two releases print (captured on the test bed); the module's create/alter logic is
exercised against real brokers by the molecule scenarios.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

MODULE_PATH = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "kafka" / "library" / "kafka_topic.py"
spec = importlib.util.spec_from_file_location("kafka_topic", MODULE_PATH)
kafka_topic = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kafka_topic)

DESCRIBE = (
    "Topic: a.b\tTopicId: qMCB7cwqROOV467MHPtb6g\tPartitionCount: 2\tReplicationFactor: 3\t"
    "Configs: cleanup.policy=compact,delete,retention.ms=2000\n"
    "\tTopic: a.b\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\n"
    "\tTopic: a.b\tPartition: 1\tLeader: 2\tReplicas: 2,3,1\tIsr: 2,3,1\n"
    "Topic: axb\tTopicId: JDIokWmtTO2-5eT97Cmixw\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: \n"
    "\tTopic: axb\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\n"
)


def test_describe_is_read_for_exactly_the_named_topic() -> None:
    # --topic is a regex: "a.b" also matches "axb", which must not be mistaken for it.
    assert kafka_topic.parse_describe("a.b", DESCRIBE) == {
        "name": "a.b",
        "partitions": 2,
        "replication_factor": 3,
        "configs": {"cleanup.policy": "compact,delete", "retention.ms": "2000"},
    }
    assert kafka_topic.parse_describe("axb", DESCRIBE)["configs"] == {}
    assert kafka_topic.parse_describe("missing", DESCRIBE) is None
    assert kafka_topic.parse_describe("a.b", "") is None  # --if-exists prints nothing for a missing topic


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("segment.bytes=1073741824", {"segment.bytes": "1073741824"}),
        ("cleanup.policy=compact,delete", {"cleanup.policy": "compact,delete"}),
        ("a=1,cleanup.policy=compact,delete,b=2", {"a": "1", "cleanup.policy": "compact,delete", "b": "2"}),
    ],
)
def test_configs_keep_values_that_hold_commas(text: str, expected: dict[str, str]) -> None:
    assert kafka_topic.parse_configs(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "true"), (False, "false"), (604800000, "604800000"), (["compact", "delete"], "compact,delete"),
     ("0.5", "0.5")],
)
def test_yaml_values_become_what_kafka_expects(value: object, expected: str) -> None:
    assert kafka_topic.config_value(value) == expected
