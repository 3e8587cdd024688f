"""chat-sentiment report: per-minute table from the job's tables, checked against a recount of the rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from chat_sentiment import cli, report
from deltalake import write_deltalake


def _sink(table: Path, name: str, data: dict[str, list[object]]) -> None:
    """One committed batch of the job: an append to a Delta table (``name``: the batch, for the reader only)."""
    write_deltalake(str(table), pa.table(data), mode="append", commit_properties=None)


def _ts(minute: int, second: int) -> datetime:
    return datetime(2026, 11, 29, 18, minute, second)  # Spark writes naive UTC timestamps


def _messages(out: Path) -> None:
    _sink(out / "messages", "0", {
        "id": ["a", "b", "c", "d", "e"],
        "source": ["twitch"] * 5,
        "channel": ["kr", "kr", "kr", "en", "kr"],
        "ts": [_ts(0, 1), _ts(0, 30), _ts(0, 59), _ts(0, 10), _ts(1, 5)],
        "label": ["positive", "negative", "positive", "neutral", "positive"],
        "score": [0.5, -0.5, 0.7, 0.0, 0.2],
        "emotes": [["KEKW"], [], ["KEKW", "LUL"], [], ["PogChamp"]],
    })


def _aggregate(out: Path, messages: int, positive: int) -> None:
    _sink(out / "aggregates", "0", {
        "source": ["twitch"], "channel": ["kr"], "window_start": [_ts(0, 0)], "window_end": [_ts(1, 0)],
        "messages": [messages], "positive": [positive], "neutral": [0], "negative": [1], "mean_score": [0.2333],
        "top_emotes": [[{"item": "KEKW", "count": 2}]], "top_words": [[]],
    })


def test_closed_windows_agree_with_rows_and_open_ones_are_recounted(tmp_path: Path) -> None:
    _messages(tmp_path)
    _aggregate(tmp_path, messages=3, positive=2)
    built = report.build(tmp_path)
    assert (built["messages"], built["unique_ids"], built["duplicate_ids"]) == (5, 5, 0)
    assert built["closed_windows"] == 1 and built["mismatches"] == []
    windows = {(w["channel"], w["window_start"]): w for w in built["windows"]}
    closed = windows[("kr", "2026-11-29T18:00:00Z")]
    assert closed["closed"] and closed["check"] == "ok" and closed["top_emotes"] == [["KEKW", 2]]
    assert not windows[("kr", "2026-11-29T18:01:00Z")]["closed"]
    assert windows[("en", "2026-11-29T18:00:00Z")]["neutral"] == 1
    table = report.format_table(built)
    assert "closed" in table and "open" in table and "5 scored messages (0 duplicate ids)" in table


def test_the_minute_in_progress_is_open_though_the_job_has_its_row(tmp_path: Path) -> None:
    """The job keeps its current minute's aggregate row up to date batch by batch: until the minute has ended the
    report calls it open, with the job's numbers (checked against the rows all the same)."""
    _messages(tmp_path)
    _aggregate(tmp_path, messages=3, positive=2)
    during = report.build(tmp_path, now=datetime(2026, 11, 29, 18, 0, 59, tzinfo=UTC))
    after = report.build(tmp_path, now=datetime(2026, 11, 29, 18, 1, 0, tzinfo=UTC))
    for built, closed in ((during, False), (after, True)):
        window = next(w for w in built["windows"]
                      if (w["channel"], w["window_start"]) == ("kr", "2026-11-29T18:00:00Z"))
        assert (window["closed"], window["ended"], window["messages"], window["check"]) == (closed, closed, 3, "ok")
        assert built["closed_windows"] == int(closed) and built["mismatches"] == []


def test_a_window_that_disagrees_with_its_rows_is_a_mismatch(tmp_path: Path) -> None:
    _messages(tmp_path)
    _aggregate(tmp_path, messages=4, positive=3)
    built = report.build(tmp_path)
    assert len(built["mismatches"]) == 1
    assert "messages 4 vs rows 3" in built["mismatches"][0]["check"]


def test_since_and_json_output_through_the_cli(tmp_path: Path, capsys) -> None:
    _messages(tmp_path)
    assert cli.main(["report", "--output-dir", str(tmp_path), "--since", "2026-11-29T18:01:00Z", "--json"]) == 0
    built = json.loads(capsys.readouterr().out)
    assert built["messages"] == 1 and built["closed_windows"] == 0
    assert built["windows"][0]["window_start"] == "2026-11-29T18:01:00Z"
    assert datetime.fromisoformat(built["windows"][0]["window_start"].replace("Z", "+00:00")).tzinfo == UTC


def test_missing_output_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["report", "--output-dir", str(tmp_path / "nothing")]) == 2
    assert "is not a Delta table" in capsys.readouterr().err


def test_the_minute_since_falls_in_is_partial_not_compared(tmp_path: Path) -> None:
    _messages(tmp_path)
    _aggregate(tmp_path, messages=3, positive=2)
    built = report.build(tmp_path, since=datetime(2026, 11, 29, 18, 0, 20, tzinfo=UTC))
    windows = {(w["channel"], w["window_start"]): w for w in built["windows"]}
    partial = windows[("kr", "2026-11-29T18:00:00Z")]
    assert (partial["messages"], partial["closed"], partial["check"]) == (2, False, "partial")
    assert partial["ended"]  # over, though not the job's whole-minute row: the demo prints it as closed
    assert built["mismatches"] == []
    assert "partial" in report.format_table(built)
