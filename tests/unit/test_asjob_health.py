"""``chat-sentiment parse --as-job``, the health document and the job's wait for Kafka, without Spark."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_sentiment import asjob, config, health, stream

REPO = Path(__file__).resolve().parents[2]
EVENT = {"@timestamp": "2024-05-01T12:00:04Z", "log": {"offset": 7, "file": {"path": "/logs/#examplestreamer.log"}}}


def _line(message: str, **record: object) -> bytes:
    return json.dumps({"topic": "twitch-chat", "value": json.dumps({**EVENT, "message": message}), **record}).encode()


def test_parse_as_job_prints_an_outcome_per_row_and_exits_0() -> None:
    stdin = b"\n".join([
        _line("[2024-05-01 21:00:03] <viewer> this is great PogChamp"),
        _line("[2024-05-01 21:00:04] BAN: troll (600s)"),
        json.dumps({"topic": "twitch-chat", "value_b64": base64.b64encode(b"\xff\xfe junk").decode()}).encode(),
        _line("[9999-12-31 23:59:59] <viewer> from the future"),
        json.dumps({"topic": "twitch-chat", "value": json.dumps({**EVENT, "message": "x"})
                    .replace('"x"', '"[2024-05-01 21:00:05] <v> lone \\ud800"')}).encode(),
        b"not a record",
        json.dumps({"topic": "twitch-chat", "value_b64": "%%%"}).encode(),
        json.dumps({"topic": "nobody-reads", "value": "hello"}).encode(),
    ]) + b"\n"
    done = subprocess.run([sys.executable, "-m", "chat_sentiment.cli", "parse", "--as-job"], input=stdin,
                          capture_output=True, timeout=120, check=False,
                          env={"PYTHONPATH": str(REPO / "spark"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert [(o["line"], o["outcome"]) for o in out] == [
        (1, "row"), (2, "event"), (3, "dead_letter"), (4, "dead_letter"), (5, "dead_letter"), (6, "input_error"),
        (7, "input_error"), (8, "dead_letter")]
    assert out[0]["label"] == "positive" and out[0]["channel"] == "examplestreamer" and out[0]["offset"] == 1
    assert out[1]["kind"] == "ban" and "label" not in out[1]
    assert "not valid UTF-8" in out[2]["reason"] and out[2]["raw"].startswith("\\xff\\xfe")
    assert "outside the range the job stores" in out[3]["reason"]
    assert "not valid Unicode" in out[4]["reason"]
    assert out[5]["reason"].startswith("not JSON") and "base64" in out[6]["reason"]
    assert "which no configured source reads" in out[7]["reason"]


def test_parse_as_job_keeps_given_positions_and_uses_the_jobs_settings(tmp_path: Path) -> None:
    cfg = config.from_mapping({"sources": ["twitter"], "kafka": {"topics": {"twitter": "x-posts"}}})
    lines = [json.dumps({"topic": "x-posts", "partition": 2, "offset": 99, "timestamp": "2024-05-01T12:00:00Z",
                         "value": {"data": {"id": "1790000000000000000", "text": "love it"}}}).encode()]
    (out,) = asjob.outcomes(cfg, iter([lines]))
    assert (out["outcome"], out["source"], out["partition"], out["offset"]) == ("row", "twitter", 2, 99)
    assert out["kafka_ts"] == "2024-05-01T12:00:00Z"


def test_health_document(tmp_path: Path) -> None:
    doc = health.Health(tmp_path / "health.json", "lexicon", now=datetime(2024, 5, 1, 12, 0, tzinfo=UTC))
    doc.progress({"name": "other", "batchId": 1, "numInputRows": 1,  # another query: no Kafka lag from it
                  "sources": [{"latestOffset": {"twitter": {"0": 9}}, "endOffset": {"twitter": {"0": 1}}}]})
    doc.progress({"name": "ingest", "batchId": 4, "numInputRows": 10, "inputRowsPerSecond": "NaN",
                  "processedRowsPerSecond": 20.5,
                  "sources": [{"latestOffset": {"twitch-chat": {"0": 120, "1": 40}},
                               "endOffset": json.dumps({"twitch-chat": {"0": 100, "1": 40}})}]},
                 now=datetime(2024, 5, 1, 12, 3, 10, tzinfo=UTC))
    doc.dead_letters_written(2, now=datetime(2024, 5, 1, 12, 1, 30, tzinfo=UTC))
    doc.dead_letters_written(3, now=datetime(2024, 5, 1, 12, 1, 59, tzinfo=UTC))
    doc.dead_letters_written(1, now=datetime(2024, 5, 1, 13, 5, tzinfo=UTC))  # an hour on: 12:01 is dropped
    doc.write(now=datetime(2024, 5, 1, 13, 5, 1, tzinfo=UTC))
    saved = json.loads((tmp_path / "health.json").read_text())
    assert saved["updated_at"] == "2024-05-01T13:05:01Z" and saved["scorer"] == "lexicon"
    assert saved["main_query"] == "ingest" == stream.StreamJob.QUERY
    assert saved["queries"]["ingest"] == {"batch_id": 4, "finished_at": "2024-05-01T12:03:10Z",
                                            "input_rows_per_second": 0.0, "processed_rows_per_second": 20.5,
                                            "num_input_rows": 10}
    assert saved["kafka"] == {"twitch-chat": {"offsets_behind_latest": 20}}
    assert saved["dead_letters_per_minute"] == [{"minute": "2024-05-01T13:05:00Z", "count": 1}]


def test_the_job_waits_for_kafka_and_starts_when_it_listens() -> None:
    with socket.socket() as probe:  # a free port, closed again: nothing listens there yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bootstrap = f"127.0.0.1:{port}"
    assert "127.0.0.1" in (stream.kafka_reachable(bootstrap) or "")
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(
        stream.wait_for_kafka(bootstrap, threading.Event(), retry=0.2, log_every=0.5)))
    waiter.start()
    time.sleep(1.0)
    assert waiter.is_alive() and not result  # still waiting: nothing listens
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        waiter.join(timeout=10)
    assert result == [True]


def test_a_stop_request_ends_the_wait() -> None:
    stopping = threading.Event()
    stopping.set()
    assert stream.wait_for_kafka("127.0.0.1:1", stopping, retry=0.1) is False


@pytest.mark.parametrize("bootstrap", ["", "nohost", "host:port"])
def test_unusable_bootstrap_strings_are_named(bootstrap: str) -> None:
    assert "no host:port" in (stream.kafka_reachable(bootstrap) or "")
