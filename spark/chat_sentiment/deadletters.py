"""``chat-sentiment dead-letters``: the records the job could not read, as an operator looks into them.

    chat-sentiment dead-letters --output-dir DIR [--since 1h|ISO] [--until ISO] [--reason TEXT] [--topic T]
                                [--limit N] [--json | --raw]

Reads the committed rows of the job's ``dead_letters`` table (:func:`read_dead_letters`) and, by default, prints
how many there are by reason (a reason's details, such as a byte position or a parser's message, are folded so
that one cause is one line) and the newest ``--limit`` of them: when the job received it, where it was on Kafka
(topic/partition@offset), the reason and the start of the raw record.

``--since`` takes an ISO date-time (UTC when it has no zone) or an age: ``90s``, ``15m``, ``6h``, ``2d``. ``--reason``
keeps the rows whose reason contains the text (any case), ``--topic`` those of one topic. ``--json`` prints one JSON
document (counts and rows); ``--raw`` prints each selected record as one JSON line in the input format of
``chat-sentiment parse --as-job`` (``{"topic", "value", "partition", "offset", "timestamp"}``), oldest first, so

    chat-sentiment dead-letters --output-dir DIR --reason 'not valid JSON' --raw | chat-sentiment parse --as-job

runs them through the job's own step again (after a parser fix, say). The table keeps a record's text, not its
bytes: invalid UTF-8 stands there as ``\\xNN`` escapes and a record over 64 KiB is cut, so those come back as
text, not byte for byte. Exit status 0; 2 when the table cannot be read (the message says why).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .tables import read_table

TABLE = "dead_letters"
COLUMNS = ["raw", "reason", "source", "origin", "topic", "partition", "offset", "kafka_ts", "received_at"]
_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
#: A number standing on its own ("byte 17", "column 3"), not one inside a name ("UTF-8", "U+0000").
_NUMBER = re.compile(r"(?<=[\s(])\d+(?=[\s),;]|$)")
_PREVIEW_CHARS = 100


@dataclass(frozen=True)
class DeadLetterRow:
    """One row of the ``dead_letters`` table (times as aware UTC datetimes, None where the job had none)."""

    raw: str
    reason: str
    source: str | None
    origin: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    kafka_ts: datetime | None
    received_at: datetime | None


def read_dead_letters(output_dir: str | Path) -> list[DeadLetterRow]:
    """Every committed row of the job's dead_letters table under ``output_dir``.

    The one place this command reads the table (a Delta table, through :mod:`chat_sentiment.tables`). Raises
    FileNotFoundError when there is no such table.
    """
    frame = read_table(Path(output_dir) / TABLE)
    present = [name for name in COLUMNS if name in frame.columns]
    return [to_row(record) for record in frame[present].to_dict("records")]


def to_row(record: dict[str, Any]) -> DeadLetterRow:
    """A table record (pandas/pyarrow values: NaN, NaT, numpy integers, naive UTC timestamps) as a row."""
    def text(name: str) -> str | None:
        value = record.get(name)
        return None if _missing(value) else str(value)

    def number(name: str) -> int | None:
        value = record.get(name)
        return None if _missing(value) else int(value)

    return DeadLetterRow(raw=text("raw") or "", reason=text("reason") or "", source=text("source"),
                         origin=text("origin"), topic=text("topic"), partition=number("partition"),
                         offset=number("offset"), kafka_ts=_utc(record.get("kafka_ts")),
                         received_at=_utc(record.get("received_at")))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("NaT", "nan", "<NA>")


def _utc(value: Any) -> datetime | None:
    if _missing(value):
        return None
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def parse_time(text: str, now: datetime) -> datetime:
    """``--since``/``--until``: an age before ``now`` (``90s``, ``15m``, ``6h``, ``2d``) or an ISO date-time (UTC if
    it has no zone). ValueError names the text."""
    age = _AGE.fullmatch(text.strip())
    if age:
        return now - timedelta(**{_UNITS[age.group(2)]: float(age.group(1))})
    try:
        return _utc(datetime.fromisoformat(text.strip().replace("Z", "+00:00")))  # type: ignore[return-value]
    except ValueError:
        raise ValueError(f"{text!r} is neither an age (90s, 15m, 6h, 2d) nor an ISO date-time") from None


def when(row: DeadLetterRow) -> datetime | None:
    """The row's time: when the job received it, else the record's Kafka timestamp."""
    return row.received_at or row.kafka_ts


def select(rows: Iterable[DeadLetterRow], *, since: datetime | None = None, until: datetime | None = None,
           reason: str | None = None, topic: str | None = None) -> list[DeadLetterRow]:
    """The rows in ``[since, until)`` (a row without any time is kept only when no time is asked), whose reason
    contains ``reason`` (any case) and whose topic is ``topic``; oldest first."""
    wanted = reason.casefold() if reason else None
    out = []
    for row in rows:
        stamp = when(row)
        if (since or until) and stamp is None:
            continue
        if (since and stamp < since) or (until and stamp >= until):  # type: ignore[operator]
            continue
        if wanted is not None and wanted not in row.reason.casefold():
            continue
        if topic is not None and row.topic != topic:
            continue
        out.append(row)
    return sorted(out, key=_order)


def _order(row: DeadLetterRow) -> tuple[Any, ...]:
    stamp = when(row)
    return (stamp is not None, stamp or datetime.min.replace(tzinfo=UTC), row.topic or "", row.partition or 0,
            row.offset or 0)


def reason_kind(reason: str) -> str:
    """One cause, whatever its details: the reason up to its first ``": "``, numbers standing on their own as N
    (``Filebeat event is not valid UTF-8 (byte 17)`` -> ``... UTF-8 (byte N)``)."""
    head = reason.split(": ", 1)[0]
    return _NUMBER.sub("N", head).strip() or "(no reason)"


def reason_counts(rows: Iterable[DeadLetterRow]) -> list[tuple[str, int]]:
    """(reason kind, rows) by count, most first; ties by name."""
    counts = Counter(reason_kind(row.reason) for row in rows)
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def as_job_input(row: DeadLetterRow) -> dict[str, Any]:
    """The row as one input line of ``chat-sentiment parse --as-job`` (see :mod:`chat_sentiment.asjob`)."""
    out: dict[str, Any] = {"topic": row.topic, "value": row.raw}
    if row.partition is not None:
        out["partition"] = row.partition
    if row.offset is not None:
        out["offset"] = row.offset
    if row.kafka_ts is not None:
        out["timestamp"] = _iso(row.kafka_ts)
    return {k: v for k, v in out.items() if v is not None}


def _iso(stamp: datetime | None) -> str | None:
    return None if stamp is None else stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _place(row: DeadLetterRow) -> str:
    return f"{row.topic or '?'}/{'?' if row.partition is None else row.partition}@" \
           f"{'?' if row.offset is None else row.offset}"


def _preview(raw: str) -> str:
    flat = raw.replace("\n", "\\n")
    return flat if len(flat) <= _PREVIEW_CHARS else flat[:_PREVIEW_CHARS - 1] + "…"


def format_text(total: int, rows: list[DeadLetterRow], limit: int) -> str:
    """Counts by reason of the selected rows, then the newest ``limit`` of them (newest last)."""
    lines = [f"{len(rows)} dead letters selected (of {total} in the table)"]
    if rows:
        lines += ["", f"{'count':>7}  reason"]
        lines += [f"{count:>7}  {kind}" for kind, count in reason_counts(rows)]
        shown = rows[-limit:] if limit > 0 else []
        if shown:
            lines += ["", f"the newest {len(shown)}:" if len(shown) < len(rows) else "all of them:"]
            for row in shown:
                stamp = when(row)
                lines.append(f"{stamp.strftime('%Y-%m-%d %H:%M:%S') if stamp else '-':<19}  {_place(row)}  "
                             f"{row.reason}")
                lines.append(f"{'':<19}  raw: {_preview(row.raw)}")
    return "\n".join(lines)


def to_json(total: int, rows: list[DeadLetterRow], limit: int) -> dict[str, Any]:
    shown = rows[-limit:] if limit > 0 else []
    return {"total": total, "selected": len(rows),
            "by_reason": [{"reason": kind, "count": count} for kind, count in reason_counts(rows)],
            "rows": [{**asdict(row), "kafka_ts": _iso(row.kafka_ts), "received_at": _iso(row.received_at)}
                     for row in shown]}


def main(argv: Sequence[str] | None = None, now: datetime | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-sentiment dead-letters", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, required=True, help="the job's output_dir")
    parser.add_argument("--since", default=None, help="only from this time on: an age (15m, 6h, 2d) or ISO time")
    parser.add_argument("--until", default=None, help="only before this time: an age or ISO time")
    parser.add_argument("--reason", default=None, help="only rows whose reason contains this text (any case)")
    parser.add_argument("--topic", default=None, help="only rows of this Kafka topic")
    parser.add_argument("--limit", type=int, default=20, help="rows listed (newest; default 20; 0: counts only)")
    shape = parser.add_mutually_exclusive_group()
    shape.add_argument("--json", action="store_true", help="one JSON document: counts and the listed rows")
    shape.add_argument("--raw", action="store_true",
                       help="every selected record as a JSON line for `chat-sentiment parse --as-job`")
    args = parser.parse_args(argv)
    now = now or datetime.now(UTC)
    try:
        since = parse_time(args.since, now) if args.since else None
        until = parse_time(args.until, now) if args.until else None
    except ValueError as exc:
        parser.error(str(exc))
    try:
        rows = read_dead_letters(args.output_dir)
    except (FileNotFoundError, ValueError) as exc:
        print(f"chat-sentiment dead-letters: {exc}", file=sys.stderr)
        return 2
    chosen = select(rows, since=since, until=until, reason=args.reason, topic=args.topic)
    if args.raw:
        sys.stdout.writelines(json.dumps(as_job_input(row), ensure_ascii=False) + "\n" for row in chosen)
    elif args.json:
        print(json.dumps(to_json(len(rows), chosen, args.limit), ensure_ascii=False))
    else:
        print(format_text(len(rows), chosen, args.limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
