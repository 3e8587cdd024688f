"""Kafka secure by default (issue 12): checked from the controller, another host than the brokers, with kafka-python.

- only TLS answers on the broker's port: a plaintext client, a TLS client without SASL and a client with a wrong
  password can neither produce nor consume;
- a client's SCRAM identity may do only what its ACLs grant: a shipper cannot read its own topic or write another,
  the job cannot write a chat topic;
- the files holding keys and passwords belong to their service (or root) with no access for others;
- no SCRAM password and no key is in any journal of the hosts, nor in the output of a converge at -v.

The controller's CA and generated passwords are in the scenario's ephemeral directory (inventories/testbed's
chat_sentiment_pki_dir). Scenarios pull this file in through their molecule.yml.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import subprocess
from pathlib import Path

import pytest
import testinfra
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

PKI = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "pki"
# What a scenario's side effect applied on top of its converge (kafka-aio's upgrade, kafka-cluster's roll), as
# JSON on the host: the verbose converge below re-applies it, so it checks the deployment without changing it.
SIDE_EFFECT_VARS = "/var/lib/molecule-side-effect-vars.json"
PORT = 9092
TIMEOUT_MS = 15_000


def variables(host) -> dict:
    return host.ansible.get_variables()


def in_group(host, group: str) -> bool:
    return variables(host)["inventory_hostname"] in variables(host)["groups"].get(group, [])


@functools.cache
def other_host(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


def bootstrap(host) -> str:
    broker = variables(host)["groups"]["kafka"][0]
    return f"{other_host(broker).ansible.get_variables()['ansible_host']}:{PORT}"


def password(user: str) -> str:
    return (PKI / "credentials" / user).read_text().strip()


def secrets() -> dict[str, str]:
    """Every generated password and private key on the controller, by file name."""
    found = {path.name: path.read_text().strip() for path in (PKI / "credentials").iterdir() if path.is_file()}
    for key in list(PKI.glob("*.key")) + list(PKI.glob("brokers/*.key")):
        body = [line for line in key.read_text().splitlines() if line and not line.startswith("-----")]
        found[key.name] = "".join(body[1:3])  # a piece of the base64 body, as it would appear if printed
    return found


def client_settings(protocol: str = "SASL_SSL", user: str = "", secret: str = "") -> dict:
    settings: dict = {"security_protocol": protocol, "request_timeout_ms": TIMEOUT_MS,
                      "reconnect_backoff_max_ms": 1000}
    if protocol in ("SSL", "SASL_SSL"):
        settings |= {"ssl_cafile": str(PKI / "ca.crt"), "ssl_check_hostname": True}
    if protocol.startswith("SASL_"):
        settings |= {"sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": user, "sasl_plain_password": secret}
    return settings


def produce(host, topic: str, **settings) -> str | None:
    """None if a record was written to ``topic`` with these settings, else the error."""
    try:
        producer = KafkaProducer(bootstrap_servers=bootstrap(host), acks="all", max_block_ms=TIMEOUT_MS, **settings)
    except KafkaError as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        producer.send(topic, b"must never be written: security test").get(timeout=TIMEOUT_MS / 1000)
        return None
    except KafkaError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        producer.close(timeout=5)


def consume(host, topic: str, **settings) -> str | None:
    """None if the end offset of ``topic`` could be read and polled with these settings, else the error."""
    try:
        consumer = KafkaConsumer(bootstrap_servers=bootstrap(host), group_id=None, enable_auto_commit=False,
                                 consumer_timeout_ms=5000, **settings)
    except KafkaError as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        consumer.poll(timeout_ms=5000, max_records=1)
        consumer.position(partition)
        return None
    except KafkaError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        consumer.close()


@pytest.fixture(autouse=True)
def _only_on_the_first_broker(host):
    if not PKI.is_dir():
        pytest.skip("kafka_security is not sasl_ssl in this scenario (no controller PKI)")
    if variables(host)["inventory_hostname"] != variables(host)["groups"]["kafka"][0]:
        pytest.skip("checked once, against the first broker")


def connects(address: str) -> str | None:
    server, port = address.rsplit(":", 1)
    try:
        socket.create_connection((server, int(port)), timeout=5).close()
        return None
    except OSError as exc:
        return str(exc)


@pytest.fixture
def reachable(host):
    """The client checks run from the controller, which is in no inventory group. Where firewalld keeps it out of
    the brokers' port (kafka-cluster, whose test_firewall_standalone proves that), it is let in by a runtime-only
    rich rule on every broker for each check that needs it, removed right after: the verbose converge (which would
    drop a rule the roles did not write) and the firewall checks find exactly the roles' rules."""
    rule = (f'rule family="ipv4" source address="{variables(host)["testbed_gateway"]}" port port="{PORT}" '
            'protocol="tcp" accept')
    opened = []
    try:
        if connects(bootstrap(host)):
            for name in variables(host)["groups"]["kafka"]:
                broker = other_host(name)
                if broker.run("firewall-cmd --state").rc == 0:
                    broker.check_output("firewall-cmd --add-rich-rule=%s", rule)
                    opened.append(broker)
        refused = connects(bootstrap(host))
        assert refused is None, f"the controller cannot reach {bootstrap(host)} ({refused})"
        yield
    finally:
        for broker in opened:
            broker.check_output("firewall-cmd --remove-rich-rule=%s", rule)


