"""A real ZooKeeper + Kafka broker from the mirror's tarball, on 127.0.0.1, for integration tests.

Shared by the mirror test (every Kafka version of the mirror) and the streaming job's test (Kafka 3.0.0). The
fixtures that build or find the artifacts are in ``conftest.py`` beside this module.

    with start_cluster(tarball, version, workdir) as cluster:
        create_topics(cluster, {"twitch-chat": 2})
        ... cluster.bootstrap ...

Every process listens on 127.0.0.1 only and is stopped (the broker first, then ZooKeeper) when the block ends.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import IO

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaError

from scripts.mirror import kafka as kafka_mirror
from scripts.mirror.kafka_logging import logging_for

STARTUP_TIMEOUT_S = 300.0  # generous: the cores are shared with the molecule scenarios in make test
STOP_TIMEOUT_S = 30.0
# What every test broker has, in ZooKeeper or KRaft mode: one replica of the internal topics, no topic created on
# demand (as the kafka role configures it), no wait before the first consumer group rebalance.
SINGLE_BROKER_PROPERTIES = (
    "num.partitions=1\n"
    "auto.create.topics.enable=false\n"
    "offsets.topic.replication.factor=1\n"
    "transaction.state.log.replication.factor=1\n"
    "transaction.state.log.min.isr=1\n"
    "group.initial.rebalance.delay.ms=0\n"
)


def java() -> str:
    """The ``java`` on PATH (fails the test when there is none)."""
    found = shutil.which("java")
    if found is None:
        pytest.fail("java is not on PATH: the Kafka tarball needs a JVM to run")
    return found


def free_port() -> int:
    """A TCP port nothing listens on at the moment (on 127.0.0.1)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, for failure messages."""
    if not path.exists():
        return f"({path} was not written)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# Each admin or client tool -> (the first release in the mirror where the class applies, the class), oldest first.
# Checked against the mirror's jars by test_kafka_kraft.py (the class is in libs/ of every version it is picked for);
# "3.9" means the move happened after 3.6.2 and by 3.9.2 (3.7 and 3.8 are not in the mirror and were not checked).
TOOL_CLASSES: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "topics": (("3.0", "kafka.admin.TopicCommand"), ("3.9", "org.apache.kafka.tools.TopicCommand")),
        "configs": (("3.0", "kafka.admin.ConfigCommand"), ("4.0", "org.apache.kafka.tools.ConfigCommand")),
        "acls": (("3.0", "kafka.admin.AclCommand"), ("4.0", "org.apache.kafka.tools.AclCommand")),
        "console-producer": (("3.0", "kafka.tools.ConsoleProducer"), ("4.0", "org.apache.kafka.tools.ConsoleProducer")),
        "console-consumer": (
            ("3.0", "kafka.tools.ConsoleConsumer"),
            ("3.9", "org.apache.kafka.tools.consumer.ConsoleConsumer"),
        ),
        "consumer-groups": (
            ("3.0", "kafka.admin.ConsumerGroupCommand"),
            ("3.9", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"),
        ),
        "storage": (("3.0", "kafka.tools.StorageTool"),),
        "metadata-quorum": (("3.6", "org.apache.kafka.tools.MetadataQuorumCommand"),),
        "features": (("3.0", "kafka.admin.FeatureCommand"), ("3.6", "org.apache.kafka.tools.FeatureCommand")),
    }
)


def release(version: str) -> tuple[int, ...]:
    """``"3.9.2"`` -> ``(3, 9, 2)``, for comparing versions."""
    return tuple(int(part) for part in version.split("."))


def tool_class(version: str, tool: str) -> str:
    """The main class of ``tool`` (a key of ``TOOL_CLASSES``) in Kafka ``version``."""
    picked = [main for since, main in TOOL_CLASSES[tool] if release(since) <= release(version)]
    if not picked:
        raise ValueError(f"kafka {version} has no {tool} tool in TOOL_CLASSES")
    return picked[-1]


def run_tool(
    home: Path, version: str, tool: str, *args: str, stdin: str | None = None, timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run ``tool`` of the unpacked Kafka ``version`` at ``home`` with the tools' logging config (no check)."""
    logging = logging_for(version)
    command = [
        java(),
        "-Xmx256m",
        logging.jvm_flag(home / "config" / logging.tools),
        "-cp",
        f"{home / 'libs'}/*",
        tool_class(version, tool),
        *args,
    ]
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout_s, check=False)


@dataclass
class JavaProcess:
    name: str
    process: subprocess.Popen[bytes]
    output: Path
    handle: IO[bytes]

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"{self.name} exited with {code} while starting; its output:\n{tail(self.output)}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        self.handle.close()


