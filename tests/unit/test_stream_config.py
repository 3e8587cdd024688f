"""The streaming job's settings: TOML file, environment variables, validation, the connector jar check."""

from __future__ import annotations

from pathlib import Path

import pytest
from chat_sentiment import config
from chat_sentiment.config import ConfigError, StreamConfig

CONNECTOR_JARS = (
    "spark-sql-kafka-0-10_2.13-4.2.0.jar",
    "spark-token-provider-kafka-0-10_2.13-4.2.0.jar",
    "kafka-clients-3.9.2.jar",
    "commons-pool2-2.13.1.jar",
    "delta-spark_2.13-4.4.0.jar",
    "delta-storage-4.4.0.jar",
)


def test_defaults_read_twitch_chat() -> None:
    cfg = config.load(None, environ={})
    assert cfg.sources == ("twitch",)
    assert cfg.topics() == ["twitch-chat"]
    assert cfg.kafka.starting_offsets == "earliest" and cfg.kafka.fail_on_data_loss is True
    assert cfg.kafka.scored_topic == "chat-sentiment-scored" and cfg.kafka.dead_letter_topic == ""
    assert cfg.window == "1 minute" and cfg.scorer.name == "lexicon"
    assert cfg.checkpoint("messages") == Path("/var/lib/chat-sentiment/checkpoints/messages")
    assert cfg.snapshot_file() == Path("/var/lib/chat-sentiment/output/snapshot.json")


def test_file_then_environment(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text("""
sources = ["twitch", "twitter"]
output_dir = "/data/out"
trigger_interval = "5 seconds"
[kafka]
bootstrap_servers = "k1:9092,k2:9092"
topics = { twitter = "x-posts" }
max_offsets_per_trigger = 500
options = { "kafka.security.protocol" = "SSL" }
[scorer]
name = "transformers"
model = "/opt/models/xlmr"
quantize = true
[spark]
jars = ["/opt/jars"]
conf = { "spark.driver.memory" = "2g" }
""")
    cfg = config.load(path, environ={"CHAT_SENTIMENT_KAFKA_MAX_OFFSETS_PER_TRIGGER": "42",
                                     "CHAT_SENTIMENT_SOURCES": "twitter", "CHAT_SENTIMENT_QUANTIZE": "false"})
    assert cfg.sources == ("twitter",)
    assert cfg.source_by_topic() == {"x-posts": "twitter"}
    assert cfg.kafka.topics == {"twitch": "twitch-chat", "twitter": "x-posts"}
    assert cfg.kafka.max_offsets_per_trigger == 42
    assert cfg.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert cfg.kafka.options == {"kafka.security.protocol": "SSL"}
    assert cfg.scorer.options() == {"revision": None, "quantize": False, "batch_size": 32, "max_length": 128}
    assert cfg.spark.conf == {"spark.driver.memory": "2g"} and cfg.spark.jars == ("/opt/jars",)
    assert cfg.trigger_interval == "5 seconds" and cfg.table_dir("messages") == Path("/data/out/messages")
    assert config.describe(cfg)["kafka"]["options"] == {"kafka.security.protocol": "***"}


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text('output_dir = "/x"\n')
    assert config.load(None, environ={"CHAT_SENTIMENT_CONFIG": str(path)}).output_dir == "/x"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"CHAT_SENTIMENT_SOURCES": "twitch,youtube"}, r"CHAT_SENTIMENT_SOURCES: unknown source 'youtube'"),
        ({"CHAT_SENTIMENT_SOURCES": " , "}, r"CHAT_SENTIMENT_SOURCES: choose at least one source"),
        ({"CHAT_SENTIMENT_TRIGGER_INTERVAL": "10s"}, r"CHAT_SENTIMENT_TRIGGER_INTERVAL: expected a duration"),
        ({"CHAT_SENTIMENT_KAFKA_FAIL_ON_DATA_LOSS": "maybe"}, r"FAIL_ON_DATA_LOSS: expected true or false"),
        ({"CHAT_SENTIMENT_KAFKA_MAX_OFFSETS_PER_TRIGGER": "-1"}, r"expected a whole number >= 0"),
        ({"CHAT_SENTIMENT_SCORER": "bert"}, r"unknown scorer 'bert'"),
        ({"CHAT_SENTIMENT_KAFKA_STARTING_OFFSETS": "oldest"}, r"expected earliest, latest"),
        ({"CHAT_SENTIMENT_SPARK_CONF": "{not json"}, r"CHAT_SENTIMENT_SPARK_CONF: expected a JSON object"),
        ({"CHAT_SENTIMENT_KAFKA_TOPIC": "x"}, r"unknown environment variable CHAT_SENTIMENT_KAFKA_TOPIC"),
        ({"CHAT_SENTIMENT_KAFKA_SCORED_TOPIC": "twitch-chat"}, r"output topic is also an input topic"),
        ({"CHAT_SENTIMENT_JARS": ""}, r"spark.jars \(CHAT_SENTIMENT_JARS\) is empty"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(None, environ=environ)


def test_bad_file_keys_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "job.toml"
    path.write_text("[kafka]\nbootstrap = 'x'\n")
    with pytest.raises(ConfigError, match=r"job\.toml: unknown key \[kafka\] 'bootstrap'"):
        config.load(path, environ={})
    path.write_text("sources = [\n")
    with pytest.raises(ConfigError, match=r"not valid TOML"):
        config.load(path, environ={})
    with pytest.raises(ConfigError, match=r"cannot read the config file"):
        config.load(tmp_path / "missing.toml", environ={})


def _jars(folder: Path, names: tuple[str, ...]) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"PK")
    return folder


