"""scripts/mirror/zookeeper.py: where the ZooKeeper tarball goes and the checks on what Maven resolved."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.mirror import maven, zookeeper

RESOLVED = [
    "org.apache.zookeeper:zookeeper-jute:jar:3.8.4:compile",
    "io.netty:netty-handler:jar:4.1.105.Final:compile",
    "io.netty:netty-transport-native-epoll:jar:linux-x86_64:4.1.105.Final:compile",
    "org.slf4j:slf4j-api:jar:1.7.30:compile",
    "ch.qos.logback:logback-classic:jar:1.2.13:compile",
    "org.eclipse.jetty:jetty-server:jar:9.4.53.v20231009:provided",
]


def test_tarball_path_mirrors_the_apache_archive() -> None:
    path = zookeeper.tarball_path(Path("/m"), "3.8.4")
    assert path == Path("/m/apache/zookeeper/zookeeper-3.8.4/apache-zookeeper-3.8.4-bin.tar.gz")


def test_jar_names_follow_copy_dependencies() -> None:
    assert maven.jar_name(RESOLVED[1]) == "netty-handler-4.1.105.Final.jar"
    assert maven.jar_name(RESOLVED[2]) == "netty-transport-native-epoll-4.1.105.Final-linux-x86_64.jar"
    with pytest.raises(RuntimeError, match="only jar"):
        maven.jar_name("org.apache.zookeeper:parent:pom:3.8.4:compile")
    with pytest.raises(ValueError, match="not group:artifact"):
        maven.jar_name("org.apache.zookeeper:zookeeper:3.8.4")


def test_check_lib_accepts_one_binding_at_the_release_version() -> None:
    zookeeper.check_lib("3.8.4", RESOLVED)


@pytest.mark.parametrize(
    ("resolved", "message"),
    [
        ([c for c in RESOLVED if "zookeeper-jute" not in c], "zookeeper-jute"),
        ([*RESOLVED[:-1], "org.slf4j:slf4j-log4j12:jar:1.7.30:compile"], "one binding"),
        ([c for c in RESOLVED if "logback" not in c], "one binding"),
        ([*RESOLVED, "com.google.code.findbugs:jsr305:jar:3.0.2:provided"], "compile-only"),
    ],
)
def test_check_lib_refuses_what_the_release_would_not_run_with(resolved: list[str], message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        zookeeper.check_lib("3.8.4", resolved)