def start_java(name: str, home: Path, logs: Path, main_class: str, properties: Path, *, version: str) -> JavaProcess:
    """Start ``main_class`` from the tarball's ``libs/`` with its broker logging config; output to ``logs/<name>.out``.

    ``version`` is the tarball's Kafka version: it says which logging configuration (log4j 1.x or Log4j 2) it has.
    """
    output = logs / f"{name}.out"
    handle = output.open("wb")
    logging = logging_for(version)
    command = [
        java(),
        "-Xms128m",
        "-Xmx512m",
        logging.jvm_flag(home / "config" / logging.broker),
        f"-Dkafka.logs.dir={logs / name}",
        "-cp",
        f"{home / 'libs'}/*",
        main_class,
        str(properties),
    ]
    process = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    return JavaProcess(name, process, output, handle)


def wait_for_zookeeper(zookeeper: JavaProcess, port: int) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        zookeeper.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as connection:
                connection.sendall(b"srvr")
                if b"Zookeeper version" in connection.recv(4096):
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"ZooKeeper did not answer 'srvr' on 127.0.0.1:{port}; its output:\n{tail(zookeeper.output)}")


def wait_for_broker(broker: JavaProcess, bootstrap: str) -> None:
    # A metadata request through the consumer: KafkaAdminClient.describe_cluster() of kafka-python 3.0.x expects
    # DescribeCluster v1 fields (endpoint_type) and raises KeyError against a 3.0.0 broker.
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        broker.check_alive()
        try:
            consumer = KafkaConsumer(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
            try:
                consumer.topics()
                return
            finally:
                consumer.close()
        except (KafkaError, OSError) as error:
            last_error = error
        time.sleep(1)
    pytest.fail(f"broker at {bootstrap} never answered metadata ({last_error!r}); output:\n{tail(broker.output)}")


@dataclass(frozen=True)
class Cluster:
    version: str
    home: Path
    bootstrap: str
    logs: Path


@contextmanager
def start_cluster(tarball: Path, version: str, base: Path) -> Iterator[Cluster]:
    """Unpack ``tarball`` (Kafka ``version``) under ``base`` and run ZooKeeper + one broker until the block ends.

    The broker does not create topics on demand (``auto.create.topics.enable=false``, as the kafka role
    configures it): create them with :func:`create_topics`.
    """
    with tarfile.open(tarball) as tar:
        tar.extractall(base, filter="data")
    home = base / f"kafka_{kafka_mirror.SCALA_VERSION}-{version}"
    logs = base / "logs"
    logs.mkdir()

    zk_port, broker_port = free_port(), free_port()
    zookeeper_properties = base / "zookeeper.properties"
    zookeeper_properties.write_text(
        f"dataDir={base / 'zookeeper'}\n"
        f"clientPort={zk_port}\n"
        "clientPortAddress=127.0.0.1\n"
        "maxClientCnxns=0\n"
        "admin.enableServer=false\n"
    )
    server_properties = base / "server.properties"
    server_properties.write_text(
        "broker.id=0\n"
        f"listeners=PLAINTEXT://127.0.0.1:{broker_port}\n"
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}\n"
        f"log.dirs={base / 'kafka-logs'}\n"
        f"zookeeper.connect=127.0.0.1:{zk_port}\n"
        "zookeeper.connection.timeout.ms=30000\n" + SINGLE_BROKER_PROPERTIES
    )

    started: list[JavaProcess] = []
    try:
        zookeeper = start_java(
            "zookeeper",
            home,
            logs,
            "org.apache.zookeeper.server.quorum.QuorumPeerMain",
            zookeeper_properties,
            version=version,
        )
        started.append(zookeeper)
        wait_for_zookeeper(zookeeper, zk_port)
        broker = start_java("kafka", home, logs, "kafka.Kafka", server_properties, version=version)
        started.append(broker)
        bootstrap = f"127.0.0.1:{broker_port}"
        wait_for_broker(broker, bootstrap)
        yield Cluster(version, home, bootstrap, logs)
    finally:
        for process in reversed(started):  # the broker first, then ZooKeeper
            process.stop()


def create_topics(cluster: Cluster, topics: Mapping[str, int], timeout_s: float = 60.0) -> None:
    """Create each topic (name -> partitions, replication 1) and wait until the broker reports its partitions."""
    from kafka.admin import KafkaAdminClient, NewTopic  # noqa: PLC0415 - only the tests that create topics need it

    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, request_timeout_ms=30_000)
    try:
        admin.create_topics([NewTopic(name, partitions, 1) for name, partitions in topics.items()],
                            timeout_ms=30_000)
    finally:
        admin.close()
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            missing = {name for name, partitions in topics.items()
                       if len(consumer.partitions_for_topic(name) or ()) != partitions}
            if not missing:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"topics {sorted(missing)} did not get their partitions on {cluster.bootstrap} "
                            f"within {timeout_s:.0f}s")
            time.sleep(0.5)
            consumer.topics()  # refresh the metadata
    finally:
        consumer.close()
