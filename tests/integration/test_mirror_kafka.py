"""The mirror's Kafka tarballs run a real ZooKeeper + broker (each version that has ZooKeeper mode, 3.9 included);
the Spark connector jars match the manifest. Kafka 4.x (KRaft only) runs in test_kafka_kraft.py.

Needs ``mvn`` and ``java`` on PATH (the build resolves from Maven Central into ~/.m2, a no-op once the mirror is
built) and kafka-python. Every process started here listens on 127.0.0.1 only and is stopped on teardown.
"""

from __future__ import annotations

import hashlib
import importlib.util
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from scripts.mirror import connectors, manifest
from scripts.mirror import kafka as kafka_mirror
from scripts.mirror.kafka_logging import logging_for
from scripts.paths import mirror_root
from tests.integration.kafka_local import Cluster, run_tool, start_cluster, tail

pytestmark = pytest.mark.integration

TOPIC = "twitch-chat"
ZOOKEEPER_VERSIONS = tuple(version for version in kafka_mirror.KAFKA_VERSIONS if not kafka_mirror.kraft_only(version))


@pytest.fixture(scope="module", params=ZOOKEEPER_VERSIONS)
def cluster(
    request: pytest.FixtureRequest, kafka_tarballs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    version: str = request.param
    with start_cluster(kafka_tarballs[version], version, tmp_path_factory.mktemp(f"kafka-{version}")) as running:
        yield running


def test_kafka_tarballs_match_their_sha512(kafka_tarballs: dict[str, Path]) -> None:
    root = mirror_root()
    for version, tarball in kafka_tarballs.items():
        assert tarball == kafka_mirror.tarball_path(root, version)
        expected, name = (tarball.parent / f"{tarball.name}.sha512").read_text().split()
        assert name == tarball.name
        assert hashlib.sha512(tarball.read_bytes()).hexdigest() == expected
        assert manifest.recorded(root, tarball) == expected


def test_kafka_build_is_idempotent(kafka_tarballs: dict[str, Path]) -> None:
    before = {version: path.stat().st_mtime_ns for version, path in kafka_tarballs.items()}
    again = kafka_mirror.build(mirror_root())
    assert again == list(kafka_tarballs.values())
    assert {version: path.stat().st_mtime_ns for version, path in kafka_tarballs.items()} == before


@pytest.mark.parametrize("version", kafka_mirror.KAFKA_VERSIONS)
def test_kafka_tarball_layout(kafka_tarballs: dict[str, Path], version: str) -> None:
    top = f"kafka_{kafka_mirror.SCALA_VERSION}-{version}"
    with tarfile.open(kafka_tarballs[version]) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names)
    assert all(name == top or name.startswith(f"{top}/") for name in names)
    assert {(member.uid, member.gid, member.mtime) for member in members} == {(0, 0, kafka_mirror.TAR_MTIME)}
    logging = logging_for(version)
    for required in ("LICENSE", "NOTICE", f"config/{logging.broker}", f"config/{logging.tools}", f"libs/{top}.jar"):
        assert f"{top}/{required}" in names, required
    assert len([name for name in names if name.startswith(f"{top}/config/")]) == 2
    jars = {name.rsplit("/", 1)[1] for name in names if name.startswith(f"{top}/libs/")}
    for prefix in ("kafka-clients-", "kafka-tools-", "kafka-raft-", "kafka-metadata-", "kafka-storage-"):
        assert f"{prefix}{version}.jar" in jars, prefix
    for prefix in ("scala-library-2.13.", "slf4j-api-", "jackson-databind-"):
        assert any(jar.startswith(prefix) for jar in jars), prefix
    bundles_zookeeper = [
        any(jar.startswith(prefix) for jar in jars) for prefix in ("zookeeper-3.", "zookeeper-jute-3.")
    ]
    assert bundles_zookeeper == [not kafka_mirror.kraft_only(version)] * 2
    for coordinate in kafka_mirror.LOG_BINDINGS[version]:
        _group, artifact, artifact_version = coordinate.split(":")
        assert f"{artifact}-{artifact_version}.jar" in jars


def test_broker_creates_topic_and_round_trips_a_message(cluster: Cluster) -> None:
    created = run_tool(
        cluster.home, cluster.version, "topics", "--bootstrap-server", cluster.bootstrap, "--create", "--topic", TOPIC,
        "--partitions", "1", "--replication-factor", "1",
    )  # fmt: skip
    assert created.returncode == 0, f"TopicCommand failed:\n{created.stdout}\n{created.stderr}"
    assert f"Created topic {TOPIC}" in created.stdout

    payload = f"kafka {cluster.version}: Kappa 123".encode()
    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks="all")
    try:
        metadata = producer.send(TOPIC, key=b"chatter", value=payload).get(timeout=30)
    finally:
        producer.close(timeout=10)
    assert metadata.topic == TOPIC

    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        partition = TopicPartition(TOPIC, metadata.partition)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        received: list[bytes] = []
        deadline = time.monotonic() + 60
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                received.extend(record.value for record in records)
    finally:
        consumer.close()
    assert received == [payload]

    server_log = cluster.logs / "kafka" / "server.log"
    assert "started (kafka.server.KafkaServer)" in server_log.read_text(), tail(server_log)