def test_admin_identity_works(host, reachable):
    """The positive control: the admin (a super user) reads a topic over TLS + SCRAM."""
    assert consume(host, "twitch-chat", **client_settings(user="admin", secret=password("admin"))) is None


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL"])
def test_client_without_sasl_can_neither_produce_nor_consume(host, protocol, reachable):
    settings = client_settings(protocol)
    assert produce(host, "twitch-chat", **settings) is not None
    assert consume(host, "twitch-chat", **settings) is not None


def test_wrong_password_can_neither_produce_nor_consume(host, reachable):
    settings = client_settings(user="filebeat", secret=password("filebeat") + "x")
    assert produce(host, "twitch-chat", **settings) is not None
    assert consume(host, "twitch-chat", **settings) is not None
    assert consume(host, "twitch-chat", **client_settings(user="admin", secret=password("admin")[:-1])) is not None


def test_unknown_user_is_refused(host, reachable):
    settings = client_settings(user="intruder", secret=password("filebeat"))
    assert consume(host, "twitch-chat", **settings) is not None


def test_each_identity_has_only_its_acls(host, reachable):
    filebeat = client_settings(user="filebeat", secret=password("filebeat"))
    assert "TopicAuthorization" in (produce(host, "twitter", **filebeat) or "")
    assert consume(host, "twitch-chat", **filebeat) is not None  # a shipper writes; it never reads
    producer = client_settings(user="twitter-producer", secret=password("twitter-producer"))
    assert "TopicAuthorization" in (produce(host, "twitch-chat", **producer) or "")
    assert consume(host, "twitch-chat", **producer) is not None
    assert consume(host, "twitter", **producer) is None  # its own topic: the restart recovery reads it
    logstash = client_settings(user="logstash", secret=password("logstash"))
    assert "TopicAuthorization" in (produce(host, "twitch-chat", **logstash) or "")
    job = client_settings(user="chat-sentiment", secret=password("chat-sentiment"))
    assert consume(host, "twitch-chat", **job) is None
    assert "TopicAuthorization" in (produce(host, "twitch-chat", **job) or "")
    assert "TopicAuthorization" in (produce(host, "twitter", **job) or "")


