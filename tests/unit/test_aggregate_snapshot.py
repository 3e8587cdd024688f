"""Words and top-N counts of the per-minute aggregates; the JSON snapshot; the progress log line."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_sentiment import snapshot
from chat_sentiment.aggregate import top_counts, words
from chat_sentiment.progress import format_progress, rows_out


def test_words_leave_out_emotes_links_mentions_and_stop_words() -> None:
    text = "ㅋㅋㅋㅋㅋ KEKW this is SOOOO good!!! @viewer2 https://clips.twitch.tv/abc 100 ❤️ 굿 a"
    assert words(text, ["KEKW", "❤"]) == ["ㅋㅋ", "soo", "good", "굿"]
    assert words("노잼 노잼 ResidentSleeper", ["ResidentSleeper"]) == ["노잼", "노잼"]
    assert words(None) == [] and words("", []) == []


def test_top_counts_rank_by_count_then_name() -> None:
    lists = [["KEKW", "PogChamp"], None, ["PogChamp", "LUL", "KEKW"], [], ["Kappa"]]
    assert top_counts(lists, 3) == [("KEKW", 2), ("PogChamp", 2), ("Kappa", 1)]
    assert top_counts(None, 3) == [] and top_counts([["a"]], 0) == []


def _row(channel: str, minute: int, messages: int, source: str = "twitch") -> dict:
    start = datetime(2024, 5, 1, 12, minute, tzinfo=UTC)
    return {"source": source, "channel": channel, "window_start": start,
            "window_end": start.replace(minute=minute + 1), "messages": messages, "positive": messages,
            "neutral": 0, "negative": 0, "mean_score": 0.5, "top_emotes": [{"item": "KEKW", "count": 2}],
            "top_words": [("ㅋㅋ", 3)]}


def test_merge_windows_keeps_the_newest_per_channel_and_is_idempotent() -> None:
    now = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    first = snapshot.merge_windows(None, [_row("a", m, m) for m in (3, 1, 2)], keep=2, window_seconds=60, now=now)
    assert first["updated_at"] == "2024-05-01T12:30:00Z" and first["windows_per_channel"] == 2
    (channel,) = first["channels"]
    assert (channel["source"], channel["channel"]) == ("twitch", "a")
    assert [w["window_start"] for w in channel["windows"]] == ["2024-05-01T12:02:00Z", "2024-05-01T12:03:00Z"]
    assert channel["windows"][0]["top_emotes"] == [["KEKW", 2]] and channel["windows"][0]["top_words"] == [["ㅋㅋ", 3]]
    second = snapshot.merge_windows(first, [_row("a", 4, 4), _row("b", 4, 1, "twitter")], keep=2,
                                    window_seconds=60, now=now)
    assert [c["channel"] for c in second["channels"]] == ["a", "b"]
    assert [w["messages"] for w in second["channels"][0]["windows"]] == [3, 4]
    again = snapshot.merge_windows(second, [_row("a", 4, 4), _row("b", 4, 1, "twitter")], keep=2,
                                   window_seconds=60, now=now)
    assert again == second
    assert first["channels"][0]["windows"][-1]["messages"] == 3  # the input was not modified


def test_write_json_atomic_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "web" / "snapshot.json"
    snapshot.write_json_atomic(path, {"version": 1, "channels": []})
    inode = path.stat().st_ino
    snapshot.write_json_atomic(path, {"version": 1, "channels": [{"channel": "한국어"}]})
    assert json.loads(path.read_text(encoding="utf-8"))["channels"][0]["channel"] == "한국어"
    assert path.stat().st_ino != inode  # a new file renamed over the old one, not rewritten in place
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(path.parent)) == ["snapshot.json"]
    assert snapshot.load_snapshot(path) is not None


def test_write_json_atomic_keeps_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.json"
    snapshot.write_json_atomic(path, {"version": 1, "channels": []})
    with pytest.raises(TypeError):
        snapshot.write_json_atomic(path, {"version": 1, "channels": [object()]})
    assert json.loads(path.read_text()) == {"version": 1, "channels": []}
    assert os.listdir(tmp_path) == ["snapshot.json"]


@pytest.mark.parametrize("content", ["", "{not json", '{"version": 99, "channels": []}', "[]"])
def test_load_snapshot_ignores_what_it_cannot_use(tmp_path: Path, content: str) -> None:
    path = tmp_path / "snapshot.json"
    path.write_text(content)
    assert snapshot.load_snapshot(path) is None
    assert snapshot.load_snapshot(tmp_path / "missing.json") is None


def test_progress_line() -> None:
    report = {
        "name": "messages", "batchId": 7, "numInputRows": 100, "inputRowsPerSecond": 12.345,
        "processedRowsPerSecond": 80.0, "durationMs": {"triggerExecution": 1250},
        "eventTime": {"watermark": "2024-05-01T12:00:00.000Z"},
        "stateOperators": [{"numRowsTotal": 300, "numRowsDroppedByWatermark": 2,
                            "customMetrics": {"numDroppedDuplicateRows": 5}}],
        "observedMetrics": {"out": {"rows": 93}}, "sink": {"numOutputRows": -1},
    }
    assert format_progress(report) == (
        "progress query=messages batch=7 in=100 out=93 dup=5 late=2 state=300 duration_ms=1250 "
        "input_rate=12.3/s process_rate=80.0/s watermark=2024-05-01T12:00:00.000Z")
    assert rows_out({"sink": {"numOutputRows": 4}}) == 4
    assert format_progress({"name": "snapshot", "batchId": 0, "numInputRows": 0}) == (
        "progress query=snapshot batch=0 in=0 out=- duration_ms=- input_rate=-/s process_rate=-/s".replace(
            "-/s", "-"))
