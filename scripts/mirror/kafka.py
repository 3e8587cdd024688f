"""Kafka broker tarballs assembled from Maven Central, laid out like the official ``kafka_2.13-<ver>.tgz``.

The Apache archive is out of reach, so for each version in ``KAFKA_VERSIONS`` Maven resolves
``org.apache.kafka:kafka_2.13`` and ``org.apache.kafka:kafka-tools`` with their runtime dependencies (strict
checksums, ``~/.m2`` as the cache) plus the log4j 1.x implementation and slf4j binding the release ships, and
the result is packed as ``apache/kafka/<ver>/kafka_2.13-<ver>.tgz``::

    kafka_2.13-<ver>/LICENSE, NOTICE          from the root (or META-INF/) of the kafka_2.13 jar
    kafka_2.13-<ver>/config/log4j.properties  broker logging, files under ${kafka.logs.dir}
    kafka_2.13-<ver>/config/tools-log4j.properties  command-line tools: WARN and above to stderr
    kafka_2.13-<ver>/libs/*.jar               the broker, ZooKeeper, the admin tools and their dependencies

What the tarball holds against the official release:

- 3.0.0: 48 jars -- kafka_2.13, kafka-clients, kafka-server-common, kafka-metadata, kafka-raft, kafka-storage(-api),
  kafka-tools, kafka-log4j-appender, zookeeper + zookeeper-jute 3.6.3, scala-library/-reflect 2.13.6, jackson
  2.12.3, yammer metrics-core 2.2.0, dropwizard metrics-core 4.1.12.1, log4j 1.2.17 + slf4j-log4j12 1.7.30, netty,
  zstd-jni, lz4-java, snappy-java, jopt-simple, argparse4j, commons-cli. Netty resolves to 4.1.63.Final (what
  ZooKeeper's pom asks for) where the official build may differ by a patch release.
- 3.6.2: 103 jars; kafka-tools pulls in connect-runtime (jetty, jersey, hk2) as the release ships it, and
  logging is reload4j 1.2.25 + slf4j-reload4j 1.7.36; ZooKeeper is 3.8.4.
- Left out (not used by a ZooKeeper-mode broker): Kafka Streams, rocksdbjni, kafka-shell/jline, trogdor,
  connect-mirror, and for 3.0.0 Connect, plus ``bin/`` and ``site-docs/``.

Without ``bin/`` a role starts the JVM itself, for example::

    java -Dlog4j.configuration=file:<dir>/config/log4j.properties -Dkafka.logs.dir=<logs> \\
         -cp '<dir>/libs/*' kafka.Kafka server.properties
    java ... -cp '<dir>/libs/*' org.apache.zookeeper.server.quorum.QuorumPeerMain zookeeper.properties
    java -Dlog4j.configuration=file:<dir>/config/tools-log4j.properties -cp '<dir>/libs/*' \\
         kafka.admin.TopicCommand --bootstrap-server HOST:PORT --create --topic NAME ...

(``kafka.admin.TopicCommand`` is still in the kafka_2.13 jar in 3.6.2.) No ``log4j.properties`` is on the class
path, so without ``-Dlog4j.configuration`` the JVM logs nothing.

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
from scripts.mirror.maven import DEPENDENCY_PLUGIN, jar_name, parse_dependency_list, probe_pom, run_maven

KAFKA_VERSIONS = ("3.0.0", "3.6.2")
SCALA_VERSION = "2.13"

# The log4j 1.x implementation and slf4j binding each release ships in libs/ (its gradle/dependencies.gradle):
# Kafka moved from log4j 1.2.17 to reload4j in 3.2.0.
LOG_BINDINGS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "3.0.0": ("log4j:log4j:1.2.17", "org.slf4j:slf4j-log4j12:1.7.30"),
        "3.6.2": ("ch.qos.reload4j:reload4j:1.2.25", "org.slf4j:slf4j-reload4j:1.7.36"),
    }
)
SLF4J_BINDINGS = ("slf4j-log4j12", "slf4j-reload4j")

TAR_MTIME = 1_600_000_000  # 2020-09-13; any fixed value keeps the tarball reproducible
GZIP_LEVEL = 6  # what the mirror's tarballs were first written with; changing it changes their sha512
LICENSE_ENTRIES = ("LICENSE", "META-INF/LICENSE", "META-INF/LICENSE.txt")
NOTICE_ENTRIES = ("NOTICE", "META-INF/NOTICE", "META-INF/NOTICE.txt")

LOG4J_PROPERTIES = """\
# Broker logging (log4j 1.x / reload4j), as in the Apache Kafka release.
# kafka-run-class.sh passes -Dkafka.logs.dir=<install>/logs; without bin/, pass it yourself together with
# -Dlog4j.configuration=file:<install>/config/log4j.properties. A -D system property wins over the default below,
# which is relative to the JVM's working directory.
kafka.logs.dir=logs

