"""``chat-sentiment stream --check`` / ``python -m chat_sentiment.stream --check``: settings and connector jars are
checked before Spark starts, and a missing jar is named."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from chat_sentiment.cli import main as cli_main

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark is not installed")

JARS = ("spark-sql-kafka-0-10_2.13-{v}.jar", "spark-token-provider-kafka-0-10_2.13-{v}.jar", "kafka-clients-3.9.2.jar",
        "commons-pool2-2.13.1.jar", "delta-spark_2.13-4.4.0.jar", "delta-storage-4.4.0.jar")


def _jar_dir(tmp_path: Path, skip: int | None = None) -> Path:
    import pyspark  # noqa: PLC0415

    folder = tmp_path / "jars"
    folder.mkdir()
    for i, name in enumerate(JARS):
        if i != skip:
            (folder / name.format(v=pyspark.__version__)).write_bytes(b"PK")
    return folder


def test_check_prints_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "job.toml"
    config_file.write_text(f'output_dir = "{tmp_path}/out"\n[spark]\njars = ["{_jar_dir(tmp_path)}"]\n')
    monkeypatch.setenv("CHAT_SENTIMENT_SOURCES", "twitch,twitter")
    monkeypatch.setenv("CHAT_SENTIMENT_KAFKA_OPTIONS", '{"kafka.sasl.jaas.config": "secret"}')
    assert cli_main(["stream", "--config", str(config_file), "--check"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["config"]["sources"] == ["twitch", "twitter"]
    assert report["config"]["output_dir"] == f"{tmp_path}/out"
    assert report["config"]["kafka"]["options"] == {"kafka.sasl.jaas.config": "***"}
    assert len(report["jars"]) == 6


def test_a_missing_connector_jar_stops_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from chat_sentiment.stream import main as stream_main  # noqa: PLC0415

    monkeypatch.setenv("CHAT_SENTIMENT_JARS", str(_jar_dir(tmp_path, skip=3)))
    with caplog.at_level("ERROR"):
        assert stream_main(["--check"]) == 2
    assert "missing Kafka connector jar(s): commons-pool2-<version>.jar" in caplog.text


def test_a_bad_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from chat_sentiment.stream import main as stream_main  # noqa: PLC0415

    monkeypatch.setenv("CHAT_SENTIMENT_WINDOW", "a minute")
    with caplog.at_level("ERROR"):
        assert stream_main(["--check"]) == 2
    assert "CHAT_SENTIMENT_WINDOW: expected a duration" in caplog.text


def test_window_seconds() -> None:
    from chat_sentiment.stream import window_seconds  # noqa: PLC0415

    assert window_seconds("1 minute") == 60
    assert window_seconds("30 seconds") == 30
    assert window_seconds("2 hours") == 7200
