"""The mirror's ZooKeeper tarball runs a real standalone ZooKeeper that serves both its own and Kafka 3.0's client.

Needs ``mvn`` and ``java`` on PATH (the build resolves from Maven Central into ~/.m2, a no-op once the mirror is
built). The server listens on 127.0.0.1 only and is stopped on teardown.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.mirror import manifest
from scripts.mirror import zookeeper as zookeeper_mirror
from scripts.paths import mirror_root
from tests.integration.kafka_local import STARTUP_TIMEOUT_S, JavaProcess, free_port, java, tail

pytestmark = pytest.mark.integration

VERSION = zookeeper_mirror.ZOOKEEPER_VERSIONS[-1]
TOP = f"apache-zookeeper-{VERSION}-bin"


@dataclass(frozen=True)
class Server:
    home: Path
    port: int
    logs: Path


@pytest.fixture(scope="module")
def zookeeper_tarball() -> Path:
    return dict(zip(zookeeper_mirror.ZOOKEEPER_VERSIONS, zookeeper_mirror.build(mirror_root()), strict=True))[VERSION]


def four_letter_word(port: int, word: str) -> str:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(word.encode())
        chunks = []
        while chunk := connection.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks).decode()


@pytest.fixture(scope="module")
def server(zookeeper_tarball: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("zookeeper")
    with tarfile.open(zookeeper_tarball) as tar:
        tar.extractall(base, filter="data")
    home, logs, port = base / TOP, base / "logs", free_port()
    logs.mkdir()
    config = base / "zoo.cfg"
    config.write_text(
        f"tickTime=2000\ndataDir={base / 'data'}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr\n"
    )
    output = logs / "zookeeper.out"
    handle = output.open("wb")
    command = [
        java(),
        "-Xmx128m",
        f"-Dlogback.configurationFile={home / 'conf' / 'logback.xml'}",
        f"-Dzookeeper.log.dir={logs}",
        "-cp",
        f"{home / 'lib'}/*",
        "org.apache.zookeeper.server.quorum.QuorumPeerMain",
        str(config),
    ]
    process = JavaProcess(
        "zookeeper", subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT), output, handle
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            process.check_alive()
            try:
                # ruok says the process runs; srvr reports a mode once it serves requests.
                if "Mode:" in four_letter_word(port, "srvr"):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"ZooKeeper never served on {port}:\n{tail(output)}")
            time.sleep(0.5)
        yield Server(home, port, logs)
    finally:
        process.stop()


def test_tarball_matches_its_sha512_and_the_manifest(zookeeper_tarball: Path) -> None:
    root = mirror_root()
    assert zookeeper_tarball == zookeeper_mirror.tarball_path(root, VERSION)
    expected, name = (zookeeper_tarball.parent / f"{zookeeper_tarball.name}.sha512").read_text().split()
    assert name == zookeeper_tarball.name
    assert hashlib.sha512(zookeeper_tarball.read_bytes()).hexdigest() == expected
    assert manifest.recorded(root, zookeeper_tarball) == expected


def test_tarball_has_the_release_layout(zookeeper_tarball: Path) -> None:
    with tarfile.open(zookeeper_tarball) as tar:
        members = tar.getmembers()
    names = [member.name for member in members]
    assert names == sorted(names)
    assert all(name == TOP or name.startswith(f"{TOP}/") for name in names)
    assert {(member.uid, member.gid, member.mtime) for member in members} == {(0, 0, zookeeper_mirror.TAR_MTIME)}
    assert f"{TOP}/conf/logback.xml" in names
    jars = {name.rsplit("/", 1)[1] for name in names if name.startswith(f"{TOP}/lib/")}
    for jar in (f"zookeeper-{VERSION}.jar", f"zookeeper-jute-{VERSION}.jar"):
        assert jar in jars
    for prefix in (
        "netty-handler-",
        "netty-transport-native-epoll-",
        "slf4j-api-",
        "logback-classic-",
        "jetty-server-",
    ):
        assert any(jar.startswith(prefix) for jar in jars), prefix
    assert not any(jar.startswith(("slf4j-log4j12-", "slf4j-reload4j-", "jsr305-")) for jar in jars)


def test_rebuild_gives_the_same_bytes(zookeeper_tarball: Path, tmp_path: Path) -> None:
    again = tmp_path / zookeeper_tarball.name
    zookeeper_mirror.build_tarball(VERSION, again)
    assert manifest.sha512_of(again) == manifest.sha512_of(zookeeper_tarball)


def test_server_answers_four_letter_words(server: Server) -> None:
    assert four_letter_word(server.port, "ruok") == "imok"
    srvr = four_letter_word(server.port, "srvr")
    assert f"Zookeeper version: {VERSION}-" in srvr
    assert "Mode: standalone" in srvr
    # The release's logback.xml honours -Dzookeeper.log.dir.
    assert "binding to port" in (server.logs / "zookeeper.log").read_text()


def zookeeper_cli(libs: Path, port: int, *command: str) -> subprocess.CompletedProcess[str]:
    """ZooKeeper's own CLI (org.apache.zookeeper.ZooKeeperMain) from ``libs``, one command, then exit."""
    argv = [java(), "-Xmx64m", "-cp", f"{libs}/*", "org.apache.zookeeper.ZooKeeperMain", "-server",
            f"127.0.0.1:{port}", *command]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def test_kafka_3_0_client_and_own_client_share_data(
    server: Server, kafka_tarballs: dict[str, Path], tmp_path: Path
) -> None:
    with tarfile.open(kafka_tarballs["3.0.0"]) as tar:
        tar.extractall(tmp_path, filter="data")
    kafka_libs = tmp_path / "kafka_2.13-3.0.0" / "libs"
    assert any(jar.name.startswith("zookeeper-3.6.") for jar in kafka_libs.iterdir()), "Kafka 3.0 bundles ZK 3.6"
    created = zookeeper_cli(kafka_libs, server.port, "create", "/chat-sentiment", "written-by-kafka-3.0-client")
    assert created.returncode == 0 and "Created /chat-sentiment" in created.stdout + created.stderr, created
    read = zookeeper_cli(server.home / "lib", server.port, "get", "/chat-sentiment")
    assert read.returncode == 0, read
    assert "written-by-kafka-3.0-client" in read.stdout
