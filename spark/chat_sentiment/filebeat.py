"""Parsing Filebeat events that carry Chatty log lines (the Kafka value of the Twitch source).

An event looks like (Filebeat 8, filestream input)::

    {"@timestamp": "2024-05-01T12:00:03.120Z",
     "log": {"offset": 1234, "file": {"path": "/home/chat/.chatty/logs/#examplestreamer.log"}},
     "message": "[2024-05-01 21:00:03] <~스트리머 (examplestreamer)> 안녕하세요 여러분",
     "fields": {"tz": "+0900"}, "host": {"name": "shipper1"}, "input": {"type": "filestream"}, ...}

- The raw line is ``message``; the channel comes from ``log.file.path`` (see
  :func:`chat_sentiment.chatty.channel_and_date_from_path`), or from ``fields.channel`` if the shipper sets it.
- The id is ``stable_id("twitch", log.file.path, log.offset, message)``: a line re-sent after a Filebeat restart
  keeps its id, so the job can drop the duplicate, while a new file at a rotated file's path (offsets from 0 again)
  gives its lines ids of their own. Without an offset the id falls back to a hash of path + line.

Events are independent, so the ``# Log started`` header's date and zone are not available to a line. They are
resolved like this:

- **Zone**: ``fields.tz`` (``+0900``, ``+09:00`` or an IANA name such as ``Asia/Seoul``; the filebeat role sets it
  to the chat logger host's zone); otherwise UTC. A header line carries its own zone and is read with it.
- **Date of a time-only stamp** (styles ``[HH:mm:ss]``, ``[hh:mm:ss a]``...):
  1. ``fields.log_date`` (``yyyy-MM-dd``) if the shipper sets it (use it to replay an old file);
  2. otherwise the local date around the event's ``@timestamp`` that puts the stamp closest to it (a live
     shipper reads a line within seconds of its writing, so a 23:59:59 line shipped at 00:00:01 keeps its
     day), never earlier than the date in a split file name (``2024-05-01_#channel.log``);
  3. otherwise the split file name's date;
  4. otherwise the line is a dead letter ("time-only timestamp and no date known").
- A line with no timestamp at all (style "none") takes ``@timestamp`` as its time. With
  ``fields.require_timestamp: true`` such a line is a dead letter instead.

A line Filebeat cut (``log.flags: [truncated]``, longer than its ``message_max_bytes``) and a line with bytes that
are not UTF-8 (Filebeat's decoder replaced them with U+FFFD) are dead letters: neither text is what was written.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from .chatty import SOURCE, ChattyContext, channel_and_date_from_path, parse_line, parse_zone
from .records import ChatEvent, DeadLetter, stable_id

#: A dead letter keeps at most this much of the event (Kafka's default message limit is 1 MB).
MAX_DEAD_LETTER_EVENT = 65_536
#: What Filebeat's utf-8 decoder puts in place of bytes that are not UTF-8.
REPLACEMENT = "\ufffd"


def _get(obj: Any, dotted: str) -> Any:
    """``obj["a"]["b"]`` for ``"a.b"``, also accepting a flat ``obj["a.b"]`` key; None if absent."""
    if not isinstance(obj, dict):
        return None
    if dotted in obj:
        return obj[dotted]
    head, _, rest = dotted.partition(".")
    if not rest:
        return obj.get(head)
    return _get(obj.get(head), rest)


def parse_timestamp(value: str) -> datetime:
    """An aware datetime from an ISO 8601 / RFC 3339 string (``Z`` allowed). Raises ValueError."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {value!r} has no zone")
    return parsed.astimezone(UTC)


