"""The job's per-batch logic, free of Spark: Kafka records -> parsed and scored rows, as Arrow record batches.

:func:`process_batches` is the body of the streaming job's one Python step (``mapInArrow``, see
:mod:`chat_sentiment.stream`); ``chat-sentiment parse --as-job`` runs the same function on records from stdin, and
the tests call it directly. :data:`ARROW_SCHEMA` is the contract with the Spark schema in ``stream.py`` (the job
checks at start that they are the same).

Each Kafka record goes to the parser of its topic's source (``twitch``: a Filebeat event with a Chatty line;
``twitter``: an X API v2 object, which may hold several posts) and comes out as one or more rows, each either an
event (``type = "event"``; chat messages and /me actions also get ``label`` and ``score``) or a dead letter
(``type = "dead_letter"`` with ``raw``, ``reason`` and an id of its own from the record's Kafka position).

**Total over any input.** No record can fail a batch, whatever its bytes:

- every record is parsed inside its own ``try``: an exception the parsers did not turn into a dead letter
  themselves becomes one here, naming the exception;
- rows are checked against what Spark can store before they leave the worker: a time outside
  :data:`MIN_TS`..:data:`MAX_TS`, or text that is not valid Unicode (a lone surrogate from a JSON escape), makes
  the record a dead letter with the reason; a row Arrow still refuses is found by converting rows one by one;
- the scorer scores the batch's texts in one call; if that call raises (or returns something that is not one
  valid score per text), the texts are split in halves and each half retried, down to single texts, so only the
  messages that make the scorer fail become dead letters ("scorer ... failed on this message: ...");
- an event whose line carried no time and whose record had none takes the Kafka record's timestamp
  (``attrs.ts_from = "kafka"``).

Nothing is dropped: a record from a topic no source reads, or an empty value, is a dead letter too.

For tests of the job itself, ``$CHAT_SENTIMENT_FAULT_MARKER`` (never set in production) makes the worker raise
on purpose: in the parse step for a record whose value contains ``<marker>:parse``, and in the scorer's batch call
when a text in it contains ``<marker>:score``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import pandas as pd
import pyarrow as pa

from .fallback import Budget, Overflow, score_with_fallback
from .filebeat import parse_event
from .records import SCORED_KINDS, ChatEvent, DeadLetter, stable_id
from .scorers import LABELS, Score, Scorer, get_scorer
from .twitter import parse_record

#: Columns of a Kafka record as the job selects them.
KAFKA_COLUMNS = ("value", "topic", "partition", "offset", "timestamp")
#: Columns of a row: parsed fields, the scorer's label and score and the name of the scorer that gave them (chat
#: messages only: ``transformers`` or ``lexicon``, see :mod:`chat_sentiment.fallback`), the Kafka provenance.
PARSED_COLUMNS = (
    "type", "id", "source", "channel", "ts", "kind", "user", "display_name", "text", "emotes", "badges", "lang",
    "attrs", "raw", "reason", "origin", "label", "score", "scorer", "topic", "partition", "offset", "kafka_ts",
)
SCORED_COLUMNS = (
    "id", "source", "channel", "ts", "user", "display_name", "kind", "text", "label", "score", "scorer", "emotes",
    "badges", "lang", "topic", "partition", "offset",
)
_TS = pa.timestamp("us", tz="UTC")
_STRINGS = pa.list_(pa.string())
#: The Arrow schema of :data:`PARSED_COLUMNS` (what Spark's ``to_arrow_schema`` makes of stream.PARSED_SCHEMA).
ARROW_SCHEMA = pa.schema([
    (name, _TS if name in ("ts", "kafka_ts") else _STRINGS if name in ("emotes", "badges")
     else pa.float64() if name == "score" else pa.int64() if name in ("partition", "offset") else pa.string())
    for name in PARSED_COLUMNS
])
#: A dead letter keeps at most this many characters of the raw record (the parsers already cut long lines).
MAX_RAW_CHARS = 65_536
#: Times the job stores: a chat time outside this range is a dead letter (it cannot be a live chat message, and a
#: far-future time would move the aggregates' watermark past every real message).
MIN_TS = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2200, 1, 1, tzinfo=UTC)
FAULT_MARKER_ENV_VAR = "CHAT_SENTIMENT_FAULT_MARKER"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_US = (MIN_TS - _EPOCH) // timedelta(microseconds=1)
_MAX_US = (MAX_TS - _EPOCH) // timedelta(microseconds=1)


class InjectedFault(RuntimeError):
    """Raised on purpose by the fault-injection marker (tests only)."""


def _fault_marker() -> str:
    return os.environ.get(FAULT_MARKER_ENV_VAR, "")


# ------------------------------------------------------------------------------------------------ values


def _clean(text: str) -> str:
    """``text`` with anything UTF-8 cannot hold (lone surrogates) as backslash escapes: a dead letter's raw."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _raw_text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes | bytearray) else str(value)
    return _clean(text[:MAX_RAW_CHARS])


