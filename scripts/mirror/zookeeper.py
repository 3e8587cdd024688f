"""Apache ZooKeeper binary tarballs assembled from Maven Central, laid out like ``apache-zookeeper-<ver>-bin.tar.gz``.

The Apache archive is out of reach, so for each version in ``ZOOKEEPER_VERSIONS`` the published pom of
``org.apache.zookeeper:zookeeper`` is fetched and resolved as a project (strict checksums, ``~/.m2`` as the cache):
its compile and provided dependencies are what the release's assembly puts in ``lib/`` (Netty, logback, the
AdminServer's Jetty and Jackson, jline for the CLI, metrics-core, snappy-java, commons-cli/-io), minus the
annotation-only jars. The result is packed as ``apache/zookeeper/zookeeper-<ver>/apache-zookeeper-<ver>-bin.tar.gz``
(the archive.apache.org path)::

    apache-zookeeper-<ver>-bin/README.txt          what this tarball is and how it differs from the release
    apache-zookeeper-<ver>-bin/conf/logback.xml    server logging: a rolled file under ${zookeeper.log.dir}
    apache-zookeeper-<ver>-bin/conf/zoo_sample.cfg a standalone configuration to start from
    apache-zookeeper-<ver>-bin/lib/*.jar           zookeeper, zookeeper-jute and their dependencies

For 3.8.4 that is 32 jars (netty 4.1.105.Final, logback 1.2.13 over slf4j-api 1.7.30, jetty 9.4.53, jackson 2.15.2),
the set the official ``lib/`` holds apart from the Prometheus metrics provider, which is left out with ``bin/`` and
``docs/``. Without ``bin/`` a role starts the JVM itself::

    java -Dlogback.configurationFile=<dir>/conf/logback.xml -Dzookeeper.log.dir=<logs> \\
         -cp '<dir>/lib/*' org.apache.zookeeper.server.quorum.QuorumPeerMain zoo.cfg
    java -cp '<dir>/lib/*' org.apache.zookeeper.client.FourLetterWordMain HOST PORT ruok

The tar is reproducible (``archive.write_tgz``): sorted entries, a fixed mtime, uid/gid 0, modes 0755/0644, gzip
without name or time.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from scripts.mirror import archive, manifest
from scripts.mirror.maven import DEPENDENCY_PLUGIN, jar_name, parse_dependency_list, run_maven

# 3.8.x is ZooKeeper's stable line; Kafka 3.0's bundled client (3.6.3) talks to it, and Kafka 3.6 ships 3.8.4.
ZOOKEEPER_VERSIONS = ("3.8.4",)
GROUP = "org.apache.zookeeper"
# Declared by the pom (or its parent) for compiling only: annotations no class needs at run time.
COMPILE_ONLY = ("spotbugs-annotations", "jsr305")
# The slf4j bindings a release may ship; exactly one must be in lib/ (logback from 3.8, log4j 1.2 before).
SLF4J_BINDINGS = ("logback-classic", "slf4j-log4j12", "slf4j-reload4j")

TAR_MTIME = 1_600_000_000  # any fixed value keeps the tarball reproducible
GZIP_LEVEL = 6

LOGBACK_XML = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- ZooKeeper server logging (logback): INFO and above to a rolled file in ${zookeeper.log.dir}, warnings and
     errors also to the console. Pass -Dzookeeper.log.dir=<dir> and -Dlogback.configurationFile=<this file>. -->
<configuration>
  <appender name="CONSOLE" class="ch.qos.logback.core.ConsoleAppender">
    <filter class="ch.qos.logback.classic.filter.ThresholdFilter">
      <level>WARN</level>
    </filter>
    <encoder>
      <pattern>%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n</pattern>
    </encoder>
  </appender>

  <appender name="ROLLINGFILE" class="ch.qos.logback.core.rolling.RollingFileAppender">
    <file>${zookeeper.log.dir:-.}/${zookeeper.log.file:-zookeeper.log}</file>
    <rollingPolicy class="ch.qos.logback.core.rolling.FixedWindowRollingPolicy">
      <fileNamePattern>${zookeeper.log.dir:-.}/${zookeeper.log.file:-zookeeper.log}.%i</fileNamePattern>
      <minIndex>1</minIndex>
      <maxIndex>10</maxIndex>
    </rollingPolicy>
    <triggeringPolicy class="ch.qos.logback.core.rolling.SizeBasedTriggeringPolicy">
      <maxFileSize>10MB</maxFileSize>
    </triggeringPolicy>
    <encoder>
      <pattern>%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n</pattern>
    </encoder>
  </appender>

  <root level="INFO">
    <appender-ref ref="CONSOLE" />
    <appender-ref ref="ROLLINGFILE" />
  </root>
</configuration>
"""

ZOO_SAMPLE_CFG = """\
# A single ZooKeeper server; copy to zoo.cfg and adjust. See zookeeperAdmin.html for every setting.
# One tick, in milliseconds: the unit of heartbeats and of the limits below.
tickTime=2000
# Ticks a follower may take to connect and sync to the leader, and to stay in sync with it.
initLimit=10
syncLimit=5
# Snapshots and myid; not /tmp for anything that matters.
dataDir=/var/lib/zookeeper
clientPort=2181
# Connections per client address (0: unlimited).
maxClientCnxns=60
# Keep 3 snapshots, purge every 24 hours.
autopurge.snapRetainCount=3
autopurge.purgeInterval=24
# Four-letter words answered on the client port.
4lw.commands.whitelist=ruok,srvr,mntr
# An ensemble adds one line per member: server.<myid>=<host>:<peer port>:<election port>
"""

