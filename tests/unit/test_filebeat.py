"""Filebeat JSON events carrying Chatty lines (the Twitch source's Kafka value)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from chat_sentiment.filebeat import parse_event, parse_timestamp
from chat_sentiment.records import ChatEvent, DeadLetter, stable_id

KST = timezone(timedelta(hours=9))


def filebeat_event(message: str, path: str = "/home/chat/.chatty/logs/#examplestreamer.log", offset: int = 1234,
                   timestamp: str | None = "2024-05-01T12:00:03.120Z", **fields: Any) -> str:
    """An event shaped like Filebeat 8's filestream output."""
    event: dict[str, Any] = {
        "@metadata": {"beat": "filebeat", "type": "_doc", "version": "8.14.3"},
        "log": {"offset": offset, "file": {"path": path, "device_id": "66306", "inode": "1049089"}},
        "message": message,
        "input": {"type": "filestream"},
        "ecs": {"version": "8.0.0"},
        "host": {"name": "shipper1"},
        "agent": {"type": "filebeat", "version": "8.14.3", "name": "shipper1"},
    }
    if timestamp is not None:
        event["@timestamp"] = timestamp
    if fields:
        event["fields"] = fields
    return json.dumps(event, ensure_ascii=False)


def ok(raw: str | bytes) -> ChatEvent:
    record = parse_event(raw)
    assert isinstance(record, ChatEvent), record
    return record


def bad(raw: str | bytes) -> DeadLetter:
    record = parse_event(raw)
    assert isinstance(record, DeadLetter), record
    return record


def test_chat_message_event() -> None:
    record = ok(filebeat_event("[2024-05-01 21:00:03] <~스트리머 (examplestreamer)> 안녕하세요 여러분", tz="+0900"))
    assert (record.source, record.channel, record.kind) == ("twitch", "examplestreamer", "message")
    assert (record.user, record.display_name, record.badges) == ("examplestreamer", "스트리머", ["broadcaster"])
    assert record.ts == datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)
    assert record.id == stable_id("twitch", "/home/chat/.chatty/logs/#examplestreamer.log", 1234,
                                  "[2024-05-01 21:00:03] <~스트리머 (examplestreamer)> 안녕하세요 여러분")
    assert record.attrs["host"] == "shipper1"


def test_same_path_and_offset_give_the_same_id_different_offsets_differ() -> None:
    line = "[2024-05-01 21:00:05] <viewer> ㅋㅋㅋ"
    assert ok(filebeat_event(line, offset=10)).id == ok(filebeat_event(line, offset=10, timestamp=None)).id
    assert ok(filebeat_event(line, offset=10)).id != ok(filebeat_event(line, offset=11)).id


def test_zone_defaults_to_utc() -> None:
    record = ok(filebeat_event("[2024-05-01 21:00:03] <v> hi"))
    assert record.ts == datetime(2024, 5, 1, 21, 0, 3, tzinfo=UTC)


def test_zone_by_iana_name() -> None:
    record = ok(filebeat_event("[2024-05-01 21:00:03] <v> hi", tz="Asia/Seoul"))
    assert record.ts == datetime(2024, 5, 1, 12, 0, 3, tzinfo=UTC)
    assert "fields.tz" in bad(filebeat_event("[2024-05-01 21:00:03] <v> hi", tz="Nowhere/City")).reason


@pytest.mark.parametrize(
    ("path", "channel"),
    [
        ("/home/chat/.chatty/logs/#examplestreamer.log", "examplestreamer"),
        ("/home/chat/.chatty/logs/2024-05-01_#examplestreamer.log", "examplestreamer"),
        ("/home/chat/.chatty/logs/#examplestreamer-1.log", "examplestreamer"),
        ("/home/chat/.chatty/logs/#examplestreamer/2024-05-01_#examplestreamer.log", "examplestreamer"),
        ("/home/chat/.chatty/logs/#examplestreamer/#examplestreamer.log", "examplestreamer"),
        ("C:\\Users\\chat\\.chatty\\logs\\#ExampleStreamer.log", "examplestreamer"),
        ("/var/lib/chat-logger/logs/#examplestreamer.log.1", "examplestreamer"),
        ("/var/lib/chat-logger/logs/#examplestreamer.log-20240501", "examplestreamer"),
    ],
)
def test_channel_from_path_variants(path: str, channel: str) -> None:
    assert ok(filebeat_event("[2024-05-01 21:00:03] <v> hi", path=path)).channel == channel


def test_channel_from_fields_overrides_and_rescues_the_path() -> None:
    assert ok(filebeat_event("[2024-05-01 21:00:03] <v> hi", path="/var/log/chat.txt", channel="#Other")).channel \
        == "other"
    letter = bad(filebeat_event("[2024-05-01 21:00:03] <v> hi", path="/var/log/chat.txt"))
    assert "cannot tell the channel" in letter.reason and letter.origin == "/var/log/chat.txt:1234"


def test_time_only_stamp_takes_the_date_near_the_timestamp() -> None:
    # 23:59:59 written in Seoul, shipped two seconds later, after midnight local time
    record = ok(filebeat_event("[23:59:59] <v> late", timestamp="2024-05-01T15:00:01Z", tz="+09:00"))
    assert record.ts == datetime(2024, 5, 1, 23, 59, 59, tzinfo=KST)
    record = ok(filebeat_event("[00:00:01] <v> early", timestamp="2024-05-01T14:59:58Z", tz="+09:00"))
    assert record.ts == datetime(2024, 5, 2, 0, 0, 1, tzinfo=KST)
    record = ok(filebeat_event("[09:00:03 PM] <v> pm", timestamp="2024-05-01T12:00:04Z", tz="+0900"))
    assert record.ts == datetime(2024, 5, 1, 21, 0, 3, tzinfo=KST)


