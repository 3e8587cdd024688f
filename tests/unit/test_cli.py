"""The command-line contract, run as a user would: ``python -m chat_sentiment.cli`` in a subprocess."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

SPARK_DIR = Path(__file__).resolve().parents[2] / "spark"
ENV = {**os.environ, "PYTHONPATH": str(SPARK_DIR), "PYTHONIOENCODING": "utf-8"}


def run(args: list[str], stdin: bytes, timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "chat_sentiment.cli", *args], input=stdin, capture_output=True,
                          env=ENV, timeout=timeout, check=False)


def outputs(result: subprocess.CompletedProcess[bytes]) -> list[dict]:
    assert result.returncode == 0, result.stderr.decode()
    return [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]


def test_score_one_object_per_line_in_order() -> None:
    lines = ["PogChamp", "", "ResidentSleeper", "ㅋㅋㅋㅋ", "노잼", "Kappa", "안 재밌다", "개꿀잼 ㄱㅇㄷ"]
    result = outputs(run(["score"], ("\n".join(lines) + "\n").encode()))
    assert len(result) == len(lines)
    assert [r["label"] for r in result] == ["positive", "neutral", "negative", "positive", "negative", "neutral",
                                            "negative", "positive"]
    for r in result:
        assert set(r) == {"label", "score"} and isinstance(r["score"], float) and -1.0 <= r["score"] <= 1.0
    assert result[1] == {"label": "neutral", "score": 0.0}


def test_score_output_is_exact_json_per_line() -> None:
    result = run(["score", "--scorer", "lexicon"], b"\n")
    assert result.stdout == b'{"label": "neutral", "score": 0.0}\n'


def test_score_handles_bad_bytes_crlf_bom_and_a_missing_final_newline() -> None:
    data = b"\xef\xbb\xbfPogChamp\r\n\xff\xfe\xfd\r\n\n\x00\nlast line ResidentSleeper"
    result = outputs(run(["score"], data))
    assert [r["label"] for r in result] == ["positive", "neutral", "neutral", "neutral", "negative"]


def test_score_empty_input_gives_no_output() -> None:
    result = run(["score"], b"")
    assert result.returncode == 0 and result.stdout == b""


def test_score_many_lines_and_a_huge_line() -> None:
    lines = [f"line {i} PogChamp" if i % 2 else f"line {i} ResidentSleeper" for i in range(5000)]
    lines.insert(2500, "x" * (1 << 20))
    result = outputs(run(["score", "--batch-size", "7"], ("\n".join(lines) + "\n").encode()))
    assert len(result) == len(lines)
    assert result[2500] == {"label": "neutral", "score": 0.0}
    assert result[0]["label"] == "negative" and result[-1]["label"] == "positive"


@pytest.mark.skipif(sys.platform == "win32", reason="select on pipes")
def test_score_answers_each_line_while_stdin_stays_open() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "chat_sentiment.cli", "score"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        for text, label in (("PogChamp", "positive"), ("ResidentSleeper", "negative")):
            proc.stdin.write(text.encode() + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, f"no answer for {text!r} while stdin is still open"
            assert json.loads(proc.stdout.readline())["label"] == label
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_unknown_scorer_is_a_usage_error() -> None:
    result = run(["score", "--scorer", "vader"], b"x\n")
    assert result.returncode == 2 and b"invalid choice" in result.stderr


def test_transformers_scorer_failure_names_the_cause() -> None:
    result = run(["score", "--scorer", "transformers", "--model", "/nonexistent/model"], b"x\n")
    assert result.returncode == 2
    assert b"transformers" in result.stderr or b"/nonexistent/model" in result.stderr


def test_parse_filebeat_chatty_and_twitter_records_with_scores() -> None:
    filebeat = json.dumps({"@timestamp": "2024-05-01T12:00:05Z", "message": "[2024-05-01 21:00:05] <%시청자 "
                           "(viewer_one)> ㅋㅋㅋㅋㅋ KEKW", "log": {"offset": 10, "file": {"path": "/l/#chan.log"}},
                           "fields": {"tz": "+0900"}}, ensure_ascii=False)
    post = json.dumps({"data": {"id": "1785612345678909999", "text": "ResidentSleeper", "author_id": "1"}})
    chatty = "[2024-05-01 21:00:15] BAN: troll_user (600s) [도배], spammer2"
    data = "\n".join([filebeat, post, chatty, "{not json", ""]).encode() + b"\n"
    records = outputs(run(["parse", "--score", "--channel", "chan"], data))
    kinds = [(r["type"], r.get("source"), r.get("kind")) for r in records]
    assert kinds[:3] == [("event", "twitch", "message"), ("event", "twitter", "message"), ("event", "twitch", "ban")]
    assert records[0]["label"] == "positive" and records[0]["user"] == "viewer_one"
    assert records[0]["ts"] == "2024-05-01T12:00:05.000Z"
    assert records[1]["label"] == "negative"
    assert "label" not in records[2]
    assert records[3]["type"] == "dead_letter" and "not JSON" in records[3]["reason"]
    assert records[4] == {"type": "dead_letter", "raw": "", "reason": "empty line", "source": "twitch",
                          "origin": f"chan:{len(chatty.encode()) + 1}"}  # offsets count the Chatty lines read


def test_score_streams_without_waiting_for_eof_in_batches() -> None:
    start = time.monotonic()
    result = outputs(run(["score"], b"gg\n" * 20000))
    assert len(result) == 20000 and time.monotonic() - start < 60