def test_connector_jars_from_a_directory_or_files(tmp_path: Path) -> None:
    folder = _jars(tmp_path / "jars", CONNECTOR_JARS)
    jars = config.resolve_jars([str(folder)])
    assert [j.name for j in jars] == sorted(CONNECTOR_JARS)
    found = config.check_connector_jars(jars, "4.2.0")
    assert found["kafka-clients"].name == "kafka-clients-3.9.2.jar"
    listed = config.resolve_jars([str(folder / name) for name in CONNECTOR_JARS])
    assert config.check_connector_jars(listed, "4.2.0") == found


def test_missing_connector_jar_is_named(tmp_path: Path) -> None:
    folder = _jars(tmp_path / "jars", CONNECTOR_JARS[:1] + CONNECTOR_JARS[2:3] + CONNECTOR_JARS[4:5])
    with pytest.raises(ConfigError, match=r"missing Kafka connector jar\(s\): "
                                          r"spark-token-provider-kafka-0-10_2\.13-4\.2\.0\.jar, "
                                          r"commons-pool2-<version>\.jar, delta-storage-<version>\.jar "
                                          r"\(searched: .*jars\)"):
        config.check_connector_jars(config.resolve_jars([str(folder)]), "4.2.0")
    with pytest.raises(ConfigError, match=r"spark\.jars: .*nowhere does not exist"):
        config.resolve_jars([str(tmp_path / "nowhere")])
    with pytest.raises(ConfigError, match=r"holds no \.jar file"):
        config.resolve_jars([str(tmp_path)])


def test_connector_for_another_spark_version_is_refused(tmp_path: Path) -> None:
    names = tuple(n.replace("4.2.0", "4.1.1") for n in CONNECTOR_JARS)
    jars = config.resolve_jars([str(_jars(tmp_path / "jars", names))])
    with pytest.raises(ConfigError, match=r"spark-sql-kafka-0-10_2\.13-4\.1\.1\.jar is for Spark 4\.1\.1, but this "
                                          r"is Spark 4\.2\.0"):
        config.check_connector_jars(jars, "4.2.0")


def test_stream_config_is_immutable() -> None:
    with pytest.raises(AttributeError):
        StreamConfig().output_dir = "/x"  # type: ignore[misc]
