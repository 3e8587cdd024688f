"""ZooKeeper secure by default (issue 12): brokers log in with SASL, Kafka's znodes have ACLs, nobody else writes.

On every broker host, with ZooKeeper's own shell (``org.apache.zookeeper.ZooKeeperMain``) from the release's jars:
- without a login, or with a wrong password, a client can neither create nor change znodes under /config and
  /brokers (the session is closed or the write refused), and the probe znode is then absent;
- with the broker's login (its JAAS file, as the roles' tools use it) the same shell reads the znodes, whose ACLs
  give everything to the broker identity and nothing beyond reading to anyone else;
- the JAAS files are root:kafka / root:zookeeper 0640, and their password is in no Kafka or ZooKeeper log file.

Skipped when the scenario runs without security (no controller PKI, as in test_kafka_security.py). Scenarios pull
this file in through their molecule.yml.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

PKI = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "pki"
RUN_CLASS = "/usr/local/bin/kafka-run-class"
SHELL = "org.apache.zookeeper.ZooKeeperMain"
BROKER_JAAS = "/etc/kafka/zookeeper-jaas.conf"
SERVER_JAAS = "/etc/zookeeper/zookeeper-jaas.conf"
# What ZooKeeper answers a client without a valid login: the session closed (enforced SASL), the login failed, or
# the znode's ACL refused the write.
REFUSED = re.compile(r"failed to authenticate|AuthFailed|NoAuth|Insufficient permission|not authorized", re.I)


def variables(host) -> dict:
    return host.ansible.get_variables()


def in_group(host, group: str) -> bool:
    return variables(host)["inventory_hostname"] in variables(host)["groups"].get(group, [])


@pytest.fixture(autouse=True)
def _secure_only():
    if not PKI.is_dir():
        pytest.skip("kafka_security is not sasl_ssl in this scenario (no controller PKI)")


@pytest.fixture
def broker(host):
    if not in_group(host, "kafka"):
        pytest.skip("not in group kafka")
    return host


def zookeeper_connect(host) -> str:
    properties = host.file("/etc/kafka/server.properties").content_string
    return re.search(r"^zookeeper\.connect=(\S+)$", properties, re.MULTILINE).group(1)


def zk_shell(host, *command: str, jaas: str | None = None):
    """ZooKeeper's shell from the release in use; with ``jaas``, logged in through that JAAS file."""
    opts = f"-Djava.security.auth.login.config={jaas}" if jaas else ""
    args = ("-server", zookeeper_connect(host), *command)
    return host.run("KAFKA_OPTS=%s timeout 90 " + RUN_CLASS + " " + SHELL + " %s" * len(args), opts, *args)


def test_jaas_files_belong_to_their_service(host):
    expected = {"kafka": (BROKER_JAAS, "kafka"), "zookeeper": (SERVER_JAAS, "zookeeper")}
    checked = 0
    for group, (path, group_name) in expected.items():
        if in_group(host, group):
            file = host.file(path)
            assert (file.user, file.group, file.mode) == ("root", group_name, 0o640), path
            checked += 1
    if not checked:
        pytest.skip("neither a broker nor a ZooKeeper member")


def test_broker_sets_acls_on_its_znodes(broker):
    properties = broker.file("/etc/kafka/server.properties").content_string
    assert "zookeeper.set.acl=true" in properties.splitlines()
    unit = broker.file("/etc/systemd/system/kafka.service").content_string
    assert f"-Djava.security.auth.login.config={BROKER_JAAS}" in unit


@pytest.mark.parametrize("parent", ["/config", "/brokers"])
def test_client_without_login_cannot_change_kafka_znodes(broker, parent):
    probe = f"{parent}/molecule-probe-{time.time_ns()}"
    created = zk_shell(broker, "create", probe, "anonymous")
    assert REFUSED.search(created.stdout + created.stderr), created.stdout + created.stderr
    # Nor change what is there: the broker registrations and the SCRAM credentials' parent.
    target = "/config/users" if parent == "/config" else "/brokers/ids"
    changed = zk_shell(broker, "set", target, "anonymous")
    assert REFUSED.search(changed.stdout + changed.stderr), changed.stdout + changed.stderr
    # The broker's own login sees that nothing was written.
    stat = zk_shell(broker, "stat", probe, jaas=BROKER_JAAS)
    assert "Node does not exist" in stat.stdout + stat.stderr, stat.stdout + stat.stderr


def test_client_with_wrong_password_cannot_change_kafka_znodes(broker):
    wrong = "/run/molecule-zookeeper-wrong-jaas.conf"
    broker.check_output(
        "sed 's/password=\"[^\"]*\"/password=\"not-the-password\"/' %s > %s && chmod 0600 %s", BROKER_JAAS, wrong,
        wrong)
    try:
        probe = f"/config/molecule-probe-{time.time_ns()}"
        created = zk_shell(broker, "create", probe, "wrong password", jaas=wrong)
        assert REFUSED.search(created.stdout + created.stderr), created.stdout + created.stderr
        stat = zk_shell(broker, "stat", probe, jaas=BROKER_JAAS)
        assert "Node does not exist" in stat.stdout + stat.stderr
    finally:
        broker.run("rm -f %s", wrong)


@pytest.mark.parametrize("znode", ["/config", "/config/users", "/brokers", "/brokers/ids"])
def test_kafka_znodes_belong_to_the_broker_identity(broker, znode):
    acl = zk_shell(broker, "getAcl", znode, jaas=BROKER_JAAS)
    assert acl.rc == 0, acl.stdout + acl.stderr
    entries = re.findall(r"^'(\w+),'(\S+)\s*\n:\s*(\w+)", acl.stdout, re.MULTILINE)
    assert ("sasl", "kafka", "cdrwa") in entries, acl.stdout
    assert all(perms == "r" for scheme, _who, perms in entries if scheme == "world"), acl.stdout


def test_zookeeper_password_is_in_no_log_file(host):
    if not in_group(host, "kafka"):
        pytest.skip("not in group kafka (the broker's JAAS file holds the password)")
    # The password is taken from the JAAS file on the host itself: never on a command line, which a journal keeps.
    found = host.run(
        "umask 077; pattern=$(mktemp); sed -n 's/^ *password=\"\\(.*\\)\";$/\\1/p' %s > \"$pattern\"; "
        "test -s \"$pattern\" || { echo 'no password in the JAAS file'; exit 2; }; "
        "grep -rlF -f \"$pattern\" $(ls -d /var/log/kafka /var/log/zookeeper 2>/dev/null); status=$?; "
        "rm -f \"$pattern\"; exit $status",
        BROKER_JAAS)
    assert found.rc == 1, f"the ZooKeeper password is in {found.stdout or found.stderr}"
