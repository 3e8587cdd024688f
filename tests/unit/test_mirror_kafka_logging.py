"""scripts/mirror/kafka.py and kafka_logging.py: which logging each Kafka line ships and the checks on what Maven
resolved. The tarballs themselves are built and run by tests/integration (test_mirror_kafka.py, test_kafka_kraft.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.mirror import kafka
from scripts.mirror.kafka_logging import LOG4J1, LOG4J2, logging_for

# What Maven's dependency:list says for the logging part of each line (group:artifact:type:version:scope).
RESOLVED_3 = [
    "org.apache.kafka:kafka_2.13:jar:3.9.2:compile",
    "org.slf4j:slf4j-api:jar:1.7.36:runtime",
    "ch.qos.reload4j:reload4j:jar:1.2.25:compile",
    "org.slf4j:slf4j-reload4j:jar:1.7.36:compile",
]
RESOLVED_4 = [
    "org.apache.kafka:kafka_2.13:jar:4.4.0:compile",
    "org.slf4j:slf4j-api:jar:1.7.36:runtime",
    "org.apache.logging.log4j:log4j-api:jar:2.25.5:runtime",
    "org.apache.logging.log4j:log4j-core:jar:2.25.5:runtime",
    "org.apache.logging.log4j:log4j-slf4j-impl:jar:2.25.5:compile",
    "org.apache.logging.log4j:log4j-1.2-api:jar:2.25.5:compile",
]


def test_every_version_has_its_logging_bindings() -> None:
    assert set(kafka.LOG_BINDINGS) == set(kafka.KAFKA_VERSIONS)
    for version in kafka.KAFKA_VERSIONS:
        groups = {coordinate.split(":")[0] for coordinate in kafka.LOG_BINDINGS[version]}
        expected = (
            {"org.apache.logging.log4j"} if kafka.kraft_only(version) else {"org.slf4j", "log4j", "ch.qos.reload4j"}
        )
        assert groups <= expected, version


def test_kraft_only_and_log4j2_start_with_kafka_4() -> None:
    assert [kafka.kraft_only(v) for v in ("3.0.0", "3.6.2", "3.9.2", "4.0.1", "4.4.0")] == [False] * 3 + [True] * 2
    assert logging_for("3.9.2") is LOG4J1
    assert logging_for("4.0.1") is LOG4J2
    assert logging_for("4.4.0") is LOG4J2
    with pytest.raises(ValueError, match="'trunk'"):
        logging_for("trunk")


def test_jvm_flags_name_the_file_the_way_each_log4j_reads_it() -> None:
    path = Path("/opt/kafka/config")
    assert LOG4J1.jvm_flag(path / LOG4J1.broker) == "-Dlog4j.configuration=file:/opt/kafka/config/log4j.properties"
    assert LOG4J2.jvm_flag(path / LOG4J2.tools) == "-Dlog4j2.configurationFile=/opt/kafka/config/tools-log4j2.yaml"


def test_log4j2_configs_write_the_release_files_and_tools_log_to_stderr() -> None:
    broker = yaml.safe_load(LOG4J2.broker_text)["Configuration"]
    files = {appender["fileName"] for appender in broker["Appenders"]["RollingFile"]}
    assert files == {
        f"${{logDir}}/{name}"
        for name in (
            "server.log",
            "state-change.log",
            "kafka-request.log",
            "log-cleaner.log",
            "controller.log",
            "kafka-authorizer.log",
        )
    }
    assert {"name": "logDir", "value": "${sys:kafka.logs.dir:-logs}"} in broker["Properties"]["Property"]
    appenders = {a["name"] for a in broker["Appenders"]["RollingFile"]} | {broker["Appenders"]["Console"]["name"]}
    for logger in broker["Loggers"]["Logger"]:
        if "AppenderRef" in logger:
            assert logger["AppenderRef"]["ref"] in appenders, logger
            assert logger["additivity"] is False, logger
    tools = yaml.safe_load(LOG4J2.tools_text)["Configuration"]
    assert tools["Appenders"]["Console"]["target"] == "SYSTEM_ERR"
    assert tools["Loggers"]["Root"]["level"] == "WARN"


def test_check_logging_accepts_the_binding_at_its_partners_version() -> None:
    kafka._check_logging("3.9.2", RESOLVED_3)
    kafka._check_logging("4.4.0", RESOLVED_4)


@pytest.mark.parametrize(
    ("resolved", "message"),
    [
        ([c for c in RESOLVED_3 if "slf4j-reload4j" not in c], "one slf4j binding"),
        ([*RESOLVED_3, "org.slf4j:slf4j-log4j12:jar:1.7.36:compile"], "one slf4j binding"),
        ([c.replace("slf4j-reload4j:jar:1.7.36", "slf4j-reload4j:jar:2.0.9") for c in RESOLVED_3], "slf4j-api"),
        ([c.replace("log4j-slf4j-impl:jar:2.25.5", "log4j-slf4j-impl:jar:2.24.3") for c in RESOLVED_4], "log4j-core"),
        ([c.replace("slf4j-api:jar:1.7.36", "slf4j-api:jar:2.0.17") for c in RESOLVED_4], "log4j-slf4j2-impl"),
    ],
)
def test_check_logging_refuses_what_would_not_log(resolved: list[str], message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        kafka._check_logging("9.9.9", resolved)


def test_tarball_path_mirrors_the_apache_archive() -> None:
    assert kafka.tarball_path(Path("/m"), "4.4.0") == Path("/m/apache/kafka/4.4.0/kafka_2.13-4.4.0.tgz")