# Unspecified loggers and loggers with additivity=true output to server.log and stdout.
log4j.rootLogger=INFO, stdout, kafkaAppender

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.kafkaAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.kafkaAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.kafkaAppender.File=${kafka.logs.dir}/server.log
log4j.appender.kafkaAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.kafkaAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.stateChangeAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.stateChangeAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.stateChangeAppender.File=${kafka.logs.dir}/state-change.log
log4j.appender.stateChangeAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.stateChangeAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.requestAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.requestAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.requestAppender.File=${kafka.logs.dir}/kafka-request.log
log4j.appender.requestAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.requestAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.cleanerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.cleanerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.cleanerAppender.File=${kafka.logs.dir}/log-cleaner.log
log4j.appender.cleanerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.cleanerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.controllerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.controllerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.controllerAppender.File=${kafka.logs.dir}/controller.log
log4j.appender.controllerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.controllerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.authorizerAppender=org.apache.log4j.DailyRollingFileAppender
log4j.appender.authorizerAppender.DatePattern='.'yyyy-MM-dd-HH
log4j.appender.authorizerAppender.File=${kafka.logs.dir}/kafka-authorizer.log
log4j.appender.authorizerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.authorizerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

# ZooKeeper (server and the broker's client).
log4j.logger.org.apache.zookeeper=INFO

# General broker logging level (server.log and stdout).
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO

# Change to DEBUG or TRACE to enable request logging.
log4j.logger.kafka.request.logger=WARN, requestAppender
log4j.additivity.kafka.request.logger=false
log4j.logger.kafka.network.RequestChannel$=WARN, requestAppender
log4j.additivity.kafka.network.RequestChannel$=false

log4j.logger.kafka.controller=TRACE, controllerAppender
log4j.additivity.kafka.controller=false

log4j.logger.kafka.log.LogCleaner=INFO, cleanerAppender
log4j.additivity.kafka.log.LogCleaner=false

log4j.logger.state.change.logger=INFO, stateChangeAppender
log4j.additivity.state.change.logger=false

# Access denials are logged at INFO, change to DEBUG to also log allowed accesses.
log4j.logger.kafka.authorizer.logger=INFO, authorizerAppender
log4j.additivity.kafka.authorizer.logger=false
"""

TOOLS_LOG4J_PROPERTIES = """\
# Command-line tools (TopicCommand, console producer/consumer): warnings and errors to stderr.
log4j.rootLogger=WARN, stderr

log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
"""


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
        (config / "log4j.properties").write_text(LOG4J_PROPERTIES)
        (config / "tools-log4j.properties").write_text(TOOLS_LOG4J_PROPERTIES)

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
    if len(api) != 1 or len(bindings) != 1 or bindings[0][1] != api[0]:
        raise RuntimeError(
            f"kafka {version}: expected one slf4j binding at the slf4j-api version, got slf4j-api {api} "
            f"and bindings {bindings}; fix LOG_BINDINGS[{version!r}]"
        )


def _jar_entry(jar: Path, candidates: Sequence[str]) -> bytes | None:
    with zipfile.ZipFile(jar) as zipped:
        names = set(zipped.namelist())
        for candidate in candidates:
            if candidate in names:
                return zipped.read(candidate)
    return None
