"""What the job produced, as an operator reads it: ``chat-sentiment report --output-dir DIR``.

Reads the committed rows of the ``messages`` and ``aggregates`` Delta tables (:mod:`chat_sentiment.tables`: a
killed batch is never seen) and prints one line per channel and minute: messages, positive / neutral /
negative, mean score and top emotes. A minute that has ended (by this host's clock) and has the job's aggregate row
is marked ``closed``; the job keeps its current minute's row up to date batch by batch (and corrects a past minute
when a late line arrives), so a minute in progress is ``open``. Where the job has a row, its numbers are shown and
checked against a recount of the per-message rows (``check`` column: ``ok`` or what differs); a minute without one
is recounted from the rows.
With ``--since``, the minute it falls in is ``partial``: only its rows from ``--since`` on are counted, so it is
not compared with the job's whole-minute row.

``--json`` prints the same as one JSON document, with the totals the end-to-end tests assert: ``messages`` (rows),
``unique_ids``, ``duplicate_ids``, ``mismatches`` (closed windows whose counts differ from the rows).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .tables import is_delta, read_table

MESSAGE_COLUMNS = ["id", "source", "channel", "ts", "label", "score", "emotes"]


@dataclass
class Window:
    source: str
    channel: str
    window_start: str
    messages: int
    positive: int
    neutral: int
    negative: int
    mean_score: float
    top_emotes: list[list[Any]] = field(default_factory=list)
    closed: bool = False  # ended, and the job's aggregate row is shown
    check: str = ""
    ended: bool = False  # the minute is over (by ``now``), whoever counted it


def _utc(value: Any) -> datetime:
    stamp = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def _iso(value: Any) -> str:
    return _utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pairs(items: Any) -> list[list[Any]]:
    out = []
    for item in () if items is None else items:
        if isinstance(item, dict):
            out.append([str(item["item"]), int(item["count"])])
        else:
            out.append([str(item[0]), int(item[1])])
    return out


def recount(messages: Any, window_seconds: int = 60) -> dict[tuple[str, str, str], Window]:
    """Per (source, channel, window start): counts and mean score recomputed from message rows."""
    out: dict[tuple[str, str, str], Window] = {}
    if messages.empty:
        return out
    frame = messages.copy()
    frame["window_start"] = frame["ts"].map(
        lambda ts: _iso(datetime.fromtimestamp(_utc(ts).timestamp() // window_seconds * window_seconds, UTC)))
    for (source, channel, start), group in frame.groupby(["source", "channel", "window_start"], sort=True):
        labels = group["label"].value_counts()
        emotes: dict[str, int] = {}
        for items in group["emotes"]:
            for emote in () if items is None else items:
                emotes[emote] = emotes.get(emote, 0) + 1
        top = sorted(emotes.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        out[(source, channel, start)] = Window(
            source, channel, start, len(group), int(labels.get("positive", 0)), int(labels.get("neutral", 0)),
            int(labels.get("negative", 0)), round(float(group["score"].mean()), 4), [list(t) for t in top])
    return out


def build(output_dir: Path, since: datetime | None = None, window_seconds: int = 60,
          now: datetime | None = None) -> dict[str, Any]:
    """The report as a dict (see the module docstring); ``now`` decides which minutes have ended (default: now)."""
    now = now or datetime.now(UTC)

    def ended(start: Any) -> bool:
        return _utc(start).timestamp() + window_seconds <= now.timestamp()

    messages = read_table(output_dir / "messages", MESSAGE_COLUMNS)
    if since is not None and not messages.empty:
        messages = messages[messages["ts"].map(lambda ts: _utc(ts) >= since)]
    windows = recount(messages, window_seconds)
    mismatches = []
    aggregates_dir = output_dir / "aggregates"
    aggregates = read_table(aggregates_dir) if is_delta(aggregates_dir) else None
    if aggregates is not None and not aggregates.empty:
        for row in aggregates.to_dict("records"):
            key = (row["source"], row["channel"], _iso(row["window_start"]))
            if since is not None and _utc(row["window_start"]) < since:
                partial = windows.get(key)
                if partial is not None:
                    partial.check = "partial"
                continue
            counted = windows.get(key)
            job = Window(key[0], key[1], key[2], int(row["messages"]), int(row["positive"]), int(row["neutral"]),
                         int(row["negative"]), round(float(row["mean_score"]), 4), _pairs(row.get("top_emotes"))[:3],
                         closed=ended(row["window_start"]))
            diffs = []
            if counted is None:
                diffs.append("no message rows")
            else:
                for name in ("messages", "positive", "neutral", "negative"):
                    if getattr(counted, name) != getattr(job, name):
                        diffs.append(f"{name} {getattr(job, name)} vs rows {getattr(counted, name)}")
                if not math.isclose(counted.mean_score, job.mean_score, abs_tol=1e-3):
                    diffs.append(f"mean_score {job.mean_score} vs rows {counted.mean_score}")
            job.check = "; ".join(diffs) or "ok"
            if diffs:
                mismatches.append(asdict(job))
            windows[key] = job
    for window in windows.values():
        window.ended = ended(window.window_start)
    ids = messages["id"] if not messages.empty else []
    unique = len(set(ids))
    return {
        "output_dir": str(output_dir),
        "messages": len(ids),
        "unique_ids": unique,
        "duplicate_ids": len(ids) - unique,
        "closed_windows": sum(1 for w in windows.values() if w.closed),
        "mismatches": mismatches,
        "windows": [asdict(windows[k]) for k in sorted(windows)],
    }


def _state(window: dict[str, Any]) -> str:
    if window["check"] == "partial":
        return "partial"
    return "closed" if window["closed"] else "open"


def format_table(report: dict[str, Any]) -> str:
    head = (f"{'channel':<18} {'minute (UTC)':<17} {'msgs':>5} {'pos':>4} {'neu':>4} {'neg':>4} {'mean':>7}  "
            f"{'state':<7} {'check':<5} top emotes")
    lines = [head, "-" * len(head)]
    for w in report["windows"]:
        emotes = ", ".join(f"{name} {count}" for name, count in w["top_emotes"])
        minute = w["window_start"][:16].replace("T", " ")
        lines.append(f"{w['channel'][:18]:<18} {minute:<17} {w['messages']:>5} {w['positive']:>4} {w['neutral']:>4} "
                     f"{w['negative']:>4} {w['mean_score']:>+7.3f}  {_state(w):<7} "
                     f"{w['check'] if w['closed'] else '-':<5} {emotes}")
    lines.append(f"{report['messages']} scored messages ({report['duplicate_ids']} duplicate ids), "
                 f"{report['closed_windows']} closed windows, {len(report['mismatches'])} mismatching")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-sentiment report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", type=Path, required=True, help="the job's output_dir")
    parser.add_argument("--since", default=None, help="only messages at or after this ISO time (UTC if no zone)")
    parser.add_argument("--window-seconds", type=int, default=60)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    since = None
    if args.since:
        try:
            since = _utc(datetime.fromisoformat(args.since.replace("Z", "+00:00")))
        except ValueError:
            parser.error(f"--since {args.since!r} is not an ISO date-time")
    try:
        report = build(args.output_dir, since, args.window_seconds)
    except FileNotFoundError as exc:
        print(f"chat-sentiment report: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, ensure_ascii=False) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
