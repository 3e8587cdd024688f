"""Property-based tests: the job's per-batch step is total over any Kafka record.

Whatever bytes a record holds, on any topic the job reads, :func:`chat_sentiment.frames.process_batch` (the exact
function the job runs in its ``mapInArrow`` step) returns a batch of the Arrow schema Spark expects, in which every
record has at least one row, each row an event (chat messages scored) or a dead letter with a reason; the batch
converts to pandas; and a scorer that fails on some texts costs only those texts.

Record classes generated (hypothesis): arbitrary bytes; arbitrary JSON (nested objects and arrays, huge and
negative integers, floats, NaN/Infinity, strings with lone surrogates); Filebeat events with every field of any type
or missing, timestamps far in the past and future and malformed, offsets of any size; Chatty lines with any date
(years 0-99999), time, nick and text, with truncation and invalid-UTF-8 marks; X API payloads (single posts, stream
messages, search pages, errors) with every field of any type; raw bytes with invalid and lone ``\\u`` escapes and
deep nesting; Kafka timestamps anywhere in the 64-bit range.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from chat_sentiment import frames
from chat_sentiment.records import SCORED_KINDS
from chat_sentiment.scorers import LABELS, Score, get_scorer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

SOURCES = {"twitch-chat": "twitch", "twitter": "twitter"}
TOPICS = ("twitch-chat", "twitter", "elsewhere")
LEXICON = get_scorer("lexicon")
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------------ strategies

SURROGATES = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
#: Text of any code point, lone surrogates included (hypothesis leaves them out of st.text by default).
ANY_TEXT = st.lists(st.one_of(st.characters(), SURROGATES), max_size=40).map("".join)
BIG_INTS = st.one_of(st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                     st.sampled_from([0, -1, 2**31, 2**63 - 1, -(2**63), 2**64, 10**30]))
FLOATS = st.floats(allow_nan=True, allow_infinity=True)
SCALARS = st.one_of(st.none(), st.booleans(), BIG_INTS, FLOATS, ANY_TEXT)
JSON_VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                            st.dictionaries(ANY_TEXT, inner, max_size=4)),
                           max_leaves=20)


def _year_stamp(date: tuple[int, int, int], hour: int, minute: int, second: int) -> str:
    year, month, day = date
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


STAMPS = st.one_of(
    st.builds(_year_stamp, st.tuples(st.integers(0, 99999), st.integers(0, 13), st.integers(0, 32)),
              st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)),
    st.builds(lambda h, m, s: f"{h:02d}:{m:02d}:{s:02d}", st.integers(0, 25), st.integers(0, 61), st.integers(0, 61)),
    ANY_TEXT,
)
ISO_TIMES = st.one_of(
    st.sampled_from(["0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00",
                     "9999-12-31T23:59:59.999999Z", "2262-04-12T00:00:00Z", "1677-09-21T00:00:00Z",
                     "2024-05-01T12:00:03Z", "2024-02-30T00:00:00Z", "", "Z", "2024-05-01"]),
    st.datetimes().map(lambda d: d.isoformat() + "Z"), ANY_TEXT, BIG_INTS, FLOATS,
)
NICKS = st.one_of(st.from_regex(r"[~&@!%$+^]{0,3}[A-Za-z0-9_]{1,12}( \([a-z0-9_]{1,12}\))?", fullmatch=True),
                  ANY_TEXT)
CHATTY_LINES = st.one_of(
    st.builds(lambda stamp, nick, text, me: f"[{stamp}] <{nick}>{'*' if me else ''} {text}", STAMPS, NICKS,
              ANY_TEXT, st.booleans()),
    st.builds(lambda stamp, text: f"[{stamp}] {text}", STAMPS, ANY_TEXT),
    st.sampled_from(["# Log started: 2024-05-01 21:00:00 +0900", "# Log started: 99999-01-01 00:00:00 +9999",
                     "# Log closed: 0000-00-00 00:00:00 +0000", "-", ""]),
    ANY_TEXT,
)
PATHS = st.one_of(st.sampled_from(["/home/chat/.chatty/logs/#examplestreamer.log",
                                   "/home/chat/.chatty/logs/2024-05-01_#speedrun_kr.log",
                                   "/home/chat/.chatty/logs/#chan/2024-05-01.log", "/x/#\ud800.log", "", "#"]),
                  ANY_TEXT, BIG_INTS, st.none())


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value, a value of any other JSON type, or (None -> the key is left out)."""
    return st.one_of(value, JSON_VALUES, st.just(...))


def _drop_missing(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _drop_missing(v) for k, v in obj.items() if v is not ...}
    if isinstance(obj, list):
        return [_drop_missing(v) for v in obj if v is not ...]
    return obj