def parse_event(raw: str | bytes) -> ChatEvent | DeadLetter:
    """Parse one Filebeat JSON event into a chat event or a dead letter (never raises)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return DeadLetter(raw=raw.decode("utf-8", "backslashreplace"), source=SOURCE,
                              reason=f"Filebeat event is not valid UTF-8 (byte {exc.start})")
    else:
        text = raw
    try:
        event = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return DeadLetter(raw=text, reason=f"Filebeat event is not valid JSON: {exc}", source=SOURCE)
    if not isinstance(event, dict):
        return DeadLetter(raw=text, reason=f"Filebeat event is a JSON {type(event).__name__}, not an object",
                          source=SOURCE)
    try:
        return _parse_event(event, text)
    except Exception as exc:  # a malformed event must not stop the stream
        return DeadLetter(raw=text, reason=f"parser error: {type(exc).__name__}: {exc}", source=SOURCE)


def _parse_event(event: dict[str, Any], text: str) -> ChatEvent | DeadLetter:
    message = event.get("message")
    if not isinstance(message, str):
        return DeadLetter(raw=text, reason="Filebeat event has no string 'message' field", source=SOURCE)
    path = _get(event, "log.file.path")
    offset = _get(event, "log.offset")
    origin = f"{path}:{offset}" if path is not None else None
    flags = _get(event, "log.flags")
    if isinstance(flags, list) and "truncated" in flags:
        # Filebeat cut a line longer than its message_max_bytes: the rest is lost, so the text is not the message.
        return DeadLetter(raw=text[:MAX_DEAD_LETTER_EVENT], origin=origin, source=SOURCE,
                          reason="line longer than Filebeat's message_max_bytes, cut by Filebeat (log.flags: "
                                 "truncated)")
    if REPLACEMENT in message:
        # Filebeat's utf-8 decoder puts U+FFFD where the file had bytes that are not UTF-8.
        return DeadLetter(raw=text[:MAX_DEAD_LETTER_EVENT], origin=origin, source=SOURCE,
                          reason="invalid UTF-8 in the log line (Filebeat replaced it with U+FFFD)")
    fields = event.get("fields") if isinstance(event.get("fields"), dict) else {}

    channel_field = fields.get("channel")
    channel, file_date = channel_and_date_from_path(path) if isinstance(path, str) else (None, None)
    if isinstance(channel_field, str) and channel_field.strip():
        channel = channel_field.strip().lstrip("#").lower()
    if channel is None:
        return DeadLetter(raw=text, origin=origin, source=SOURCE,
                          reason=f"cannot tell the channel: log.file.path {path!r} is not a Chatty log file "
                                 "(#channel.log, yyyy-MM-dd_#channel.log, #channel/...) and fields.channel is unset")

    try:
        tz = parse_zone(str(fields["tz"])) if fields.get("tz") else UTC
    except ValueError as exc:
        return DeadLetter(raw=text, origin=origin, source=SOURCE, reason=f"fields.tz: {exc}")
    log_date: date | None = None
    if fields.get("log_date"):
        try:
            log_date = date.fromisoformat(str(fields["log_date"]))
        except ValueError:
            return DeadLetter(raw=text, origin=origin, source=SOURCE,
                              reason=f"fields.log_date {fields['log_date']!r} is not a yyyy-MM-dd date")
    near: datetime | None = None
    if event.get("@timestamp") is not None:
        try:
            near = parse_timestamp(str(event["@timestamp"]))
        except ValueError as exc:
            return DeadLetter(raw=text, origin=origin, source=SOURCE, reason=f"bad @timestamp: {exc}")

    ctx = ChattyContext(
        channel=channel,
        tz=tz,
        date=log_date if log_date is not None else (file_date if near is None else None),
        near=near,
        not_before=file_date,
        fallback_ts=near,
        require_timestamp=fields.get("require_timestamp") in (True, "true", "yes", "1"),
    )
    if isinstance(offset, int) and not isinstance(offset, bool) and isinstance(path, str):
        record_id = stable_id(SOURCE, path, offset, message)
    else:
        record_id = stable_id(SOURCE, path, message)
    record = parse_line(message, ctx, id=record_id, origin=origin)
    if isinstance(record, DeadLetter):
        # keep the event as the raw record: it has the path and offset needed to find the line
        reason = record.reason
        if len(text) > MAX_DEAD_LETTER_EVENT:
            text = text[:MAX_DEAD_LETTER_EVENT]
            reason += f" (raw event cut to its first {MAX_DEAD_LETTER_EVENT} characters)"
        return DeadLetter(raw=text, reason=reason, source=SOURCE, origin=origin)
    host = _get(event, "host.name")
    if isinstance(host, str):
        record.attrs.setdefault("host", host)
    return record