README_TXT = """\
Apache ZooKeeper {version}, binary layout, assembled by the chat-sentiment mirror (scripts/mirror/zookeeper.py)
from the org.apache.zookeeper:zookeeper:{version} pom and jars on Maven Central, for hosts without access to
archive.apache.org. It is not the Apache release file: its sha512 is the mirror's own (the .sha512 beside it).

lib/   zookeeper, zookeeper-jute and the dependencies the pom declares for compile and provided scope
conf/  logback.xml (server logging) and zoo_sample.cfg
Left out: bin/ (start the JVM with QuorumPeerMain), docs/, the Prometheus metrics provider.
"""


def tarball_path(root: Path, version: str) -> Path:
    """Where the mirror keeps the tarball of ZooKeeper ``version`` (the archive.apache.org path)."""
    return root / "apache" / "zookeeper" / f"zookeeper-{version}" / f"apache-zookeeper-{version}-bin.tar.gz"


def build(root: Path) -> list[Path]:
    """Assemble (or keep, when the manifest still matches) one tarball per ``ZOOKEEPER_VERSIONS`` entry."""
    tarballs = []
    for version in ZOOKEEPER_VERSIONS:
        tarball = tarball_path(root, version)
        if manifest.recorded(root, tarball) is None:
            build_tarball(version, tarball)
            manifest.record(root, tarball)
        tarballs.append(tarball)
    return tarballs


def build_tarball(version: str, tarball: Path) -> None:
    """Resolve ZooKeeper ``version`` with Maven and write its release-like tarball to ``tarball``."""
    top = f"apache-zookeeper-{version}-bin"
    with tempfile.TemporaryDirectory(prefix=f"mirror-{top}-") as work_name:
        work = Path(work_name)
        home = work / "stage" / top
        lib = home / "lib"
        lib.mkdir(parents=True)
        resolve_lib(version, work, lib)
        conf = home / "conf"
        conf.mkdir()
        (conf / "logback.xml").write_text(LOGBACK_XML)
        (conf / "zoo_sample.cfg").write_text(ZOO_SAMPLE_CFG)
        (home / "README.txt").write_text(README_TXT.format(version=version))
        archive.write_tgz(tarball, archive.tree(home, top), mtime=TAR_MTIME, compresslevel=GZIP_LEVEL)


def resolve_lib(version: str, work: Path, lib: Path) -> list[str]:
    """Copy ZooKeeper ``version`` and its run-time jars into ``lib``; return the resolved coordinates."""
    server = f"{GROUP}:zookeeper:{version}"
    run_maven(
        [f"{DEPENDENCY_PLUGIN}:copy", f"-Dartifact={server}:pom", f"-DoutputDirectory={work}"],
        what=f"zookeeper {version} pom",
        cwd=work,
    )
    pom = work / f"zookeeper-{version}.pom"
    listing = work / "dependencies.txt"
    # The pom resolved as a project: its own compile and provided dependencies count, as in the release assembly
    # (resolved as a dependency, provided ones would be dropped). includeScope=compile keeps compile + provided.
    run_maven(
        [
            "-f",
            str(pom),
            f"{DEPENDENCY_PLUGIN}:list",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"{DEPENDENCY_PLUGIN}:copy",
            "-DincludeScope=compile",
            f"-DexcludeArtifactIds={','.join(COMPILE_ONLY)}",
            f"-Dartifact={server}:jar",
            f"-DoutputFile={listing}",
            f"-DoutputDirectory={lib}",
        ],
        what=f"zookeeper {version}",
        cwd=work,
    )
    resolved = parse_dependency_list(listing.read_text())
    expected = sorted([f"zookeeper-{version}.jar", *(jar_name(coordinate) for coordinate in resolved)])
    present = sorted(path.name for path in lib.iterdir())
    if expected != present or len(set(expected)) != len(expected):
        raise RuntimeError(
            f"zookeeper {version}: lib/ does not match what Maven resolved (a name clash?): "
            f"missing {sorted(set(expected) - set(present))}, unexpected {sorted(set(present) - set(expected))}"
        )
    check_lib(version, resolved)
    return resolved


def check_lib(version: str, resolved: Sequence[str]) -> None:
    """Fail unless ``resolved`` holds zookeeper-jute at ``version`` and exactly one slf4j binding."""
    artifacts: dict[str, list[str]] = {}
    for coordinate in resolved:
        parts = coordinate.split(":")  # group:artifact:type[:classifier]:version:scope
        artifacts.setdefault(parts[1], []).append(parts[-2])
    if artifacts.get("zookeeper-jute") != [version]:
        raise RuntimeError(
            f"zookeeper {version}: expected zookeeper-jute {version}, got {artifacts.get('zookeeper-jute')}"
        )
    bindings = [name for name in SLF4J_BINDINGS if name in artifacts]
    if len(artifacts.get("slf4j-api", [])) != 1 or len(bindings) != 1:
        raise RuntimeError(
            f"zookeeper {version}: expected slf4j-api and one binding among {SLF4J_BINDINGS}, got "
            f"slf4j-api {artifacts.get('slf4j-api', [])} and {bindings}"
        )
    compile_only = sorted(set(COMPILE_ONLY) & set(artifacts))
    if compile_only:
        raise RuntimeError(f"zookeeper {version}: compile-only jars were resolved: {compile_only}")
