"""Kafka broker tarballs assembled from Maven Central, laid out like the official ``kafka_2.13-<ver>.tgz``.

The Apache archive is out of reach, so for each version in ``KAFKA_VERSIONS`` Maven resolves
``org.apache.kafka:kafka_2.13`` and ``org.apache.kafka:kafka-tools`` with their runtime dependencies (strict
checksums, ``~/.m2`` as the cache) plus the logging jars the release ships (``LOG_BINDINGS``), and the result is
packed as ``apache/kafka/<ver>/kafka_2.13-<ver>.tgz``::

    kafka_2.13-<ver>/LICENSE, NOTICE          from the root (or META-INF/) of the kafka_2.13 jar
    kafka_2.13-<ver>/config/log4j.properties  3.x: broker logging, files under ${kafka.logs.dir}
    kafka_2.13-<ver>/config/tools-log4j.properties  3.x: command-line tools, WARN and above to stderr
    kafka_2.13-<ver>/config/log4j2.yaml       4.x: the same broker logging in Log4j 2's YAML, as 4.x releases ship
    kafka_2.13-<ver>/config/tools-log4j2.yaml 4.x: the same for the tools
    kafka_2.13-<ver>/libs/*.jar               the broker (and ZooKeeper up to 3.9), the admin tools, their dependencies

The logging files and the JVM flag that names them are in ``kafka_logging.py``.

What the tarball holds against the official release:

- 3.0.0: 48 jars -- kafka_2.13, kafka-clients, kafka-server-common, kafka-metadata, kafka-raft, kafka-storage(-api),
  kafka-tools, kafka-log4j-appender, zookeeper + zookeeper-jute 3.6.3, scala-library/-reflect 2.13.6, jackson
  2.12.3, yammer metrics-core 2.2.0, dropwizard metrics-core 4.1.12.1, log4j 1.2.17 + slf4j-log4j12 1.7.30, netty,
  zstd-jni, lz4-java, snappy-java, jopt-simple, argparse4j, commons-cli. Netty resolves to 4.1.63.Final (what
  ZooKeeper's pom asks for) where the official build may differ by a patch release.
- 3.6.2: 103 jars; kafka-tools pulls in connect-runtime (jetty, jersey, hk2) as the release ships it, and
  logging is reload4j 1.2.25 + slf4j-reload4j 1.7.36; ZooKeeper is 3.8.4.
- 3.9.2 (the bridge: the last line with ZooKeeper mode, and the one that migrates ZooKeeper to KRaft): 105 jars --
  kafka_2.13, kafka-clients, kafka-server(-common), kafka-metadata (with the migration driver), kafka-raft,
  kafka-storage(-api), kafka-group-coordinator(-api), kafka-transaction-coordinator, kafka-tools(-api), connect-*
  (what kafka-tools pulls in), zookeeper + zookeeper-jute 3.8.4 with netty 4.1.105.Final, scala 2.13.15, jackson
  2.16.2, jetty 9.4.57, reload4j 1.2.25 + slf4j-reload4j 1.7.36. The newest 3.9 patch on Maven Central.
- 4.4.0 (KRaft only): 93 jars, no ZooKeeper -- kafka_2.13, kafka-clients, kafka-server(-common), kafka-metadata,
  kafka-raft, kafka-storage(-api), the group, share, transaction and coordinator-common modules, kafka-tools(-api),
  connect-* (kafka-tools), scala 2.13.18, jackson 2.21 (with jackson-dataformat-yaml for the YAML logging config),
  jetty 12.0.39, and Log4j 2.25.5 as the release ships it: log4j-api, log4j-core, log4j-slf4j-impl (slf4j-api is
  1.7.36) and log4j-1.2-api. Brokers and tools need Java 17; a 4.x tool's JVM starts 2-3 s slower than 3.9's
  (Log4j 2 and Jackson load about twice the classes).
- Left out (not used by a broker or the admin tools): Kafka Streams, rocksdbjni, kafka-shell/jline (the metadata
  shell), trogdor, connect-mirror, connect-file, and for 3.0.0 Connect, plus ``bin/``, ``licenses/`` and
  ``site-docs/``.

Building a version cold (an empty Maven repository, plugins included) took 21 s for 3.9.2 and 12 s for 4.4.0 here;
``build`` makes every version of ``KAFKA_VERSIONS``, keeping those the manifest still matches.

Without ``bin/`` a role starts the JVM itself, for example::

    java -Dlog4j.configuration=file:<dir>/config/log4j.properties -Dkafka.logs.dir=<logs> \\
         -cp '<dir>/libs/*' kafka.Kafka server.properties
    java ... -cp '<dir>/libs/*' org.apache.zookeeper.server.quorum.QuorumPeerMain zookeeper.properties
    java -Dlog4j.configuration=file:<dir>/config/tools-log4j.properties -cp '<dir>/libs/*' \\
         kafka.admin.TopicCommand --bootstrap-server HOST:PORT --create --topic NAME ...
    # 4.x (KRaft): format the log directory once, then start
    java -Dlog4j2.configurationFile=<dir>/config/tools-log4j2.yaml -cp '<dir>/libs/*' \\
         kafka.tools.StorageTool format -t CLUSTER_ID -c server.properties
    java -Dlog4j2.configurationFile=<dir>/config/log4j2.yaml -Dkafka.logs.dir=<logs> \\
         -cp '<dir>/libs/*' kafka.Kafka server.properties

(``kafka.admin.TopicCommand`` is in the kafka_2.13 jar up to 3.6.2; 3.9 and 4.x have
``org.apache.kafka.tools.TopicCommand``: docs/kafka-current-stack.md lists every tool class by version.) No logging
configuration is on the class path, so without the flag a 3.x JVM logs nothing and a 4.x JVM only errors.

The tar is reproducible (``archive.write_tgz``): sorted entries, a fixed mtime, uid/gid 0, modes 0755/0644, gzip
without name or time.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType

from scripts.mirror import archive, manifest
from scripts.mirror.kafka_logging import logging_for
from scripts.mirror.maven import DEPENDENCY_PLUGIN, jar_name, parse_dependency_list, probe_pom, run_maven

KAFKA_VERSIONS = ("3.0.0", "3.6.2", "3.9.2", "4.4.0")
SCALA_VERSION = "2.13"
# Kafka 4.0 removed ZooKeeper mode (KRaft only) and moved from log4j 1.x to Log4j 2.
KRAFT_ONLY_SINCE = 4

# What each release ships in libs/ for logging beyond what the kafka_2.13 and kafka-tools poms bring (its
# gradle/dependencies.gradle): up to 3.9 a log4j 1.x implementation and its slf4j binding (log4j 1.2.17 before
# 3.2.0, reload4j after); from 4.0 Log4j 2's slf4j 1.x binding and its log4j 1.2 bridge (log4j-api and log4j-core
# come from kafka-server's pom). Each must be at the version of what it binds to (checked by _check_logging).
LOG_BINDINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "3.0.0": ("log4j:log4j:1.2.17", "org.slf4j:slf4j-log4j12:1.7.30"),
        "3.6.2": ("ch.qos.reload4j:reload4j:1.2.25", "org.slf4j:slf4j-reload4j:1.7.36"),
        "3.9.2": ("ch.qos.reload4j:reload4j:1.2.25", "org.slf4j:slf4j-reload4j:1.7.36"),
        "4.4.0": (
            "org.apache.logging.log4j:log4j-slf4j-impl:2.25.5",
            "org.apache.logging.log4j:log4j-1.2-api:2.25.5",
        ),
    }
)
# An slf4j binding -> the artifact whose version it must share.
SLF4J_BINDINGS: Mapping[str, str] = MappingProxyType(
    {"slf4j-log4j12": "slf4j-api", "slf4j-reload4j": "slf4j-api", "log4j-slf4j-impl": "log4j-core"}
)

TAR_MTIME = 1_600_000_000  # 2020-09-13; any fixed value keeps the tarball reproducible
GZIP_LEVEL = 6  # what the mirror's tarballs were first written with; changing it changes their sha512
LICENSE_ENTRIES = ("LICENSE", "META-INF/LICENSE", "META-INF/LICENSE.txt")
NOTICE_ENTRIES = ("NOTICE", "META-INF/NOTICE", "META-INF/NOTICE.txt")


def tarball_path(root: Path, version: str) -> Path:
    """Where the mirror keeps the tarball of Kafka ``version`` (the archive.apache.org path)."""
    return root / "apache" / "kafka" / version / f"kafka_{SCALA_VERSION}-{version}.tgz"


def build(root: Path) -> list[Path]:
    """Assemble (or keep, when the manifest still matches) one tarball per ``KAFKA_VERSIONS`` entry."""
    tarballs = []
    for version in KAFKA_VERSIONS:
        tarball = tarball_path(root, version)
        if manifest.recorded(root, tarball) is None:
            build_tarball(version, tarball)
            manifest.record(root, tarball)
        tarballs.append(tarball)
    return tarballs


def build_tarball(version: str, tarball: Path) -> None:
    """Resolve Kafka ``version`` with Maven and write its release-like tarball to ``tarball``."""
    top = f"kafka_{SCALA_VERSION}-{version}"
    with tempfile.TemporaryDirectory(prefix=f"mirror-{top}-") as work_name:
        work = Path(work_name)
        home = work / "stage" / top
        libs = home / "libs"
        libs.mkdir(parents=True)
        resolve_libs(version, work, libs)

        core_jar = libs / f"{top}.jar"
        for name, candidates in (("LICENSE", LICENSE_ENTRIES), ("NOTICE", NOTICE_ENTRIES)):
            text = _jar_entry(core_jar, candidates)
            if text is not None:
                (home / name).write_bytes(text)
        config = home / "config"
        config.mkdir()
        for name, text in logging_for(version).files().items():
            (config / name).write_text(text)

        archive.write_tgz(tarball, archive.tree(home, top), mtime=TAR_MTIME, compresslevel=GZIP_LEVEL)


def resolve_libs(version: str, work: Path, libs: Path) -> list[str]:
    """Copy the runtime class path of Kafka ``version`` into ``libs``; return the resolved coordinates."""
    if version not in LOG_BINDINGS:
        raise ValueError(
            f"kafka {version}: no log4j/slf4j binding known for this version; add it to LOG_BINDINGS in {__name__}"
        )
    coordinates = [
        f"org.apache.kafka:kafka_{SCALA_VERSION}:{version}",
        f"org.apache.kafka:kafka-tools:{version}",
        *LOG_BINDINGS[version],
    ]
    pom = work / "pom.xml"
    pom.write_text(probe_pom(f"kafka-{version}", coordinates))
    listing = work / "dependencies.txt"
    run_maven(
        [
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:list",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputFile={listing}",
            f"-DoutputDirectory={libs}",
        ],
        what=f"kafka {version}",
    )
    resolved = parse_dependency_list(listing.read_text())
    expected = sorted(jar_name(coordinate) for coordinate in resolved)
    present = sorted(path.name for path in libs.iterdir())
    if expected != present or len(set(expected)) != len(expected):
        raise RuntimeError(
            f"kafka {version}: libs/ does not match what Maven resolved (a name clash?): "
            f"missing {sorted(set(expected) - set(present))}, unexpected {sorted(set(present) - set(expected))}"
        )
    _check_logging(version, resolved)
    return resolved


def _check_logging(version: str, resolved: Sequence[str]) -> None:
    by_artifact: dict[str, list[str]] = {}
    for coordinate in resolved:
        parts = coordinate.split(":")
        by_artifact.setdefault(parts[1], []).append(parts[-2])  # group:artifact:type[:classifier]:version:scope
    api = by_artifact.get("slf4j-api", [])
    bindings = [(name, ver) for name in SLF4J_BINDINGS for ver in by_artifact.get(name, [])]
    if len(api) != 1 or len(bindings) != 1:
        raise RuntimeError(
            f"kafka {version}: expected slf4j-api and one slf4j binding, got slf4j-api {api} and bindings "
            f"{bindings}; fix LOG_BINDINGS[{version!r}]"
        )
    (binding, binding_version), partner = bindings[0], SLF4J_BINDINGS[bindings[0][0]]
    if by_artifact.get(partner) != [binding_version]:
        raise RuntimeError(
            f"kafka {version}: the slf4j binding {binding} {binding_version} is not at the version of {partner} "
            f"{by_artifact.get(partner, [])}; fix LOG_BINDINGS[{version!r}]"
        )
    if binding == "log4j-slf4j-impl" and not api[0].startswith("1."):
        raise RuntimeError(
            f"kafka {version}: log4j-slf4j-impl binds slf4j 1.x, but slf4j-api is {api[0]} (slf4j 2.x needs "
            f"log4j-slf4j2-impl); fix LOG_BINDINGS[{version!r}]"
        )


def kraft_only(version: str) -> bool:
    """Whether Kafka ``version`` runs in KRaft mode only (4.0 removed ZooKeeper mode and its bundled ZooKeeper)."""
    return int(version.split(".", 1)[0]) >= KRAFT_ONLY_SINCE


def _jar_entry(jar: Path, candidates: Sequence[str]) -> bytes | None:
    with zipfile.ZipFile(jar) as zipped:
        names = set(zipped.namelist())
        for candidate in candidates:
            if candidate in names:
                return zipped.read(candidate)
    return None