def test_the_broker_speaks_only_tls_on_its_one_port(host):
    properties = host.file("/etc/kafka/server.properties").content_string
    assert f"listeners=SASL_SSL://0.0.0.0:{PORT}" in properties
    assert "security.inter.broker.protocol=SASL_SSL" in properties
    assert "PLAINTEXT://" not in properties
    java = host.process.get(user="kafka", comm="java")
    ports = host.run("ss -Hltnp | grep 'pid=%s,' | awk '{print $4}'", str(java.pid)).stdout.split()
    assert {port.rsplit(":", 1)[1] for port in ports} == {str(PORT)}, ports


def test_secret_files_belong_to_their_service(host):
    expected = {  # path: (owner, group, mode), on the hosts of the group that has it
        "kafka": {"/etc/kafka/server.properties": ("root", "kafka", 0o640),
                  "/etc/kafka/admin.properties": ("root", "root", 0o600),
                  "/etc/kafka/tls/kafka.keystore.p12": ("kafka", "kafka", 0o600),
                  "/etc/kafka/tls/ca.pem": ("kafka", "kafka", 0o640)},
        "spark": {"/etc/chat-sentiment/kafka-password": ("chat-sentiment", "chat-sentiment", 0o600),
                  "/etc/chat-sentiment/kafka-ca.pem": ("chat-sentiment", "chat-sentiment", 0o640)},
        "shipper": {"/etc/filebeat/filebeat.yml": ("root", "filebeat", 0o640)},
    }
    for group, files in expected.items():
        for name in variables(host)["groups"].get(group, []):
            target = other_host(name)
            for path, (owner, group_name, mode) in files.items():
                file = target.file(path)
                if group == "shipper" and not file.exists:
                    continue  # a shipper host of the other source
                assert (file.user, file.group, file.mode) == (owner, group_name, mode), f"{name}:{path}"


def test_no_secret_in_any_journal(host):
    wanted = secrets()
    for name in sorted(set(variables(host)["groups"]["all"])):
        journal = other_host(name).check_output("journalctl --no-pager -o cat -q | tail -c 200000000")
        leaked = [label for label, secret in wanted.items() if secret and secret in journal]
        assert not leaked, f"{name}'s journal holds the secrets of {leaked}"


def test_no_secret_in_a_converge_at_verbose(host):
    """The scenario's converge run again at -v, with what the side effect applied (so nothing changes, a
    downgrade least of all): its whole output holds no password or key, and it changes nothing."""
    scenario = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    project = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", scenario.parent.parent))
    argv = ["ansible-playbook", "-v", "-i", os.environ["MOLECULE_INVENTORY_FILE"], str(scenario / "converge.yml")]
    if (scenario / "vars" / "main.yml").exists():
        argv += ["-e", f"@{scenario / 'vars' / 'main.yml'}"]
    if (scenario / "extra_vars" / "main.yml").exists():
        argv += ["-e", f"@{scenario / 'extra_vars' / 'main.yml'}"]
    applied = host.file(SIDE_EFFECT_VARS)
    if applied.exists:
        argv += ["-e", applied.content_string]
    env = {**os.environ, "ANSIBLE_ROLES_PATH": str(project / "ansible" / "roles"), "ANSIBLE_PIPELINING": "true",
           "ANSIBLE_FORCE_COLOR": "false"}
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=3600, check=False)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-3000:]
    leaked = [label for label, secret in secrets().items() if secret and secret in output]
    assert not leaked, f"the converge output holds the secrets of {leaked}"
    # It is also an idempotence run (the pipeline scenario has no other): every host's recap says changed=0.
    recaps = re.findall(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", run.stdout, re.MULTILINE)
    assert recaps, run.stdout[-2000:]
    assert all(changed == "0" for _, changed in recaps), (recaps, changed_tasks(run.stdout))


def changed_tasks(output: str) -> list[str]:
    """The tasks that reported a change, from ansible-playbook's output."""
    task, found = "", []
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line.split("[", 1)[1].rsplit("]", 1)[0]
        elif line.startswith("changed:"):
            found.append(task)
    return found