def test_connector_jars_match_the_manifest(connector_jars: list[Path]) -> None:
    root = mirror_root()
    listing = connectors.list_path(root)
    assert connector_jars[-1] == listing
    relative = listing.read_text().splitlines()
    assert len(relative) == 6
    assert [root / "maven2" / rel for rel in relative] == connector_jars[:-1]
    artifacts = [rel.split("/")[-3] for rel in relative]
    assert artifacts == [
        f"spark-sql-kafka-0-10_{connectors.SPARK_SCALA_VERSION}",
        f"spark-token-provider-kafka-0-10_{connectors.SPARK_SCALA_VERSION}",
        "kafka-clients",
        "commons-pool2",
        f"delta-spark_{connectors.SPARK_SCALA_VERSION}",
        "delta-storage",
    ]
    assert relative[-2].endswith(f"/{connectors.DELTA_VERSION}/{artifacts[-2]}-{connectors.DELTA_VERSION}.jar")
    assert relative[0].endswith(f"/{connectors.SPARK_VERSION}/{artifacts[0]}-{connectors.SPARK_VERSION}.jar")
    for path in [*connector_jars]:
        digest = manifest.recorded(root, path)
        assert digest is not None, f"{path} is missing or does not match {manifest.MANIFEST}"
        assert (path.parent / f"{path.name}.sha512").read_text().split()[0] == digest
    for jar in connector_jars[:-1]:
        with zipfile.ZipFile(jar) as archive:
            assert archive.testzip() is None, jar
    assert connectors.build(root) == connector_jars


def test_pyspark_ships_what_the_connector_jars_need() -> None:
    spec = importlib.util.find_spec("pyspark")
    if spec is None or spec.origin is None:
        pytest.skip("pyspark is not installed in this interpreter")
    jars = {path.name for path in (Path(spec.origin).parent / "jars").glob("*.jar")}
    if not any(name == f"spark-core_{connectors.SPARK_SCALA_VERSION}-{connectors.SPARK_VERSION}.jar" for name in jars):
        pytest.skip(f"the installed pyspark is not {connectors.SPARK_VERSION}")
    for prefix in ("lz4-java-", "snappy-java-", "zstd-jni-", "slf4j-api-", "jsr305-", "hadoop-client-runtime-"):
        assert any(name.startswith(prefix) for name in jars), prefix
    # and what Delta's two jars use (its catalog-only dependencies aside)
    for prefix in ("jackson-databind-", "parquet-hadoop-", "RoaringBitmap-", "antlr4-runtime-"):
        assert any(name.startswith(prefix) for name in jars), prefix
    for prefix in ("kafka-clients-", "commons-pool2-", "spark-sql-kafka-", "spark-token-provider-kafka-", "delta-"):
        assert not any(name.startswith(prefix) for name in jars), prefix


def test_connector_versions_are_read_from_the_pom_chain() -> None:
    def pom(artifact: str, *dependencies: tuple[str, str, str], extra: str = "") -> str:
        listed = "".join(
            f"<dependency><groupId>{group}</groupId><artifactId>{name}</artifactId><version>{version}</version>"
            "</dependency>"
            for group, name, version in dependencies
        )
        return (
            f'<project xmlns="http://maven.apache.org/POM/4.0.0">{extra}<artifactId>{artifact}</artifactId>'
            f"<dependencies>{listed}</dependencies></project>"
        )

    parent = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><groupId>org.apache.spark</groupId>'
        "<artifactId>spark-parent_2.13</artifactId><version>4.2.0</version>"
        "<properties><kafka.version>3.9.2</kafka.version><pool.version>2.13.1</pool.version></properties>"
        "<dependencyManagement><dependencies><dependency><groupId>org.apache.commons</groupId>"
        "<artifactId>commons-pool2</artifactId><version>${pool.version}</version></dependency>"
        "</dependencies></dependencyManagement></project>"
    )
    link = (
        "<parent><groupId>org.apache.spark</groupId><artifactId>spark-parent_2.13</artifactId>"
        "<version>4.2.0</version></parent>"
    )
    sql_kafka = "spark-sql-kafka-0-10_2.13"
    token = ("org.apache.spark", "spark-token-provider-kafka-0-10_2.13", "4.2.0")
    pool = ("org.apache.commons", "commons-pool2", "2.13.1")
    clients = ("org.apache.kafka", "kafka-clients", "3.9.2")
    expected = [token, clients, pool]

    assert connectors.parse_declared([pom(sql_kafka, clients, pool, token)], "literal") == expected
    interpolated = pom(
        sql_kafka,
        (token[0], token[1], "${project.version}"),
        (*clients[:2], "${kafka.version}"),
        (*pool[:2], ""),
        extra=link,
    )
    assert connectors.parse_declared([interpolated, parent], "interpolated") == expected
    with pytest.raises(RuntimeError, match=r"orphan .*org\.apache\.kafka:kafka-clients .*'\$\{kafka\.version\}'"):
        connectors.parse_declared([pom(sql_kafka, token, pool, (*clients[:2], "${kafka.version}"))], "orphan")
    with pytest.raises(RuntimeError, match=r"commons-pool2"):
        connectors.parse_declared([pom(sql_kafka, token, clients)], "no pool")