def test_fields_log_date_wins_for_replays() -> None:
    record = ok(filebeat_event("[21:00:03] <v> old", timestamp="2025-01-01T00:00:00Z", tz="+0900",
                               log_date="2024-05-01"))
    assert record.ts == datetime(2024, 5, 1, 21, 0, 3, tzinfo=KST)
    assert "log_date" in bad(filebeat_event("[21:00:03] <v> x", log_date="May 1st")).reason


def test_split_file_date_when_there_is_no_timestamp_field() -> None:
    record = ok(filebeat_event("[21:00:03] <v> x", path="/logs/2024-05-03_#chan.log", timestamp=None))
    assert record.ts == datetime(2024, 5, 3, 21, 0, 3, tzinfo=UTC)


def test_split_file_date_is_a_lower_bound() -> None:
    record = ok(filebeat_event("[00:00:05] <v> x", path="/logs/2024-05-02_#chan.log",
                               timestamp="2024-05-01T23:59:00Z"))
    assert record.ts == datetime(2024, 5, 2, 0, 0, 5, tzinfo=UTC)


def test_time_only_stamp_without_any_date_is_a_dead_letter() -> None:
    letter = bad(filebeat_event("[21:00:03] <v> x", timestamp=None))
    assert "no date known" in letter.reason
    assert json.loads(letter.raw)["message"] == "[21:00:03] <v> x"


def test_unstamped_line_takes_the_timestamp_unless_required() -> None:
    record = ok(filebeat_event("<v> no stamp", timestamp="2024-05-01T12:00:03.120Z"))
    assert record.ts == datetime(2024, 5, 1, 12, 0, 3, 120000, tzinfo=UTC)
    assert "no timestamp" in bad(filebeat_event("<v> no stamp", require_timestamp=True)).reason


def test_header_line_event_uses_its_own_zone() -> None:
    record = ok(filebeat_event("# Log started: 2024-05-01 20:59:58 +0900"))
    assert (record.kind, record.ts) == ("header", datetime(2024, 5, 1, 11, 59, 58, tzinfo=UTC))


def test_other_line_kinds_through_filebeat() -> None:
    assert ok(filebeat_event("[2024-05-01 21:00:15] BAN: troll_user (600s) [도배], spammer2")).kind == "ban"
    assert ok(filebeat_event("[2024-05-01 21:03:00] VIEWERS: 12,521")).attrs["viewers"] == 12521


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "JSON list, not an object"),
        ('{"log": {"offset": 1}}', "no string 'message'"),
        ('{"message": 5}', "no string 'message'"),
        (b'{"message": "\xff"}', "not valid UTF-8"),
        ("", "not valid JSON"),
    ],
)
def test_broken_events_are_dead_letters(raw: str | bytes, reason: str) -> None:
    assert reason in bad(raw).reason


def test_unparseable_line_keeps_the_event_and_origin() -> None:
    raw = filebeat_event("[2024-05-01 21:00:03] <truncated", offset=99)
    letter = bad(raw)
    assert "closing '>'" in letter.reason
    assert letter.raw == raw and letter.origin == "/home/chat/.chatty/logs/#examplestreamer.log:99"


def test_huge_message_is_a_dead_letter_with_a_bounded_raw() -> None:
    letter = bad(filebeat_event("[2024-05-01 21:00:03] <v> " + "x" * (1 << 20)))
    assert "over the limit" in letter.reason and len(letter.raw) <= 65_536


def test_flat_dotted_keys_are_accepted() -> None:
    raw = json.dumps({"message": "[2024-05-01 21:00:03] <v> hi", "log.file.path": "/l/#chan.log", "log.offset": 5})
    assert ok(raw).channel == "chan"


def test_parse_timestamp() -> None:
    assert parse_timestamp("2024-05-01T12:00:03.120Z") == datetime(2024, 5, 1, 12, 0, 3, 120000, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_timestamp("2024-05-01T12:00:03")


def test_a_line_filebeat_cut_is_a_dead_letter() -> None:
    event = json.loads(filebeat_event("[2024-05-01 21:00:05] <viewer> " + "ㅋ" * 1000))
    event["log"]["flags"] = ["truncated"]
    record = bad(json.dumps(event, ensure_ascii=False))
    assert "message_max_bytes" in record.reason and record.origin.endswith(":1234")


def test_bytes_that_were_not_utf8_are_a_dead_letter() -> None:
    record = bad(filebeat_event("[2024-05-01 21:00:05] <viewer> caf\ufffd( ok"))
    assert "UTF-8" in record.reason


def test_a_new_file_at_a_rotated_files_path_gives_its_lines_new_ids() -> None:
    path = "/var/lib/chat-logger/logs/#examplestreamer.log"
    first = ok(filebeat_event("[2024-05-01 21:00:05] <viewer> before the rotation", path=path, offset=0))
    again = ok(filebeat_event("[2024-05-01 21:00:05] <viewer> before the rotation", path=path, offset=0))
    after = ok(filebeat_event("[2024-05-01 21:09:00] <viewer> after the rotation", path=path, offset=0))
    assert first.id == again.id, "a re-sent line keeps its id"
    assert after.id != first.id, "offset 0 of the new file is another line"
