"""Firewalld guards every host and the roles opened their ports; ZooKeeper runs from its own Apache release.

The cross-host traffic through those openings (ensemble, replication, produce on one host and consume on another,
the job on kc2 and Filebeat on kc3 talking to every broker) is exercised by test_kafka_cluster.py,
test_e2e_cluster.py and ../../shared/tests/test_kafka_tier.py; here the openings themselves (the job and the shipper
are clients only: their hosts open nothing for them), a port nobody opened staying closed to the other hosts, and
the standalone ZooKeeper distribution.
"""

from __future__ import annotations

import functools
import os
import time

import pytest
import testinfra

ZOOKEEPER_VERSION = "3.8.4"
ZOOKEEPER_HOME = f"/opt/zookeeper/apache-zookeeper-{ZOOKEEPER_VERSION}-bin"
RUN_CLASS = "/usr/local/bin/kafka-run-class"
PORTS = {"zookeeper": ["2181/tcp", "2888/tcp", "3888/tcp"], "kafka": ["9092/tcp"], "web": ["80/tcp"],
         "spark": [], "shipper": []}  # the job and Filebeat only connect out
CLOSED_PORT = 9999  # nothing opens it; a listener there must stay out of the other hosts' reach

PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5).close()
    print("open")
except OSError as error:
    print(f"closed: {error}")
"""


@functools.cache
def node(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def variables(host) -> dict:
    return host.ansible.get_variables()


def address(name: str) -> str:
    return node(name).ansible.get_variables()["ansible_host"]


def groups_of(host) -> list[str]:
    me = variables(host)["inventory_hostname"]
    return [group for group in PORTS if me in variables(host)["groups"].get(group, [])]


def probe(host, target: str, port: int) -> str:
    return host.check_output("python3 -c %s %s %s", PROBE, target, str(port))


def test_firewalld_is_running(host):
    assert host.service("firewalld").is_enabled
    assert host.service("firewalld").is_running
    assert host.check_output("firewall-cmd --state") == "running"


def test_roles_opened_their_ports_at_runtime_and_permanently(host):
    expected = sorted(port for group in groups_of(host) for port in PORTS[group])
    assert expected, "every host of the scenario is in zookeeper and kafka"
    runtime = host.check_output("firewall-cmd --list-ports").split()
    permanent = host.check_output("firewall-cmd --permanent --list-ports").split()
    for port in expected:
        assert port in runtime, f"{port} not open now: {runtime}"
        assert port in permanent, f"{port} not open after a reload or reboot: {permanent}"
    # Nothing else: the job's and the shipper's roles open no port (their hosts' groups add none).
    assert sorted(runtime) == expected, f"{groups_of(host)} should open exactly {expected}: {runtime}"
    assert sorted(permanent) == expected, f"{groups_of(host)} should open exactly {expected}: {permanent}"


def test_a_port_nobody_opened_is_closed_to_other_hosts(host):
    names = variables(host)["groups"]["kafka"]
    if variables(host)["inventory_hostname"] != names[0]:
        pytest.skip("drives two hosts from the first one")
    target = names[1]
    unit = "molecule-closed-port-probe"
    node(target).check_output(
        "systemd-run --unit=%s python3 -m http.server --bind 0.0.0.0 %s", unit, str(CLOSED_PORT)
    )
    try:
        deadline = time.monotonic() + 30
        while probe(node(target), "127.0.0.1", CLOSED_PORT) != "open" and time.monotonic() < deadline:
            time.sleep(1)
        assert probe(node(target), "127.0.0.1", CLOSED_PORT) == "open", "the listener is up on its own host"
        seen = probe(host, address(target), CLOSED_PORT)
        assert seen.startswith("closed"), f"{target}:{CLOSED_PORT} is reachable through firewalld: {seen}"
        # The opened ports of the same host are reachable from here: the openings, not the network, decide.
        assert probe(host, address(target), 9092) == "open"
        assert probe(host, address(target), 2181) == "open"
    finally:
        node(target).run("systemctl stop %s", unit)


def test_web_server_answers_another_host(host):
    web = variables(host)["groups"].get("web", [])
    if not web or variables(host)["inventory_hostname"] == web[0]:
        pytest.skip("checks the web host from another host")
    assert probe(host, address(web[0]), 80) == "open"
    page = host.check_output(
        "python3 -c %s %s",
        "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).status)",
        f"http://{address(web[0])}/",
    )
    assert page == "200"


def test_zookeeper_runs_from_its_own_release(host):
    current = host.file("/opt/zookeeper/current")
    assert current.is_symlink
    assert current.linked_to == ZOOKEEPER_HOME
    assert host.file(f"{ZOOKEEPER_HOME}/lib/zookeeper-{ZOOKEEPER_VERSION}.jar").exists
    pid = host.check_output("systemctl show -p MainPID --value zookeeper")
    args = host.check_output("ps -o args= -p %s", pid)
    assert f"{ZOOKEEPER_HOME}/lib/*" in args
    assert "-Dlogback.configurationFile=/etc/zookeeper/logback.xml" in args
    assert "/opt/kafka/" not in args, "the standalone ZooKeeper must not run from Kafka's jars"
    me = variables(host)["inventory_hostname"]
    srvr = host.run(RUN_CLASS + " %s %s %s %s", "org.apache.zookeeper.client.FourLetterWordMain", address(me),
                    "2181", "srvr")
    assert f"Zookeeper version: {ZOOKEEPER_VERSION}-" in srvr.stdout, srvr.stdout + srvr.stderr
    log = host.file("/var/log/zookeeper/zookeeper.log")
    assert log.exists and log.user == "zookeeper"
    assert "QuorumPeer" in log.content_string or "quorum" in log.content_string.lower()
