"""A single Kafka node in KRaft combined mode (broker and controller in one JVM) from the mirror's tarball.

What a role does on a fresh host, in order: unpack, write ``server.properties``, ``kafka-storage format`` the log
directory with a cluster id, start ``kafka.Kafka``. Shared by the KRaft tests; the ZooKeeper-mode cluster and the
tool runner are in ``kafka_local.py``.

    home = unpack(tarball, version, base)
    node = kraft_node(home, version, base)
    format_storage(node, node.cluster_id)
    with start_kraft(node):
        ... node.bootstrap ...

Both listeners are on 127.0.0.1 at free ports; the node is stopped when the block ends.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scripts.mirror import kafka as kafka_mirror
from tests.integration.kafka_local import SINGLE_BROKER_PROPERTIES, free_port, run_tool, start_java, wait_for_broker

NODE_ID = 1
# The PLAINTEXT listeners authenticate nobody: ANONYMOUS is the principal there, made a super user so that the
# admin tools may write ACLs while StandardAuthorizer (the KRaft authorizer) is on.
SUPER_USER = "User:ANONYMOUS"
# Log4j 2's own status lines (a configuration it cannot read, say): "<ISO time> <thread> ERROR|WARN <message>" on the
# console, unlike the configured pattern "[%d] %p %m (%c)".
LOG4J2_STATUS = re.compile(r"^\d{4}-\d\d-\d\dT\S+ \S+ (?:ERROR|WARN) .*$", re.MULTILINE)


@dataclass(frozen=True)
class KraftNode:
    version: str
    home: Path
    properties: Path
    data: Path
    logs: Path
    bootstrap: str
    controller: str
    cluster_id: str


def log4j2_status_problems(output: str) -> list[str]:
    """The lines in a JVM's console ``output`` where Log4j 2 reports a problem with its own configuration."""
    return LOG4J2_STATUS.findall(output)


def unpack(tarball: Path, version: str, base: Path) -> Path:
    """Extract the mirror's tarball of Kafka ``version`` under ``base``; return its top directory."""
    with tarfile.open(tarball) as tar:
        tar.extractall(base, filter="data")
    return base / f"kafka_{kafka_mirror.SCALA_VERSION}-{version}"


def random_uuid(home: Path, version: str) -> str:
    """A cluster id from ``kafka-storage random-uuid``."""
    result = run_tool(home, version, "storage", "random-uuid")
    if result.returncode != 0:
        raise RuntimeError(f"StorageTool random-uuid exited {result.returncode}: {result.stderr}")
    return result.stdout.strip()


def kraft_node(home: Path, version: str, base: Path) -> KraftNode:
    """Write a combined-mode ``server.properties`` under ``base`` (a static single-voter quorum)."""
    broker_port, controller_port = free_port(), free_port()
    data, logs = base / "kraft-data", base / "logs"
    logs.mkdir(exist_ok=True)
    properties = base / "server.properties"
    properties.write_text(
        "process.roles=broker,controller\n"
        f"node.id={NODE_ID}\n"
        f"controller.quorum.voters={NODE_ID}@127.0.0.1:{controller_port}\n"
        f"listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}\n"
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}\n"
        "controller.listener.names=CONTROLLER\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n"
        f"log.dirs={data}\n"
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
        f"super.users={SUPER_USER}\n" + SINGLE_BROKER_PROPERTIES
    )
    return KraftNode(
        version=version,
        home=home,
        properties=properties,
        data=data,
        logs=logs,
        bootstrap=f"127.0.0.1:{broker_port}",
        controller=f"127.0.0.1:{controller_port}",
        cluster_id=random_uuid(home, version),
    )


def format_storage(node: KraftNode, cluster_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """``kafka-storage format -t CLUSTER_ID -c server.properties EXTRA...`` (the result, unchecked)."""
    return run_tool(node.home, node.version, "storage", "format", "-t", cluster_id, "-c", str(node.properties), *extra)


@contextmanager
def start_kraft(node: KraftNode) -> Iterator[KraftNode]:
    """Run ``kafka.Kafka`` on the node's formatted log directory until the block ends."""
    process = start_java("kafka", node.home, node.logs, "kafka.Kafka", node.properties, version=node.version)
    try:
        wait_for_broker(process, node.bootstrap)
        yield node
    finally:
        process.stop()
