"""logstash_filebeat/filebeat.yml.j2, rendered the way the filebeat role renders it, without any host.

One ``ansible-playbook`` run (connection local) renders the template for two fake shippers with the role's
defaults and ``vars/main.yml``: one with the brokers taken from the inventory's kafka group, one with the bootstrap
override and ``filebeat_config_overrides``. The tests check the result is YAML with the settings the pipeline relies
on, that an event shaped by it is what the job's parser (``chat_sentiment.filebeat``) turns into a chat message
with the channel from the path, and (marker ``integration``) that the mirror's Filebeat accepts it.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from chat_sentiment.filebeat import parse_event
from chat_sentiment.records import ChatEvent

from scripts.mirror import filebeat
from scripts.paths import mirror_root

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "ansible" / "roles" / "filebeat"
TEMPLATE = REPO / "logstash_filebeat" / "filebeat.yml.j2"

INVENTORY = {
    "all": {
        "children": {
            "kafka": {
                "hosts": {
                    "k1": {"ansible_host": "10.0.0.1"},
                    "k2": {"ansible_host": "10.0.0.2", "kafka_advertised_host": "broker2.example.org"},
                },
            },
            "shipper": {
                "hosts": {
                    "fb-group": {},
                    "fb-override": {
                        "filebeat_kafka_bootstrap_servers": ["b1.example.org:9093", "b2.example.org:9093"],
                        "filebeat_timezone": "Asia/Seoul",
                        "filebeat_extra_fields": {"log_date": "2024-05-01"},
                        "filebeat_kafka_partitioner": "round_robin",
                        "filebeat_config_overrides": {
                            "output": {"kafka": {"compression": "lz4", "client_id": "shipper-test"}},
                            "logging": {"level": "debug"},
                        },
                    },
                },
            },
        },
    },
}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, local_play) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("filebeat-template")
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    # The generated Kafka password of the default (kafka_security sasl_ssl) goes to this test's folder.
    inventory = {"all": {**INVENTORY["all"], "vars": {**defaults, "chat_sentiment_pki_dir": str(work / "pki")}}}
    local_play(work, inventory, name="Render filebeat.yml as the role does", hosts="shipper", role=ROLE, play_vars={
        "ansible_facts": {"architecture": "x86_64", "date_time": {"tz_offset": "+0000"}},
        # What configure.yml sets from /etc/localtime.
        "__filebeat_timezone": "{{ filebeat_timezone if filebeat_timezone | length > 0 else 'Etc/UTC' }}",
    }, tasks=[{
        "name": "The template is rendered",
        "ansible.builtin.template": {"src": str(TEMPLATE), "dest": str(work) + "/{{ inventory_hostname }}.yml",
                                     "mode": "0600"},
    }])
    return {name: work / f"{name}.yml" for name in ("fb-group", "fb-override")}


SYSTEM_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def load(path: Path) -> dict[str, Any]:
    config = yaml.safe_load(path.read_text())
    assert isinstance(config, dict)
    return config


def test_kafka_output_uses_tls_and_scram_by_default(rendered: dict[str, Path]) -> None:
    kafka = load(rendered["fb-group"])["output"]["kafka"]
    assert kafka["ssl"] == {"enabled": True, "certificate_authorities": ["/etc/filebeat/kafka-ca.pem"],
                            "verification_mode": "full"}
    assert kafka["sasl"] == {"mechanism": "SCRAM-SHA-512"} and kafka["username"] == "filebeat"
    assert len(kafka["password"]) == 32


def test_renders_yaml_with_the_pipeline_settings(rendered: dict[str, Path]) -> None:
    config = load(rendered["fb-group"])
    assert set(config) == {"filebeat", "output", "logging", "http"}
    (the_input,) = config["filebeat"]["inputs"]
    assert the_input["type"] == "filestream"
    assert the_input["id"] == "twitch-chat-logs"
    assert the_input["paths"] == ["/var/lib/chat-logger/logs/*.log", "/var/lib/chat-logger/logs/*.log.[0-9]",
                                  "/var/lib/chat-logger/logs/*.log-[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]"]
    assert the_input["encoding"] == "utf-8"
    assert the_input["fields"] == {"source": "twitch", "tz": "Etc/UTC"}
    assert the_input["fields_under_root"] is False  # the job reads fields.tz, fields.channel...
    assert the_input["close"]["on_state_change"] == {"inactive": "5m", "renamed": False, "removed": True}
    assert the_input["backoff"] == {"init": "1s", "max": "2s"}  # a line after a lull waits 2 s at most, not 10
    assert config["filebeat"]["shutdown_timeout"] == "10s"
    kafka = config["output"]["kafka"]
    # Each broker at its advertised address, as the kafka role advertises it.
    assert kafka["hosts"] == ["10.0.0.1:9092", "broker2.example.org:9092"]
    assert kafka["topic"] == "twitch-chat"
    assert kafka["version"] == "2.8.0"  # a string: YAML must not turn it into a number
    assert kafka["required_acks"] == -1
    assert kafka["compression"] == "gzip"
    assert kafka["max_retries"] == -1
    assert kafka["partition"] == {"hash": {"hash": ["log.file.path"], "random": True, "reachable_only": False}}
    assert config["logging"]["to_files"] is True and config["logging"]["to_stderr"] is False
    assert config["http"] == {"enabled": True, "host": "localhost", "port": 5066}


def test_overrides_merge_over_the_rendered_config(rendered: dict[str, Path]) -> None:
    config = load(rendered["fb-override"])
    kafka = config["output"]["kafka"]
    assert kafka["hosts"] == ["b1.example.org:9093", "b2.example.org:9093"]
    assert kafka["compression"] == "lz4" and kafka["client_id"] == "shipper-test"
    assert kafka["required_acks"] == -1 and kafka["topic"] == "twitch-chat"  # kept beside the overrides
    assert kafka["partition"] == {"round_robin": {"reachable_only": False}}
    assert config["logging"]["level"] == "debug" and config["logging"]["to_files"] is True
    assert config["filebeat"]["inputs"][0]["fields"] == {"source": "twitch", "tz": "Asia/Seoul",
                                                          "log_date": "2024-05-01"}


@pytest.mark.parametrize("host", ["fb-group", "fb-override"])
def test_an_event_shaped_by_the_config_parses_as_the_job_expects(rendered: dict[str, Path], host: str) -> None:
    the_input = load(rendered[host])["filebeat"]["inputs"][0]
    folder = the_input["paths"][0].rsplit("/", 1)[0]
    line = "[2024-05-01 21:00:05] <%시청자 (viewer_one)> ㅋㅋㅋㅋㅋ KEKW"
    event = {
        "@timestamp": "2024-05-01T12:00:05.700Z",
        "log": {"offset": 120, "file": {"path": f"{folder}/#ExampleStreamer.log"}},
        "message": line,
        "input": {"type": "filestream"},
        "fields": the_input["fields"],
        "host": {"name": host},
    }
    record = parse_event(json.dumps(event, ensure_ascii=False))
    assert isinstance(record, ChatEvent), record
    assert record.channel == "examplestreamer"
    assert record.text == "ㅋㅋㅋㅋㅋ KEKW"
    assert record.kind == "message" and record.user == "viewer_one"


@pytest.mark.integration
def test_mirror_filebeat_accepts_the_rendered_config(rendered: dict[str, Path], tmp_path: Path) -> None:
    tarball = filebeat.tarball_path(mirror_root())
    if not tarball.is_file():
        pytest.skip(f"no Filebeat in the mirror ({tarball}): python -m scripts.mirror build --only filebeat")
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path, filter="data")
    home = tmp_path / filebeat.top_dir()
    for host, rendered_config in rendered.items():
        # Filebeat opens the Kafka CA file the role puts on the host; here any PEM bundle stands in for it.
        config = tmp_path / f"{host}.yml"
        config.write_text(rendered_config.read_text().replace("/etc/filebeat/kafka-ca.pem", SYSTEM_CA_BUNDLE))
        config.chmod(0o600)
        result = subprocess.run(
            [str(home / "filebeat"), "test", "config", "-c", str(config), "--path.home", str(home),
             "--path.data", str(tmp_path / host / "data"), "--path.logs", str(tmp_path / host / "logs")],
            capture_output=True, text=True, timeout=120, check=False,
        )
        assert result.returncode == 0 and "Config OK" in result.stdout, f"{host}: {result.stdout}{result.stderr}"