FILEBEAT_EVENTS = st.builds(
    lambda ts, message, path, offset, flags, tz, log_date, channel, require, host: _drop_missing({
        "@timestamp": ts, "message": message, "log": {"offset": offset, "file": {"path": path}, "flags": flags},
        "fields": {"tz": tz, "log_date": log_date, "channel": channel, "require_timestamp": require},
        "host": {"name": host}}),
    _maybe(ISO_TIMES), _maybe(CHATTY_LINES), _maybe(PATHS), _maybe(BIG_INTS),
    _maybe(st.sampled_from([["truncated"], ["multiline"], []])),
    _maybe(st.sampled_from(["+0900", "+09:00", "-1200", "+9999", "Asia/Seoul", "Mars/Olympus", "", "Z"])),
    _maybe(st.sampled_from(["2024-05-01", "0001-01-01", "9999-12-31", "2024-13-40", ""])),
    _maybe(ANY_TEXT), _maybe(st.booleans()), _maybe(ANY_TEXT),
)
POSTS = st.builds(
    lambda pid, text, created, author, lang, metrics, refs: _drop_missing({
        "id": pid, "text": text, "created_at": created, "author_id": author, "lang": lang,
        "public_metrics": metrics, "referenced_tweets": refs}),
    _maybe(st.one_of(st.integers(0, 2**80).map(str), BIG_INTS)), _maybe(ANY_TEXT), _maybe(ISO_TIMES),
    _maybe(st.one_of(BIG_INTS, ANY_TEXT)), _maybe(ANY_TEXT), _maybe(JSON_VALUES), _maybe(JSON_VALUES),
)
X_PAYLOADS = st.one_of(
    POSTS,
    st.builds(lambda data, users, rules, errors: _drop_missing({
        "data": data, "includes": {"users": users}, "matching_rules": rules, "errors": errors}),
        st.one_of(POSTS, st.lists(POSTS, max_size=4), JSON_VALUES),
        _maybe(st.lists(st.fixed_dictionaries({"id": _maybe(BIG_INTS), "username": _maybe(ANY_TEXT),
                                               "name": _maybe(ANY_TEXT)}), max_size=3)),
        _maybe(st.lists(st.fixed_dictionaries({"tag": _maybe(ANY_TEXT)}), max_size=2)),
        _maybe(st.lists(JSON_VALUES, max_size=3))),
)


def _json_bytes(obj: Any) -> bytes:
    """JSON with lone surrogates written as \\u escapes (as a buggy producer would send them)."""
    return json.dumps(obj, ensure_ascii=True, allow_nan=True).encode("ascii")


RAW_TEMPLATES = st.builds(
    lambda head, body, tail: head + body + tail,
    st.sampled_from([b'{"message": "', b'{"data": {"id": "1", "text": "', b'{"@timestamp": "', b"[", b""]),
    st.one_of(st.binary(max_size=60),
              st.lists(st.sampled_from([b"\\ud800", b"\\udfff", b"\\u12", b"\\x41", b"\\", b"\\uZZZZ",
                                        b"\\ud83d\\ude00", b'"', b"\x00", b"\xff"]), max_size=8).map(b"".join)),
    st.sampled_from([b'"}', b'"', b"", b'", "log": {"offset": 1}}']),
)
DEEP = st.integers(1, 5000).map(lambda n: b"[" * n + b"]" * n)
VALUES = st.one_of(
    st.none(), st.binary(max_size=200), JSON_VALUES.map(_json_bytes), FILEBEAT_EVENTS.map(_json_bytes),
    X_PAYLOADS.map(_json_bytes), RAW_TEMPLATES, DEEP,
    CHATTY_LINES.map(lambda line: line.encode("utf-8", "surrogatepass")),
)
KAFKA_MICROS = st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1),
                         st.integers(0, 10**16), st.sampled_from([0, -1, 2**63 - 1, -(2**63)]))
RECORDS = st.lists(st.tuples(VALUES, st.sampled_from(TOPICS), KAFKA_MICROS), min_size=1, max_size=12)


def kafka_batch(records: list[tuple[bytes | None, str, int | None]]) -> pa.RecordBatch:
    """The records as the Arrow batch Spark's Kafka source hands the job (offsets = positions in the list)."""
    return frames.records_batch([(value, topic, 0, offset, micros)
                                 for offset, (value, topic, micros) in enumerate(records)])


# ------------------------------------------------------------------------------------------------ checks


