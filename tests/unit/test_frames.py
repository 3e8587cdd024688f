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
    assert str(parsed.ts.dtype) == "datetime64[us, UTC]" and str(parsed.offset.dtype) == "Int64"


def test_an_event_without_any_time_takes_the_kafka_timestamp() -> None:
    event = json.dumps({"message": "<viewer2> no stamp here",
                        "log": {"offset": 1, "file": {"path": "/logs/#chan.log"}}}).encode()
    row = frames.parse_frame(_kafka((event, "twitch-chat")), SOURCES).iloc[0]
    assert row.type == "event" and row.ts == KAFKA_TS
    assert json.loads(row["attrs"])["ts_from"] == "kafka"


def test_parse_frame_of_no_records_has_the_columns() -> None:
    parsed = frames.parse_frame(_kafka(), SOURCES)
    assert parsed.empty and list(parsed.columns) == list(frames.PARSED_COLUMNS)
    batches = list(frames.process_batches(iter([frames.kafka_batch(_kafka()), frames.kafka_batch(_kafka())]),
                                          SOURCES, "lexicon", model="", options_json="{}"))
    assert batches[1].num_rows == 0 and batches[1].schema.equals(frames.ARROW_SCHEMA)


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


class Picky:
    """A scorer that fails any batch holding a text with "boom" (or, with ``lose``, loses a row of every batch
    of more than one text)."""

    name = "picky"

    def __init__(self, lose: bool = False) -> None:
        self.lose = lose
        self.calls: list[int] = []

    def score_batch(self, texts: list[str]) -> list[Score]:
        self.calls.append(len(texts))
        if any("boom" in t for t in texts):
            raise ValueError("boom in the batch")
        scores = [Score("positive", 0.5)] * len(texts)
        return scores[:-1] if self.lose and len(texts) > 1 else scores


def _lines(*texts: str) -> pd.DataFrame:
    return _kafka(*((_event(f"[2024-05-01 21:00:0{i}] <a> {t}", 10 * i), "twitch-chat") for i, t in enumerate(texts)))


def test_score_frame_refuses_a_scorer_that_loses_rows() -> None:
    parsed = frames.parse_frame(_lines("x", "y"), SOURCES)
    with pytest.raises(RuntimeError, match="returned 1 scores for 2 texts"):
        frames.score_frame(parsed, Picky(lose=True))


def test_the_scorer_failing_on_some_messages_costs_only_those() -> None:
    scorer = Picky()
    parsed = frames.parse_frame(_lines("a", "b", "boom c", "d", "e", "f boom", "g"), SOURCES, scorer=scorer)
    assert parsed.type.tolist() == ["event", "event", "dead_letter", "event", "event", "dead_letter", "event"]
    assert parsed.label[parsed.type == "event"].tolist() == ["positive"] * 5
    for i in (2, 5):
        assert parsed.reason[i] == "scorer 'picky' failed on this message: ValueError: boom in the batch"
        assert json.loads(parsed.raw[i])["log"]["offset"] == 10 * i and parsed.offset[i] == i
    assert scorer.calls[0] == 7 and max(scorer.calls[1:]) < 7  # one call for the batch, then halves


def test_a_scorer_losing_rows_is_caught_and_the_halves_retried() -> None:
    parsed = frames.parse_frame(_lines("a", "b", "c"), SOURCES, scorer=Picky(lose=True))
    assert parsed.type.tolist() == ["event"] * 3 and parsed.label.tolist() == ["positive"] * 3


def test_the_fault_marker_makes_the_parser_and_the_scorer_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(frames.FAULT_MARKER_ENV_VAR, "FAULT42")
    parsed = frames.parse_frame(_lines("fine", "FAULT42:parse here", "FAULT42:score here", "fine too"), SOURCES)
    assert parsed.type.tolist() == ["event", "dead_letter", "dead_letter", "event"]
    assert parsed.reason[1] == f"parser error: InjectedFault: injected parse fault ({frames.FAULT_MARKER_ENV_VAR})"
    assert parsed.reason[2] == ("scorer 'lexicon' failed on this message: InjectedFault: injected scorer fault "
                                f"({frames.FAULT_MARKER_ENV_VAR})")
    monkeypatch.delenv(frames.FAULT_MARKER_ENV_VAR)
    assert frames.parse_frame(_lines("FAULT42:parse", "FAULT42:score"), SOURCES).type.tolist() == ["event"] * 2


def test_cached_scorer_is_built_once_per_process() -> None:
    first = frames.cached_scorer("lexicon", "", "{}")
    assert frames.cached_scorer("lexicon", "", "{}") is first
    assert first.score_batch(["gg"])[0].label == "positive"


def test_utc_helper() -> None:
    assert frames._utc(datetime(2024, 5, 1, 21, tzinfo=UTC)) == pd.Timestamp("2024-05-01T21:00:00Z")
    assert frames._utc(None) is None and frames._utc(pd.NaT) is None
