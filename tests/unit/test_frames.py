"""The streaming job's per-batch logic on pandas frames (the bodies of its mapInPandas steps), without Spark."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
from chat_sentiment import frames
from chat_sentiment.scorers import Score, get_scorer

KAFKA_TS = pd.Timestamp("2024-05-01T12:00:05Z")
SOURCES = {"twitch-chat": "twitch", "twitter": "twitter"}


def _event(message: str, offset: int, channel: str = "examplestreamer", **extra: object) -> bytes:
    event = {"@timestamp": "2024-05-01T12:00:04.000Z", "message": message,
             "log": {"offset": offset, "file": {"path": f"/home/chat/.chatty/logs/#{channel}.log"}},
             "fields": {"tz": "+0900"}, **extra}
    return json.dumps(event, ensure_ascii=False).encode()


def _kafka(*records: tuple[bytes | None, str]) -> pd.DataFrame:
    return pd.DataFrame({
        "value": [value for value, _ in records],
        "topic": [topic for _, topic in records],
        "partition": [0] * len(records),
        "offset": list(range(len(records))),
        "timestamp": [KAFKA_TS] * len(records),
    })


def test_parse_frame_turns_every_record_into_rows() -> None:
    post = {"data": [{"id": "1790000000000000000", "text": "great game ❤️", "created_at": "2024-05-01T12:00:00Z"},
                     {"id": "1790000000000000001"}]}
    frame = _kafka(
        (_event("[2024-05-01 21:00:03] <~스트리머 (examplestreamer)> 안녕하세요 여러분 KEKW", 0), "twitch-chat"),
        (_event("[2024-05-01 21:00:09] <viewer2>* 박수칩니다", 120), "twitch-chat"),
        (_event("[2024-05-01 21:00:15] BAN: troll_user (600s) [도배], spammer2", 200), "twitch-chat"),
        (b"not json", "twitch-chat"),
        (None, "twitch-chat"),
        (json.dumps(post).encode(), "twitter"),
        (b"{}", "elsewhere"),
    )
    parsed = frames.parse_frame(frame, SOURCES)
    assert list(parsed.columns) == list(frames.PARSED_COLUMNS)
    assert parsed.type.tolist() == ["event"] * 3 + ["dead_letter"] * 2 + ["event", "dead_letter", "dead_letter"]
    message = parsed.iloc[0]
    assert (message.source, message.channel, message.kind, message.user, message.display_name) == (
        "twitch", "examplestreamer", "message", "examplestreamer", "스트리머")
    assert message.ts == pd.Timestamp("2024-05-01T12:00:03Z") and message.emotes == ["KEKW"]
    assert message.badges == ["broadcaster"] and message.raw is None
    assert (message.topic, message.partition, message.offset, message.kafka_ts) == ("twitch-chat", 0, 0, KAFKA_TS)
    assert parsed.kind[1] == "action" and parsed.kind[2] == "ban"
    assert json.loads(parsed["attrs"][2])["bans"][0]["user"] == "troll_user"
    assert "not valid JSON" in parsed.reason[3] and parsed.raw[3] == "not json" and parsed.source[3] == "twitch"
    assert parsed.reason[4] == "empty Kafka record value on topic 'twitch-chat'"
    assert (parsed.source[5], parsed.channel[5], parsed.text[5]) == ("twitter", "twitter", "great game ❤️")
    assert "has no string 'text'" in parsed.reason[6] and parsed.offset[6] == 5  # the same Kafka record
    assert parsed.reason[7] == "record from topic 'elsewhere', which no configured source reads"
    assert str(parsed.ts.dtype) == "datetime64[ns, UTC]" and str(parsed.offset.dtype) == "Int64"


def test_an_event_without_any_time_takes_the_kafka_timestamp() -> None:
    event = json.dumps({"message": "<viewer2> no stamp here",
                        "log": {"offset": 1, "file": {"path": "/logs/#chan.log"}}}).encode()
    row = frames.parse_frame(_kafka((event, "twitch-chat")), SOURCES).iloc[0]
    assert row.type == "event" and row.ts == KAFKA_TS
    assert json.loads(row["attrs"])["ts_from"] == "kafka"


def test_parse_frame_of_no_records_has_the_columns() -> None:
    parsed = frames.parse_frame(_kafka(), SOURCES)
    assert parsed.empty and list(parsed.columns) == list(frames.PARSED_COLUMNS)
    assert list(frames.parse_frames(iter([_kafka(), _kafka()]), SOURCES))[1].empty


def test_re_sent_lines_keep_their_id() -> None:
    line = "[2024-05-01 21:00:03] <viewer2> gg"
    parsed = frames.parse_frame(_kafka((_event(line, 7), "twitch-chat"), (_event(line, 7), "twitch-chat"),
                                       (_event(line, 8), "twitch-chat")), SOURCES)
    assert parsed.id[0] == parsed.id[1] != parsed.id[2]


def test_score_frame_adds_label_and_score_in_order() -> None:
    parsed = frames.parse_frame(_kafka(
        (_event("[2024-05-01 21:00:03] <viewer2> PogChamp that was insane", 0), "twitch-chat"),
        (_event("[2024-05-01 21:00:04] <viewer2> 노잼 ResidentSleeper", 60), "twitch-chat"),
        (_event("[2024-05-01 21:00:05] <viewer2> 채팅 규칙 지켜주세요", 120), "twitch-chat"),
    ), SOURCES)
    scored = frames.score_frame(parsed, get_scorer("lexicon"))
    assert list(scored.columns) == list(frames.SCORED_COLUMNS)
    assert scored.label.tolist() == ["positive", "negative", "neutral"]
    assert scored.score[0] > 0.5 and scored.score[1] < -0.5 and scored.score[2] == 0.0
    assert str(scored.score.dtype) == "float64"
    empty = frames.score_frame(parsed.iloc[:0], get_scorer("lexicon"))
    assert empty.empty and list(empty.columns) == list(frames.SCORED_COLUMNS)


def test_score_frame_refuses_a_scorer_that_loses_rows() -> None:
    class Broken:
        name = "broken"

        def score_batch(self, texts: list[str]) -> list[Score]:
            return [Score("neutral", 0.0)]

    parsed = frames.parse_frame(_kafka((_event("[2024-05-01 21:00:03] <a> x", 0), "twitch-chat"),
                                       (_event("[2024-05-01 21:00:03] <a> y", 9), "twitch-chat")), SOURCES)
    with pytest.raises(RuntimeError, match="returned 1 scores for 2 texts"):
        frames.score_frame(parsed, Broken())


def test_cached_scorer_is_built_once_per_process() -> None:
    first = frames.cached_scorer("lexicon", "", "{}")
    assert frames.cached_scorer("lexicon", "", "{}") is first
    assert first.score_batch(["gg"])[0].label == "positive"


def test_utc_helper() -> None:
    assert frames._utc(datetime(2024, 5, 1, 21, tzinfo=UTC)) == pd.Timestamp("2024-05-01T21:00:00Z")
    assert frames._utc(None) is None and frames._utc(pd.NaT) is None