def check_outcome(records: list[tuple[bytes | None, str, int | None]], out: pa.RecordBatch) -> pd.DataFrame:
    """What holds for any input: the schema, a row per record at least, a reason per dead letter, scores on chat."""
    assert out.schema.equals(frames.ARROW_SCHEMA)
    rows = out.to_pylist()
    assert {row["offset"] for row in rows} == set(range(len(records)))  # every record has a row
    for row in rows:
        assert row["type"] in ("event", "dead_letter")
        assert row["topic"] == records[row["offset"]][1] and row["partition"] == 0
        assert isinstance(row["id"], str) and row["id"]
        if row["type"] == "dead_letter":
            assert row["reason"], row
            assert row["label"] is None and row["score"] is None
        else:
            assert row["reason"] is None and row["ts"] is not None
            assert frames.MIN_TS <= row["ts"] < frames.MAX_TS
            if row["kind"] in SCORED_KINDS:
                assert row["label"] in LABELS and math.isfinite(row["score"]) and -1 <= row["score"] <= 1
            else:
                assert row["label"] is None
        for value in row.values():  # every string is valid UTF-8 (Spark's and Parquet's strings)
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str):
                    item.encode("utf-8")
    return frames.to_frame(out)  # and it converts to pandas (report, tests)


@SETTINGS
@given(RECORDS)
def test_any_records_become_rows_or_dead_letters(records: list[tuple[bytes | None, str, int | None]]) -> None:
    out = frames.process_batch(kafka_batch(records), SOURCES, LEXICON)
    check_outcome(records, out)


@SETTINGS
@given(st.lists(FILEBEAT_EVENTS, min_size=1, max_size=8), KAFKA_MICROS)
def test_any_filebeat_events(events: list[dict[str, Any]], micros: int | None) -> None:
    records = [(_json_bytes(event), "twitch-chat", micros) for event in events]
    check_outcome(records, frames.process_batch(kafka_batch(records), SOURCES, LEXICON))


@SETTINGS
@given(st.lists(X_PAYLOADS, min_size=1, max_size=6))
def test_any_x_payloads(payloads: list[dict[str, Any]]) -> None:
    records = [(_json_bytes(payload), "twitter", 1_714_560_000_000_000) for payload in payloads]
    check_outcome(records, frames.process_batch(kafka_batch(records), SOURCES, LEXICON))


class Flaky:
    """A scorer that raises on any batch holding a text whose hash falls in a chosen set."""

    name = "flaky"

    def __init__(self, modulus: int) -> None:
        self.modulus = modulus

    def fails(self, text: str) -> bool:
        return sum(text.encode("utf-8", "surrogatepass")) % self.modulus == 0

    def score_batch(self, texts: list[str]) -> list[Score]:
        if any(self.fails(t) for t in texts):
            raise RuntimeError("flaky scorer")
        return LEXICON.score_batch(texts)


@SETTINGS
@given(st.lists(st.text(st.characters(categories=("L", "N", "P", "S")), min_size=1, max_size=30), min_size=1,
                max_size=30), st.integers(2, 5))
def test_a_failing_scorer_costs_only_the_texts_it_fails_on(texts: list[str], modulus: int) -> None:
    scorer = Flaky(modulus)
    lines = [json.dumps({"@timestamp": "2024-05-01T12:00:04Z", "message": f"[2024-05-01 21:00:03] <viewer> {t}",
                         "log": {"offset": i, "file": {"path": "/logs/#chan.log"}}}).encode()
             for i, t in enumerate(texts)]
    records = [(line, "twitch-chat", 1_714_560_000_000_000) for line in lines]
    frame = check_outcome(records, frames.process_batch(kafka_batch(records), SOURCES, scorer))
    chat = frame[frame.kind.isin(sorted(SCORED_KINDS)) | frame.reason.fillna("").str.startswith("scorer")]
    for row in chat.itertuples():
        # expected from the generator's own text, not from the job's parser
        if scorer.fails(texts[row.offset]):
            assert row.type == "dead_letter" and row.reason.startswith("scorer 'flaky' failed on this message")
        else:
            assert row.type == "event" and row.label in LABELS


@pytest.mark.parametrize("value", [
    b'{"message": "[9999-12-31 23:59:59] <u> hi", "log": {"offset": 1, "file": {"path": "/l/#c.log"}}}',
    b'{"message": "[2024-05-01 21:00:03] <u> hi \\ud800", "log": {"offset": 1, "file": {"path": "/l/#c.log"}}}',
    b'{"message": "[2024-05-01 21:00:03] <u> hi", "log": {"offset": 1, "file": {"path": "/l/#\\udc00.log"}}}',
    b'{"@timestamp": "9999-12-31T23:59:59Z", "message": "<u> hi", "log": {"file": {"path": "/l/#c.log"}}}',
])
def test_the_records_that_stopped_the_job_are_dead_letters(value: bytes) -> None:
    """Records that failed the job's batches before (times pandas cannot hold, lone surrogates)."""
    records = [(value, "twitch-chat", 1_714_560_000_000_000)]
    frame = check_outcome(records, frames.process_batch(kafka_batch(records), SOURCES, LEXICON))
    assert frame.type.tolist() == ["dead_letter"]
    assert "outside the range" in frame.reason[0] or "not valid Unicode" in frame.reason[0]
