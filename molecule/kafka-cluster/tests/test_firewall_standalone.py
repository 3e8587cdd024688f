"""Firewalld guards every host: the roles open their ports only to the hosts that need them; standalone ZooKeeper.

The cross-host traffic through those openings (ensemble, replication, produce on one host and consume on another,
the job on kc2 and Filebeat on kc3 talking to every broker) is exercised by test_kafka_cluster.py,
test_e2e_cluster.py and ../../shared/tests/test_kafka_tier.py; here the openings themselves: each port of the
Kafka tier is open by rich rules to exactly the addresses of the inventory groups that use it (taken from molecule's
inventory, not from the roles), to no one else, and never to the whole zone; the machine running these tests, a
host on the same bridge that is in no group, is refused where the scenario's hosts get through; a port nobody
opened stays closed; and the standalone ZooKeeper distribution.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import time

import pytest
import testinfra

ZOOKEEPER_VERSION = "3.8.4"
ZOOKEEPER_HOME = f"/opt/zookeeper/apache-zookeeper-{ZOOKEEPER_VERSION}-bin"
RUN_CLASS = "/usr/local/bin/kafka-run-class"
# Who may reach which port (the roles' defaults: kafka_firewalld_client_groups, zookeeper_firewalld_client_groups,
# the ensemble for the peer and election ports), by the groups the port's role runs in.
RULES = {
    "zookeeper": {2181: ["zookeeper", "kafka"], 2888: ["zookeeper"], 3888: ["zookeeper"]},
    "kafka": {9092: ["kafka", "shipper", "spark"]},
}
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
    return [group for group, members in variables(host)["groups"].items() if me in members]


def expected_rules(host) -> dict[int, set[str]]:
    """Each port this host's roles open, and the addresses of the inventory hosts that may reach it."""
    out: dict[int, set[str]] = {}
    for group in groups_of(host):
        for port, clients in RULES.get(group, {}).items():
            names = {name for client in clients for name in variables(host)["groups"].get(client, [])}
            out[port] = {address(name) for name in names}
    return out


def rich_rules(host, *flags: str) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for rule in host.check_output(f"firewall-cmd {' '.join(flags)} --list-rich-rules").splitlines():
        found = re.fullmatch(r'rule family="ipv4" source address="([^"]+)" port port="(\d+)" protocol="tcp" accept',
                             rule.strip())
        assert found, f"a rich rule the roles do not write: {rule}"
        out.setdefault(int(found.group(2)), set()).add(found.group(1))
    return out


def probe_from_here(target: str, port: int) -> str:
    """The same probe from the machine running the tests: on the bridge, but in no inventory group."""
    try:
        socket.create_connection((target, port), timeout=5).close()
        return "open"
    except OSError as error:
        return f"closed: {error}"


def probe(host, target: str, port: int) -> str:
    return host.check_output("python3 -c %s %s %s", PROBE, target, str(port))


def test_firewalld_is_running(host):
    assert host.service("firewalld").is_enabled
    assert host.service("firewalld").is_running
    assert host.check_output("firewall-cmd --state") == "running"


def test_ports_are_open_only_to_the_hosts_that_need_them_at_runtime_and_permanently(host):
    expected = expected_rules(host)
    assert expected, "every host of the scenario is in zookeeper and kafka"
    tier = {port for rules in RULES.values() for port in rules}
    for flags in ((), ("--permanent",)):
        # Other roles may open their own ports by rich rules (the dashboard feed); the Kafka tier's are compared.
        found = {port: sources for port, sources in rich_rules(host, *flags).items() if port in tier}
        assert found == expected, f"rich rules {' '.join(flags) or '(runtime)'}"
        zone = host.check_output(f"firewall-cmd {' '.join(flags)} --list-ports").split()
        # Nothing of the Kafka tier is open to the whole zone (httpd's port may be: the dashboard is public).
        assert not set(zone) & {f"{port}/tcp" for port in tier}, f"open to the whole zone {' '.join(flags)}: {zone}"


def test_a_host_outside_the_groups_is_refused(host):
    """From this machine (no group) every Kafka-tier port is refused, while a host of the groups gets through."""
    me = variables(host)["inventory_hostname"]
    peer = next(name for name in variables(host)["groups"]["kafka"] if name != me)
    for port in (9092, 2181, 3888):  # listening on every member (2888 only on the ensemble's leader)
        assert probe(node(peer), address(me), port) == "open", f"{peer} cannot reach {me}:{port}"
        seen = probe_from_here(address(me), port)
        assert seen.startswith("closed"), f"{me}:{port} is reachable from a host in no group: {seen}"


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
    # The scenario serves the dashboard over HTTPS (extra_vars: httpd_tls), port 80 redirecting there. The page's
    # certificate is checked by the dashboard tests (tests/test_dashboard.py); this is about reaching it.
    answer = host.check_output(
        "python3 -c %s %s",
        "import http.client, ssl, sys\n"
        "plain = http.client.HTTPConnection(sys.argv[1], 80, timeout=10)\n"
        "plain.request('GET', '/')\n"
        "first = plain.getresponse()\n"
        "tls = http.client.HTTPSConnection(sys.argv[1], 443, timeout=10, context=ssl._create_unverified_context())\n"
        "tls.request('GET', '/')\n"
        "print(first.status, first.getheader('Location'), tls.getresponse().status)",
        address(web[0]),
    )
    assert answer.split() == ["301", f"https://{address(web[0])}/", "200"], answer


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
