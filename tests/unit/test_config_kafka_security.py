"""The job's Kafka security settings (issue 12): TLS and SCRAM as Spark ``kafka.*`` options, the password read from
its own file and never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_sentiment import config


def secure(tmp_path: Path, password: str = "s3cret") -> config.StreamConfig:
    (tmp_path / "kafka-password").write_text(password + "\n")
    (tmp_path / "job.toml").write_text(
        '[kafka]\nbootstrap_servers = "10.0.0.1:9092"\nsecurity_protocol = "sasl_ssl"\n'
        f'sasl_username = "chat-sentiment"\nsasl_password_file = "{tmp_path}/kafka-password"\n'
        'ssl_truststore = "/etc/chat-sentiment/kafka-ca.pem"\n')
    return config.load(tmp_path / "job.toml", environ={})


def test_plaintext_adds_no_option():
    assert config.StreamConfig().kafka.client_options() == {}


def test_sasl_ssl_becomes_spark_kafka_options(tmp_path):
    options = secure(tmp_path).kafka.client_options()
    assert options == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/etc/chat-sentiment/kafka-ca.pem",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": 'org.apache.kafka.common.security.scram.ScramLoginModule required '
                                  'username="chat-sentiment" password="s3cret";',
    }


def test_quotes_in_a_password_stay_inside_the_jaas_value(tmp_path):
    jaas = secure(tmp_path, 'a"b\\c').kafka.client_options()["kafka.sasl.jaas.config"]
    assert jaas.endswith('password="a\\"b\\\\c";')


def test_the_password_is_not_in_the_described_settings(tmp_path):
    assert "s3cret" not in json.dumps(config.describe(secure(tmp_path)))


def test_sasl_without_a_readable_password_file_names_it(tmp_path):
    (tmp_path / "job.toml").write_text('[kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_username = "u"\n'
                                       f'sasl_password_file = "{tmp_path}/missing"\n')
    with pytest.raises(config.ConfigError, match="missing"):
        config.load(tmp_path / "job.toml", environ={})


def test_unknown_protocol_is_refused():
    with pytest.raises(config.ConfigError, match="CHAT_SENTIMENT_KAFKA_SECURITY_PROTOCOL"):
        config.from_env({"CHAT_SENTIMENT_KAFKA_SECURITY_PROTOCOL": "tls"})
