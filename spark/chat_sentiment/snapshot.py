"""The small JSON file a web page polls: the latest per-minute windows of each channel.

The job merges every batch of new per-minute aggregates into the file (:func:`merge_windows`) and replaces it
atomically (:func:`write_json_atomic`: a temporary file in the same directory, fsync, rename), so a reader sees
the old file or the new one, never a partial one. Windows are keyed by (source, channel, window_start): merging
the same batch twice (a batch replayed after a crash) changes nothing.

Format (``version`` 1)::

    {"version": 1,
     "updated_at": "2024-05-01T12:05:10Z",          # when the job last wrote the file
     "window_seconds": 60,
     "windows_per_channel": 60,                      # at most this many windows per channel, the newest
     "channels": [                                   # sorted by source, then channel
       {"source": "twitch", "channel": "examplestreamer",
        "windows": [                                 # oldest first
          {"window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T12:01:00Z",
           "messages": 42, "positive": 20, "neutral": 15, "negative": 7, "mean_score": 0.1834,
           "top_emotes": [["KEKW", 9], ["PogChamp", 4]], "top_words": [["ㅋㅋ", 12], ["가즈아", 3]],
           "scored_by": {"transformers": 30, "lexicon": 12}}]}]}

``scored_by``: the window's messages per scorer that scored them (``transformers`` or ``lexicon``); with the
lexicon fallback (:mod:`chat_sentiment.fallback`) the ``lexicon`` entry of a transformers job is its overflow.
Messages stored before the job recorded its scorer are in no entry (the counts then add up to less than
``messages``); a window of an older snapshot file reads as ``{}``.

The job merges every window a batch touches, so the newest window is the minute in progress (its numbers grow
until it ends) and a past window changes when a late line of it arrives. A reader tells closed minutes by their
``window_end`` against its clock (the dashboard does so, and so does ``chat-sentiment report``).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

VERSION = 1
_WINDOW_FIELDS = ("window_start", "window_end", "messages", "positive", "neutral", "negative", "mean_score",
                  "top_emotes", "top_words", "scored_by")


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _pairs(items: Any) -> list[list[Any]]:
    out = []
    for item in () if items is None else items:  # a list, or a numpy array from a pandas reader
        if isinstance(item, Mapping):
            out.append([str(item["item"]), int(item["count"])])
        else:
            name, count = item
            out.append([str(name), int(count)])
    return out


def window_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    """One aggregate row (a dict with the aggregate table's columns) as a snapshot window."""
    mean = row.get("mean_score")
    return {
        "window_start": _iso(row["window_start"]),
        "window_end": _iso(row["window_end"]),
        "messages": int(row["messages"]),
        "positive": int(row["positive"]),
        "neutral": int(row["neutral"]),
        "negative": int(row["negative"]),
        "mean_score": None if mean is None else round(float(mean), 6),
        "top_emotes": _pairs(row.get("top_emotes")),
        "top_words": _pairs(row.get("top_words")),
        "scored_by": dict(_pairs(row.get("scored_by"))),
    }


def empty_snapshot(window_seconds: int, keep: int) -> dict[str, Any]:
    return {"version": VERSION, "updated_at": None, "window_seconds": window_seconds, "windows_per_channel": keep,
            "channels": []}


def merge_windows(snapshot: Mapping[str, Any] | None, rows: Iterable[Mapping[str, Any]], *, keep: int,
                  window_seconds: int, now: datetime | None = None) -> dict[str, Any]:
    """``snapshot`` with the aggregate ``rows`` merged in: a window already present is replaced, each channel keeps
    its ``keep`` newest windows, oldest first. ``snapshot`` may be None (start from empty); it is not modified."""
    channels: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    if snapshot and snapshot.get("version") == VERSION:
        for channel in snapshot.get("channels", ()):
            key = (str(channel.get("source")), str(channel["channel"]))
            channels[key] = {w["window_start"]: dict(w) for w in channel.get("windows", ())}
    for row in rows:
        entry = window_entry(row)
        channels.setdefault((str(row.get("source")), str(row["channel"])), {})[entry["window_start"]] = entry
    out = empty_snapshot(window_seconds, keep)
    out["updated_at"] = _iso(now or datetime.now(UTC))
    for (source, channel), windows in sorted(channels.items()):
        newest = sorted(windows.values(), key=lambda w: w["window_start"])[-keep:]
        out["channels"].append({"source": source, "channel": channel,
                                "windows": [{k: w.get(k, {}) if k == "scored_by" else w[k] for k in _WINDOW_FIELDS}
                                            for w in newest]})
    return out


def load_snapshot(path: str | Path) -> dict[str, Any] | None:
    """The snapshot at ``path``, or None when it is missing or not a snapshot this version writes."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("channels"), list):
        return None
    return data


def write_json_atomic(path: str | Path, obj: Any, mode: int = 0o644) -> None:
    """Write ``obj`` as JSON to ``path`` so that readers see either the old or the new file: a temporary file in
    the same directory, flushed and fsynced, then renamed over ``path``; the directory is fsynced after."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(obj, handle, ensure_ascii=False, separators=(",", ":"))
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
