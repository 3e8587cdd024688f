"""``chat-sentiment parse --as-job``: Kafka records from stdin through exactly the job's per-batch step.

Each stdin line is a JSON object describing one Kafka record::

    {"topic": "twitch-chat", "value": "<the record's value as text>"}
    {"topic": "twitch-chat", "value_b64": "<the value's raw bytes, base64>", "partition": 0, "offset": 42,
     "timestamp": "2024-05-01T12:00:04Z"}

(``topic`` defaults to the first source's topic, ``partition`` to 0, ``offset`` to the line number, ``timestamp`` to
now). The records go, a batch at a time, through :func:`chat_sentiment.frames.process_batch` with the job's own
settings (``--config``, as the job reads them: topics per source, scorer), which parses, scores and converts them
exactly as the job does before it writes its tables. One JSON line is printed per resulting row::

    {"line": 3, "outcome": "row", "id": ..., "kind": "message", "label": "positive", "score": 0.42, ...}
    {"line": 4, "outcome": "event", "kind": "ban", ...}
    {"line": 5, "outcome": "dead_letter", "reason": "...", "raw": "..."}

``row`` is a scored chat message (a ``messages`` row), ``event`` any other line kind, ``dead_letter`` a record the
job keeps only as a dead letter, with the reason. A stdin line that does not describe a record (not JSON, bad
base64) is reported as ``"outcome": "input_error"``. The exit status is 0 whatever the records hold (2 only for a
configuration or scorer that cannot load).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from . import config, frames

_TS_FIELDS = ("ts", "kafka_ts")
_OUTPUT_FIELDS = ("id", "source", "channel", "ts", "kind", "user", "display_name", "text", "label", "score",
                  "emotes", "badges", "lang", "attrs", "reason", "origin", "raw", "topic", "partition", "offset",
                  "kafka_ts")


def _record(line: bytes, number: int, default_topic: str) -> tuple[tuple[Any, ...] | None, str | None]:
    """``(value, topic, partition, offset, micros)`` of one stdin line, or ``(None, why it is not a record)``."""
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError) as exc:
        return None, f"not JSON: {exc}"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    value: bytes | None
    if "value_b64" in obj:
        try:
            value = base64.b64decode(str(obj["value_b64"]), validate=True)
        except (binascii.Error, ValueError) as exc:
            return None, f"value_b64 is not base64: {exc}"
    elif obj.get("value") is None:
        value = None
    else:
        raw = obj["value"]
        text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
        value = text.encode("utf-8", "surrogatepass")
    try:
        partition = int(obj.get("partition", 0))
        offset = int(obj.get("offset", number))
        stamp = obj.get("timestamp")
        when = datetime.now(UTC) if stamp is None else frames._utc(stamp)
        micros = frames._micros(when)
    except (TypeError, ValueError, OverflowError) as exc:
        return None, f"bad partition, offset or timestamp: {exc}"
    if not (-(2**31) <= partition < 2**31 and -(2**63) <= offset < 2**63):
        return None, "partition or offset out of range"
    return (value, str(obj.get("topic") or default_topic), partition, offset, micros), None


def _plain(row: dict[str, Any], line: int) -> dict[str, Any]:
    outcome = "dead_letter" if row["type"] == "dead_letter" else "row" if row["label"] is not None else "event"
    out: dict[str, Any] = {"line": line, "outcome": outcome}
    for name in _OUTPUT_FIELDS:
        value = row.get(name)
        if value is None or value == []:
            continue
        out[name] = value.isoformat().replace("+00:00", "Z") if name in _TS_FIELDS else value
    return out


def run(cfg: config.StreamConfig, lines: Iterable[list[bytes]], stdout: BinaryIO) -> None:
    """Process stdin line batches (see :func:`chat_sentiment.cli.read_line_batches`) and print the outcomes."""
    scorer = frames.cached_scorer(cfg.scorer.name, cfg.scorer.model, json.dumps(cfg.scorer.options(), sort_keys=True))
    default_topic = cfg.topics()[0]
    number = 0
    for batch in lines:
        out: list[tuple[int, str]] = []
        records: list[tuple[Any, ...]] = []
        numbers: dict[tuple[str, int, int], int] = {}
        for line in batch:
            number += 1
            if not line.strip():
                continue
            record, problem = _record(line, number, default_topic)
            if record is None:
                out.append((number, json.dumps({"line": number, "outcome": "input_error", "reason": problem})))
                continue
            records.append(record)
            numbers.setdefault((record[1], record[2], record[3]), number)
        if records:
            result = frames.process_batch(frames.records_batch(records), cfg.source_by_topic(), scorer,
                                          cfg.twitter_channel)
            for row in result.to_pylist():
                line = numbers[(row["topic"], row["partition"], row["offset"])]
                out.append((line, json.dumps(_plain(row, line), ensure_ascii=False)))
        if out:
            out.sort(key=lambda item: item[0])  # stable: a record's rows keep their order
            stdout.write(("\n".join(text for _, text in out) + "\n").encode("utf-8"))
            stdout.flush()


def outcomes(cfg: config.StreamConfig, lines: Iterator[list[bytes]]) -> list[dict[str, Any]]:
    """The outcomes as dicts (for tests and tools)."""
    import io  # noqa: PLC0415

    buffer = io.BytesIO()
    run(cfg, lines, buffer)
    return [json.loads(line) for line in buffer.getvalue().decode("utf-8").splitlines()]