def _micros(ts: Any) -> int | None:
    """Microseconds since the epoch of an aware datetime / pandas Timestamp (naive = UTC); None for None/NaT."""
    if ts is None or ts is pd.NaT:
        return None
    if isinstance(ts, pd.Timestamp):
        return ts.value // 1000 if ts.tzinfo is not None else ts.tz_localize(UTC).value // 1000
    if isinstance(ts, datetime):
        aware = ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(microseconds=1)
    raise TypeError(f"not a time: {type(ts).__name__}")


def _in_range(micros: int | None) -> bool:
    return micros is not None and _MIN_US <= micros < _MAX_US


def _utc(value: Any) -> pd.Timestamp | None:
    """A UTC pandas Timestamp (or None) of a time value; raises for one pandas cannot hold."""
    if value is None or (not isinstance(value, str | bytes) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize(UTC) if stamp.tzinfo is None else stamp.tz_convert(UTC)


def _bad_string(row: Mapping[str, Any]) -> str | None:
    """The first field of ``row`` holding text UTF-8 cannot encode, or None."""
    for name, value in row.items():
        values = value if isinstance(value, list) else (value,)
        for item in values:
            if isinstance(item, str):
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError as exc:
                    return f"{name} (character {exc.start}: {exc.reason})"
    return None


# ------------------------------------------------------------------------------------------------ rows


def _event_row(event: ChatEvent, provenance: dict[str, Any]) -> dict[str, Any]:
    attrs = dict(event.attrs)
    ts = _micros(event.ts)
    if ts is None:
        ts = provenance["kafka_ts"]
        attrs["ts_from"] = "kafka"
    return {
        "type": "event", "id": str(event.id), "source": event.source, "channel": event.channel, "ts": ts,
        "kind": event.kind, "user": _opt_str(event.user), "display_name": _opt_str(event.display_name),
        "text": _opt_str(event.text), "emotes": [str(e) for e in event.emotes],
        "badges": [str(b) for b in event.badges], "lang": _opt_str(event.lang),
        "attrs": json.dumps(attrs, ensure_ascii=False, default=str, sort_keys=True),
        "raw": None, "reason": None, "origin": None, "label": None, "score": None, "scorer": None, **provenance,
    }


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _dead_row(raw: str, reason: str, provenance: dict[str, Any], source: str | None, number: int, *,
              origin: str | None = None) -> dict[str, Any]:
    # The id is the record's place on Kafka and its row number there: the job deduplicates every row by id, and a
    # dead letter is never a repeat of another (a re-run batch re-reads the same records with the same state).
    dead_id = stable_id("dead_letter", provenance["topic"], provenance["partition"], provenance["offset"], number)
    return {
        "type": "dead_letter", "id": dead_id, "source": source, "channel": None, "ts": None,
        "kind": None, "user": None, "display_name": None, "text": None, "emotes": [], "badges": [], "lang": None,
        "attrs": None, "raw": _clean(raw[:MAX_RAW_CHARS]), "reason": _clean(reason),
        "origin": None if origin is None else _clean(origin), "label": None, "score": None, "scorer": None,
        **provenance,
    }


def parse_value(value: bytes | str | None, source: str | None, topic: str,
                twitter_channel: str = "twitter") -> list[ChatEvent | DeadLetter]:
    """The records in one Kafka value read by ``source``'s parser (never raises, never returns nothing)."""
    if value is None or len(value) == 0:
        return [DeadLetter(raw="", source=source, reason=f"empty Kafka record value on topic {topic!r}")]
    if source == "twitch":
        return [parse_event(value)]
    if source == "twitter":
        return parse_record(value, channel=twitter_channel)
    text = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else value
    return [DeadLetter(raw=text, source=None, reason=f"record from topic {topic!r}, which no configured source reads")]


def _record_rows(value: bytes | str | None, source: str | None, provenance: dict[str, Any],
                 twitter_channel: str, marker: str) -> list[dict[str, Any]]:
    """The rows of one Kafka record; raises only through a bug (the caller turns that into a dead letter)."""
    topic = provenance["topic"]
    if marker and value is not None and f"{marker}:parse".encode() in (
            value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")):
        raise InjectedFault(f"injected parse fault ({FAULT_MARKER_ENV_VAR})")
    rows: list[dict[str, Any]] = []
    for number, record in enumerate(parse_value(value, source, topic, twitter_channel)):
        if isinstance(record, DeadLetter):
            rows.append(_dead_row(record.raw, record.reason, provenance, record.source or source, number,
                                  origin=record.origin))
            continue
        row = _event_row(record, provenance)
        problem = None
        if not _in_range(row["ts"]):
            when = "no time" if row["ts"] is None else _format_micros(row["ts"])
            problem = (f"time {when} is outside the range the job stores ({MIN_TS:%Y-%m-%d} to "
                       f"{MAX_TS:%Y-%m-%d}, UTC)")
        elif (field := _bad_string(row)) is not None:
            problem = f"not valid Unicode (a lone surrogate, e.g. from a JSON \\u escape) in {field}"
        if problem:
            rows.append(_dead_row(_raw_text(value), problem, provenance, source, number, origin=record.id))
        else:
            rows.append(row)
    return rows


def _format_micros(micros: int) -> str:
    try:
        return (_EPOCH + timedelta(microseconds=micros)).isoformat()
    except OverflowError:
        return f"{micros} us since 1970"


def parse_rows(records: Iterable[tuple[Any, ...]], source_by_topic: Mapping[str, str],
               twitter_channel: str = "twitter") -> list[dict[str, Any]]:
    """Rows (dicts with :data:`PARSED_COLUMNS`, times as microseconds since the epoch) of ``(value, topic,
    partition, offset, timestamp_micros)`` records; never raises."""
    marker = _fault_marker()
    rows: list[dict[str, Any]] = []
    for value, topic, partition, offset, kafka_us in records:
        source = source_by_topic.get(topic)
        provenance = {"topic": topic, "partition": partition, "offset": offset,
                      "kafka_ts": kafka_us if _in_range(kafka_us) else None}
        try:
            rows.extend(_record_rows(value, source, provenance, twitter_channel, marker))
        except Exception as exc:  # the last net under the parsers: a record never fails its batch
            rows.append(_dead_row(_raw_text(value), f"parser error: {type(exc).__name__}: {exc}", provenance,
                                  source, 0))
    return rows


# ------------------------------------------------------------------------------------------------ scoring


def _valid(scores: Any, count: int) -> list[Score]:
    if not isinstance(scores, Sequence) or len(scores) != count:
        raise RuntimeError(f"returned {len(scores) if isinstance(scores, Sequence) else type(scores).__name__} "
                           f"scores for {count} texts")
    for score in scores:
        if score.label not in LABELS or not isinstance(score.score, int | float) or not math.isfinite(score.score) \
                or not -1.0 <= score.score <= 1.0:
            raise RuntimeError(f"returned an invalid score {score!r}")
    return list(scores)


def score_texts(scorer: Scorer, texts: list[str], marker: str = "") -> list[Score | BaseException]:
    """One Score per text, or the exception the scorer raised on that text alone: the texts are scored in one
    call, and when that fails, in halves, recursively, so only the texts that make the scorer fail are lost."""
    if not texts:
        return []
    try:
        if marker and any(f"{marker}:score" in t for t in texts):
            raise InjectedFault(f"injected scorer fault ({FAULT_MARKER_ENV_VAR})")
        return list(_valid(scorer.score_batch(texts), len(texts)))
    except Exception as exc:
        if len(texts) == 1:
            return [exc]
    half = len(texts) // 2
    return [*score_texts(scorer, texts[:half], marker), *score_texts(scorer, texts[half:], marker)]


def score_rows(rows: list[dict[str, Any]], scorer: Scorer, values: Mapping[tuple[Any, Any, Any], Any],
               overflow: Overflow | None = None) -> list[dict[str, Any]]:
    """``rows`` with ``label``/``score``/``scorer`` on chat messages and actions; a message the scorer fails on
    becomes a dead letter naming the exception (``values``: the raw Kafka value by (topic, partition, offset)).
    With ``overflow``, the messages the model has no budget left for are scored by the fallback scorer
    (:mod:`chat_sentiment.fallback`)."""
    chat = [i for i, row in enumerate(rows) if row["type"] == "event" and row["kind"] in SCORED_KINDS]
    marker = _fault_marker()
    results, names = score_with_fallback(scorer, [rows[i]["text"] or "" for i in chat], overflow,
                                         lambda by, texts: score_texts(by, texts, marker))
    out = list(rows)
    for i, result, name in zip(chat, results, names, strict=True):
        row = rows[i]
        if isinstance(result, BaseException):
            key = (row["topic"], row["partition"], row["offset"])
            out[i] = _dead_row(_raw_text(values.get(key)), f"scorer {name!r} failed on this message: "
                               f"{type(result).__name__}: {result}", _provenance(row), row["source"], 0,
                               origin=row["id"])
        else:
            out[i] = {**row, "label": result.label, "score": float(result.score), "scorer": name}
    return out


def _provenance(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row[key] for key in ("topic", "partition", "offset", "kafka_ts")}


# ------------------------------------------------------------------------------------------------ Arrow


def to_record_batch(rows: list[dict[str, Any]]) -> pa.RecordBatch:
    """``rows`` as a record batch of :data:`ARROW_SCHEMA`; a row Arrow refuses is found by converting the rows one
    by one and replaced by a dead letter naming the error (never raises for any row the parsers make)."""
    try:
        return pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)
    except Exception:
        pass
    kept: list[dict[str, Any]] = []
    for row in rows:
        try:
            pa.RecordBatch.from_pylist([row], schema=ARROW_SCHEMA)
            kept.append(row)
        except Exception as exc:
            kept.append(_dead_row(str(row.get("raw") or row.get("text") or ""),
                                  f"row cannot be stored: {type(exc).__name__}: {exc}", _provenance(row),
                                  _opt_str(row.get("source")), 0, origin=_opt_str(row.get("id"))))
    return pa.RecordBatch.from_pylist(kept, schema=ARROW_SCHEMA)


def _kafka_records(batch: pa.RecordBatch) -> list[tuple[Any, ...]]:
    """``(value, topic, partition, offset, timestamp_micros)`` of a batch of Kafka rows (any timestamp unit)."""
    columns = {name: batch.column(batch.schema.get_field_index(name)) for name in KAFKA_COLUMNS}
    stamp = columns["timestamp"]
    if pa.types.is_timestamp(stamp.type):
        unit = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0}[stamp.type.unit]
        raw = stamp.cast(pa.int64()).to_pylist()
        micros = [None if v is None else (v * unit if unit else v // 1000) for v in raw]
    else:
        micros = stamp.cast(pa.int64()).to_pylist()
    return list(zip(columns["value"].to_pylist(), columns["topic"].to_pylist(),
                    columns["partition"].cast(pa.int64()).to_pylist(), columns["offset"].to_pylist(), micros,
                    strict=True))


def process_batch(batch: pa.RecordBatch, source_by_topic: Mapping[str, str], scorer: Scorer,
                  twitter_channel: str = "twitter", overflow: Overflow | None = None) -> pa.RecordBatch:
    """One Arrow batch of Kafka records (:data:`KAFKA_COLUMNS`) -> the rows the job stores (:data:`ARROW_SCHEMA`):
    parsed, chat scored (the overflow by the fallback scorer, when given), anything unstorable turned into a dead
    letter. Total: it does not raise for any input."""
    records = _kafka_records(batch)
    rows = parse_rows(records, source_by_topic, twitter_channel)
    values = {(topic, partition, offset): value for value, topic, partition, offset, _ in records}
    return to_record_batch(score_rows(rows, scorer, values, overflow))


def process_batches(batches: Iterable[pa.RecordBatch], source_by_topic: Mapping[str, str], scorer_name: str, *,
                    model: str, options_json: str, twitter_channel: str = "twitter", fallback: str = "",
                    fallback_budget: float = 0.0) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` body of the job, called once per Spark task: the scorer is built once per Python worker
    (see :func:`cached_scorer`), then every batch goes through :func:`process_batch`. With a ``fallback`` scorer,
    the model has ``fallback_budget`` seconds for this task's messages (:mod:`chat_sentiment.fallback`)."""
    scorer: Scorer | None = None
    overflow = Overflow(cached_scorer(fallback, "", "{}"), Budget(fallback_budget)) if fallback else None
    for batch in batches:
        scorer = scorer or cached_scorer(scorer_name, model, options_json)
        yield process_batch(batch, source_by_topic, scorer, twitter_channel, overflow)


# ------------------------------------------------------------------------------------------------ pandas


def records_batch(records: Sequence[tuple[Any, ...]]) -> pa.RecordBatch:
    """``(value, topic, partition, offset, timestamp_micros)`` records as the Arrow batch Spark's Kafka source hands
    the job (the inverse of :func:`_kafka_records`)."""
    columns = list(zip(*records, strict=True)) if records else [()] * len(KAFKA_COLUMNS)
    types = (pa.binary(), pa.string(), pa.int32(), pa.int64(), _TS)
    return pa.RecordBatch.from_arrays([pa.array(list(c), type=t) for c, t in zip(columns, types, strict=True)],
                                      names=list(KAFKA_COLUMNS))


def kafka_batch(frame: pd.DataFrame) -> pa.RecordBatch:
    """A pandas frame of Kafka records (:data:`KAFKA_COLUMNS`) as the Arrow batch Spark hands the job."""
    return records_batch([
        (value, topic, None if pd.isna(partition) else int(partition), None if pd.isna(offset) else int(offset),
         _micros(_utc(stamp)))
        for value, topic, partition, offset, stamp in zip(*(frame[c] for c in KAFKA_COLUMNS), strict=True)])


def to_frame(batch: pa.RecordBatch) -> pd.DataFrame:
    """A batch of :data:`ARROW_SCHEMA` as pandas (times as UTC Timestamps; ids and offsets as nullable ints)."""
    frame = batch.to_pandas()
    for column in ("partition", "offset"):
        frame[column] = frame[column].astype("Int64")
    return frame


def parse_frame(frame: pd.DataFrame, source_by_topic: Mapping[str, str], twitter_channel: str = "twitter",
                scorer: Scorer | None = None) -> pd.DataFrame:
    """:func:`process_batch` on pandas (tests, tools): a frame of Kafka records -> a frame of
    :data:`PARSED_COLUMNS` (scored with the lexicon unless ``scorer`` is given)."""
    batch = process_batch(kafka_batch(frame), source_by_topic, scorer or cached_scorer("lexicon", "", "{}"),
                          twitter_channel)
    return to_frame(batch)


def score_frame(frame: pd.DataFrame, scorer: Scorer) -> pd.DataFrame:
    """``frame`` (with at least the :data:`SCORED_COLUMNS` but label/score/scorer) plus those three, selected
    to :data:`SCORED_COLUMNS`. A missing text scores as empty (neutral)."""
    texts = ["" if t is None or (isinstance(t, float) and pd.isna(t)) else str(t) for t in frame["text"]]
    scores = _valid(scorer.score_batch(texts), len(texts)) if texts else []
    out = frame.assign(label=[s.label for s in scores], score=[float(s.score) for s in scores],
                       scorer=[scorer.name] * len(scores))
    out["score"] = out["score"].astype("float64")
    return out[list(SCORED_COLUMNS)]


def score_frames(frames: Iterable[pd.DataFrame], scorer: Scorer) -> Iterator[pd.DataFrame]:
    """Scores pandas frames with :func:`score_frame` (the scorer is built once, before the first frame)."""
    for frame in frames:
        yield score_frame(frame, scorer)


@lru_cache(maxsize=4)
def cached_scorer(name: str, model: str | None, options_json: str = "{}") -> Scorer:
    """The scorer for these settings, built once per Python process (in Spark: once per worker, which the job's
    ``mapInPandas`` steps reuse across batches; a transformers model is loaded once, not per batch)."""
    if name == "transformers":
        try:  # no progress bars in the executors' logs
            from transformers.utils import logging as hf_logging  # noqa: PLC0415 - optional dependency

            hf_logging.disable_progress_bar()
        except ImportError:
            pass  # get_scorer names the missing dependency
    return get_scorer(name, model=model or None, **json.loads(options_json))
