"""ZooKeeper SASL as the zookeeper and kafka roles render it (templates, vars/main.yml), without any host.

Two ``ansible-playbook`` runs (connection local) with the roles' defaults and one controller PKI folder: the
zookeeper role's ``zookeeper.properties`` and JAAS file for a single node on ZooKeeper 3.6 (Kafka 3.0.0's) and on
3.8 (Kafka 3.6.2's), for an ensemble (new, in each of the three rolls of turning quorum SASL on) and with SASL
off; then the kafka role's ``server.properties``, JAAS file and unit for a broker. The broker's login must be the
one ZooKeeper's JAAS file accepts: both roles find the same generated password.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ZOOKEEPER = REPO / "ansible" / "roles" / "zookeeper"
KAFKA = REPO / "ansible" / "roles" / "kafka"

# host: (group, host variables)
ZOOKEEPER_HOSTS = {
    "zk36": ("single36", {"__zookeeper_server_version": "3.6.3"}),
    "zk38": ("single38", {"__zookeeper_server_version": "3.8.4"}),
    "zkopen": ("open", {"__zookeeper_server_version": "3.8.4", "zookeeper_sasl": False}),
    "new1": ("ensemble", {}),
    "staged1": ("staged", {"__zookeeper_quorum_staged": True}),
    "staged2": ("staged", {"__zookeeper_quorum_staged": True}),
    "second1": ("second", {"__zookeeper_quorum_staged": True, "__zookeeper_quorum_roll": 2}),
    "second2": ("second", {"__zookeeper_quorum_staged": True, "__zookeeper_quorum_roll": 2}),
    "rolled1": ("rolled", {"__zookeeper_quorum_staged": True, "__zookeeper_quorum_roll": 3}),
    "rolled2": ("rolled", {"__zookeeper_quorum_staged": True, "__zookeeper_quorum_roll": 3}),
    "new2": ("ensemble", {}),
}


def properties(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, local_play) -> Path:
    work = tmp_path_factory.mktemp("zookeeper-sasl")
    pki = str(work / "pki")
    groups: dict[str, dict] = {}
    for index, (name, (group, host_vars)) in enumerate(ZOOKEEPER_HOSTS.items()):
        groups.setdefault(group, {"hosts": {}})["hosts"][name] = {
            "ansible_host": f"10.0.0.{index + 1}", "zookeeper_hosts_group": group, **host_vars}
    out = str(work) + "/{{ inventory_hostname }}"
    (work / "zookeeper").mkdir()
    defaults = yaml.safe_load((ZOOKEEPER / "defaults" / "main.yml").read_text())
    local_play(work / "zookeeper", {"all": {"vars": {**defaults, "chat_sentiment_pki_dir": pki},
                                            "children": groups}},
               name="Render ZooKeeper's settings as the role does", hosts="all", role=ZOOKEEPER,
               play_vars={"zookeeper_java_home": "/usr/lib/jvm/java-17", "kafka_dist_dir": "/opt/kafka/k"},
               tasks=[{"name": f"{template} is rendered",
                       "ansible.builtin.template": {"src": str(ZOOKEEPER / "templates" / f"{template}.j2"),
                                                    "dest": f"{out}.{template}", "mode": "0600"}}
                      for template in ("zookeeper.properties", "zookeeper-jaas.conf", "zookeeper.service")])
    (work / "kafka").mkdir()
    defaults = yaml.safe_load((KAFKA / "defaults" / "main.yml").read_text())
    local_play(work / "kafka", {"all": {"vars": {**defaults, "chat_sentiment_pki_dir": pki}, "children": {
                   "kafka": {"hosts": {"broker": {"ansible_host": "10.0.1.1"}}},
                   "zookeeper": {"hosts": {"zk38": {"ansible_host": "10.0.0.2"}}}}}},
               name="Render the broker's settings as the role does", hosts="kafka", role=KAFKA,
               play_vars={"kafka_java_home": "/usr/lib/jvm/java-17"},
               tasks=[{"name": f"{template} is rendered",
                       "ansible.builtin.template": {"src": str(KAFKA / "templates" / f"{template}.j2"),
                                                    "dest": f"{out}.{template}", "mode": "0600"}}
                      for template in ("server.properties", "zookeeper-jaas.conf", "kafka.service")])
    return work


def test_zookeeper_36_closes_sessions_without_a_login_the_36_way(rendered: Path) -> None:
    settings = properties(rendered / "zk36.zookeeper.properties")
    assert settings["authProvider.sasl"] == "org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
    assert settings["sessionRequireClientSASLAuth"] == "true"
    assert "enforce.auth.enabled" not in settings  # 3.6.3 has no enforce.auth.*
    assert not any(key.startswith("quorum.auth.") for key in settings)  # a single node has no quorum


def test_zookeeper_38_enforces_sasl_sessions(rendered: Path) -> None:
    settings = properties(rendered / "zk38.zookeeper.properties")
    assert (settings["enforce.auth.enabled"], settings["enforce.auth.schemes"]) == ("true", "sasl")
    assert "sessionRequireClientSASLAuth" not in settings


def test_the_server_loads_its_jaas_file(rendered: Path) -> None:
    unit = (rendered / "zk38.zookeeper.service").read_text()
    assert "ZOOKEEPER_SASL_OPTS=-Djava.security.auth.login.config=/etc/zookeeper/zookeeper-jaas.conf" in unit
    assert "$ZOOKEEPER_SASL_OPTS" in unit
    jaas = (rendered / "zk38.zookeeper-jaas.conf").read_text()
    assert re.search(r'Server \{\s*org\.apache\.zookeeper\.server\.auth\.DigestLoginModule required\s*'
                     r'user_kafka="[A-Za-z0-9]{32}";\s*\};', jaas), jaas
    assert "Quorum" not in jaas


def test_sasl_off_leaves_no_sasl_setting(rendered: Path) -> None:
    settings = properties(rendered / "zkopen.zookeeper.properties")
    assert not any("sasl" in key.lower() or key.startswith(("enforce.", "quorum.auth.")) for key in settings)
    assert "java.security.auth.login.config" not in (rendered / "zkopen.zookeeper.service").read_text()


@pytest.mark.parametrize(("host", "learner", "server"), [
    ("new1", "true", "true"), ("staged1", "false", "false"), ("second1", "true", "false"), ("rolled1", "true", "true")])
def test_an_ensemble_authenticates_its_members(rendered: Path, host: str, learner: str, server: str) -> None:
    """A new ensemble requires quorum SASL at once; a running one speaks it, requires it of the leader, then of
    every learner, one roll each (a member requiring more than its peers offer would not rejoin the quorum)."""
    settings = properties(rendered / f"{host}.zookeeper.properties")
    assert settings["quorum.auth.enableSasl"] == "true"
    assert settings["quorum.auth.learnerRequireSasl"] == learner
    assert settings["quorum.auth.serverRequireSasl"] == server
    jaas = (rendered / f"{host}.zookeeper-jaas.conf").read_text()
    server = re.search(r'QuorumServer \{[^}]*user_zookeeper="([A-Za-z0-9]{32})";', jaas)
    learner = re.search(r'QuorumLearner \{[^}]*username="zookeeper"\s*password="([A-Za-z0-9]{32})";', jaas)
    assert server and learner and server.group(1) == learner.group(1), jaas


def test_ensemble_members_share_one_quorum_password(rendered: Path) -> None:
    passwords = {re.search(r'user_zookeeper="(\w+)"', (rendered / f"{host}.zookeeper-jaas.conf").read_text()).group(1)
                 for host in ("new1", "new2", "staged1", "rolled2")}
    assert len(passwords) == 1


def test_the_broker_logs_in_as_zookeeper_expects_and_sets_acls(rendered: Path) -> None:
    settings = properties(rendered / "broker.server.properties")
    assert settings["zookeeper.set.acl"] == "true"
    unit = (rendered / "broker.kafka.service").read_text()
    assert "KAFKA_ZOOKEEPER_SASL_OPTS=-Djava.security.auth.login.config=/etc/kafka/zookeeper-jaas.conf" in unit
    assert "$KAFKA_ZOOKEEPER_SASL_OPTS" in unit
    client = (rendered / "broker.zookeeper-jaas.conf").read_text()
    login = re.search(r'Client \{\s*org\.apache\.zookeeper\.server\.auth\.DigestLoginModule required\s*'
                      r'username="kafka"\s*password="([A-Za-z0-9]{32})";\s*\};', client)
    assert login, client
    accepted = re.search(r'user_kafka="(\w+)"', (rendered / "zk38.zookeeper-jaas.conf").read_text()).group(1)
    assert login.group(1) == accepted
    assert (rendered / "pki" / "credentials" / "zookeeper-kafka").read_text().strip() == accepted
