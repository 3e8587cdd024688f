"""Parsing Chatty chat log lines (see ``shared/formats/chatty-log.md``).

:func:`parse_line` is pure: it turns one line, given a :class:`ChattyContext` (the channel, the date and zone
of the ``# Log started`` header that the caller tracks per file, a fallback time), into a
:class:`~chat_sentiment.records.ChatEvent` or a :class:`~chat_sentiment.records.DeadLetter`. It never raises.
:class:`ChattyLogReader` follows one file line by line: it reads the headers, carries their date and zone, rolls
the date over at midnight for time-only stamps, and gives every line an id from the file path and byte offset
(the same id Filebeat's events get, see :mod:`chat_sentiment.filebeat`).

Line kinds (the ``kind`` field): message, action (/me), ban, deleted, bits, mod_action, notification, points,
viewerstats, viewers, mod, unmod, join, part, system (any other text) and header (``# Log started``,
``# Log closed`` and the lone ``-`` after it).

What becomes a dead letter (with the reason): invalid UTF-8, empty or blank lines, lines longer than
:data:`MAX_LINE_CHARS`, control characters, a ``[`` + digit prefix that is no valid timestamp (e.g. a truncated
``[2024-05-01 21:0``), an impossible date or time, a time-only stamp when no date is known, a timestamp with
nothing after it, a chat line without its closing ``>`` or without text, and a known prefix (``BAN:``,
``BITS:``, ``Viewerstats``...) whose body does not have the documented shape. With ``require_timestamp`` (set
by :class:`ChattyLogReader` once a file has shown timestamps) a line without one is a dead letter too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from pathlib import PurePosixPath, PureWindowsPath
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .emotes import extract_emotes
from .records import STATUS_ROLES, ChatEvent, DeadLetter, stable_id

SOURCE = "twitch"
#: Lines longer than this many characters are dead letters (a Twitch message is at most 500 characters).
MAX_LINE_CHARS = 65_536
#: How much of an over-long or undecodable line a dead letter keeps.
MAX_DEAD_LETTER_RAW = 4_096

_STAMP = re.compile(
    r"\[(?:(?P<date>\d{4}-\d{2}-\d{2}) )?(?P<h>\d{1,2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?: ?(?P<ampm>[AaPp]\.?[Mm]\.?|오전|오후))?\]"
)
_HEADER = re.compile(
    r"# Log (?P<event>started|closed): (?P<date>\d{4}-\d{2}-\d{2}) (?P<time>\d{2}:\d{2}:\d{2})"
    r" (?P<zone>[+-]\d{2}:?\d{2}|Z|UTC|GMT)"
)
_CHAT = re.compile(r"<(?P<nick>[^<>]+)>(?P<action>\*)?(?: (?P<text>.*))?")
_FULLNICK = re.compile(
    r"(?P<symbols>[~&@!%$+^]*)(?P<name>[^\s()~&@!%$+^][^\s()]*)(?: \((?P<login>[A-Za-z0-9_]{1,25})\))?"
)
_NICK = r"[^\s,()\[\]]+"
_BAN_ENTRY = re.compile(
    rf"(?P<nick>{_NICK})(?: \((?P<duration>[^()]*)\))?(?: \[(?P<reason>(?:[^\]]|\](?!, {_NICK}|$))*)\])?(?:, |$)"
)
_DELETED = re.compile(rf"(?P<nick>{_NICK}) \((?P<text>.*)\)")
_BITS = re.compile(rf"(?P<nick>{_NICK}) \((?P<amount>\d[\d,.\u00a0\u202f' ]*)\)")
_MOD_ACTION = re.compile(rf"(?P<nick>{_NICK}) \((?P<command>.*)\)")
_NICK_LIST = re.compile(rf"{_NICK}(?:, {_NICK})*")
_NUMBER = r"\d[\d,.\u00a0\u202f' ]*"
_VIEWERS = re.compile(rf"(?P<count>{_NUMBER})")
_VIEWERSTATS = re.compile(r"Viewerstats \((?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})\): (?P<rest>.*)")
_STAT = re.compile(rf"(?P<key>avg|min|max):(?P<value>{_NUMBER}?)(?=\s|$)")
_LOGIN = re.compile(r"[A-Za-z0-9_]{1,25}")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SIMPLE_PREFIXES = {"MOD: ": "mod", "UNMOD: ": "unmod", "JOIN: ": "join", "PART: ": "part"}
_ROLE_BY_SYMBOL = dict(STATUS_ROLES)
_ROLE_ORDER = [role for _, role in STATUS_ROLES]
#: For a time-only stamp, a jump back of more than this means the clock passed midnight.
ROLLOVER_THRESHOLD = timedelta(hours=12)


@dataclass(frozen=True, slots=True)
class ChattyContext:
    """What a line needs from outside itself.

    - ``channel``: the channel (login, no ``#``), usually from the file name.
    - ``tz``: the zone of the log's local times (the ``# Log started`` header's offset); UTC if unknown.
    - ``date``: the local date a time-only stamp takes (from the header, the split file name, or the shipper).
    - ``near``: a time close to when the line was written (Filebeat's ``@timestamp``). When ``date`` is unset, a
      time-only stamp takes the local date around ``near`` that puts it closest to ``near`` (so a line written
      at 23:59:59 and shipped at 00:00:01 keeps its day), but never a date before ``not_before``.
    - ``fallback_ts``: the time of a line without any timestamp (style "none"); otherwise its ``ts`` is None.
    - ``require_timestamp``: a line without a timestamp is a dead letter (the file is known to carry them).
    """

    channel: str
    tz: tzinfo = UTC
    date: date | None = None
    near: datetime | None = None
    not_before: date | None = None
    fallback_ts: datetime | None = None
    require_timestamp: bool = False
    source: str = SOURCE


def parse_zone(text: str) -> tzinfo:
    """A zone from ``+0900``, ``+09:00``, ``-0430``, ``Z``/``UTC``/``GMT`` or an IANA name (``Asia/Seoul``).
    Raises ValueError naming the text."""
    value = text.strip()
    if value in ("Z", "UTC", "GMT", "+0000", "+00:00", "-0000"):
        return UTC
    match = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", value)
    if match:
        sign, hours, minutes = match.groups()
        if int(hours) > 23 or int(minutes) > 59:
            raise ValueError(f"zone offset {text!r} is out of range")
        delta = timedelta(hours=int(hours), minutes=int(minutes))
        return timezone(-delta if sign == "-" else delta)
    if re.fullmatch(r"[A-Za-z_]+(?:/[A-Za-z0-9_+\-]+)+", value):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {text!r}") from None
    raise ValueError(f"cannot read the time zone {text!r} (expected +0900, +09:00, Z or an IANA name)")


def decode_line(line: bytes | str) -> tuple[str | None, str | None]:
    """``(text, None)`` for a decodable line without its line ending, or ``(None, reason)``."""
    if isinstance(line, bytes):
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return None, f"invalid UTF-8 at byte {exc.start}: {line[exc.start:exc.start + 4]!r}"
    else:
        text = line
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, None


def _dead(raw: str, reason: str, ctx: ChattyContext, origin: str | None) -> DeadLetter:
    if len(raw) > MAX_DEAD_LETTER_RAW:
        raw = raw[:MAX_DEAD_LETTER_RAW]
        reason += f" (raw record cut to its first {MAX_DEAD_LETTER_RAW} characters)"
    return DeadLetter(raw=raw, reason=reason, source=ctx.source, origin=origin)


def _number(text: str) -> int:
    """An integer written with any thousands separator (1,234 / 1.234 / 1 234)."""
    digits = re.sub(r"[,.\u00a0\u202f' ]", "", text)
    return int(digits)


def parse_header(text: str) -> tuple[str, datetime] | None:
    """``("started"|"closed", aware local datetime)`` for a ``# Log ...`` line, or None if it is not one.
    Raises ValueError for a header with an impossible date or zone."""
    match = _HEADER.fullmatch(text.rstrip())
    if not match:
        return None
    zone = parse_zone(match["zone"])
    local = datetime.strptime(f"{match['date']} {match['time']}", "%Y-%m-%d %H:%M:%S")
    return match["event"], local.replace(tzinfo=zone)


def _resolve_date(clock: time, ctx: ChattyContext) -> date | None:
    if ctx.date is not None:
        return ctx.date
    if ctx.near is None:
        return None
    near_local = ctx.near.astimezone(ctx.tz)
    best: date | None = None
    best_gap: timedelta | None = None
    for shift in (-1, 0, 1):
        day = near_local.date() + timedelta(days=shift)
        if ctx.not_before is not None and day < ctx.not_before:
            continue
        gap = abs(datetime.combine(day, clock, ctx.tz) - near_local)
        if best_gap is None or gap < best_gap:
            best, best_gap = day, gap
    if best is None:  # every candidate before the file's date: the file date itself
        best = ctx.not_before
    return best


def _stamp_time(match: re.Match[str]) -> time:
    hour, minute, second = int(match["h"]), int(match["m"]), int(match["s"])
    marker = match["ampm"]
    if marker:
        if not 1 <= hour <= 12:
            raise ValueError(f"hour {hour} is not valid with {marker!r}")
        pm = marker in ("오후",) or marker[0] in "Pp"
        hour = hour % 12 + (12 if pm else 0)
    return time(hour, minute, second)


def parse_line(line: bytes | str, ctx: ChattyContext, *, id: str | None = None,
               origin: str | None = None) -> ChatEvent | DeadLetter:
    """Parse one Chatty log line. ``id`` defaults to a hash of the channel and the line (give a path+offset id
    when you have one: identical lines would otherwise share an id)."""
    try:
        return _parse_line(line, ctx, id, origin)
    except Exception as exc:  # never let one line stop a stream; the reason names the failure
        raw = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else str(line)
        return _dead(raw, f"parser error: {type(exc).__name__}: {exc}", ctx, origin)


def _parse_line(line: bytes | str, ctx: ChattyContext, id: str | None,
                origin: str | None) -> ChatEvent | DeadLetter:
    text, problem = decode_line(line)
    if text is None:
        assert problem is not None
        raw = line.decode("utf-8", "backslashreplace") if isinstance(line, bytes) else str(line)
        return _dead(raw, problem, ctx, origin)
    if len(text) > MAX_LINE_CHARS:
        return _dead(text, f"line is {len(text)} characters long, over the limit of {MAX_LINE_CHARS}", ctx, origin)
    if not text:
        return _dead(text, "empty line", ctx, origin)
    if not text.strip():
        return _dead(text, "blank line (whitespace only)", ctx, origin)
    control = _CONTROL.search(text)
    if control:
        return _dead(text, f"control character U+{ord(control.group()):04X} at column {control.start() + 1}", ctx,
                     origin)
    record_id = id or stable_id(ctx.source, ctx.channel, text)

    def event(kind: str, ts: datetime | None, **fields: object) -> ChatEvent:
        return ChatEvent(id=record_id, source=ctx.source, channel=ctx.channel, ts=ts, kind=kind, raw=text,
                         **fields)  # type: ignore[arg-type]

    # Headers.
    if text.startswith("# Log "):
        try:
            header = parse_header(text)
        except ValueError as exc:
            return _dead(text, f"malformed log header: {exc}", ctx, origin)
        if header is None:
            return _dead(text, "malformed log header (expected '# Log started|closed: yyyy-MM-dd HH:mm:ss ZZ')",
                         ctx, origin)
        what, local = header
        offset = local.utcoffset()
        return event("header", local.astimezone(UTC),
                     attrs={"event": what, "local_time": local.isoformat(), "utc_offset": _offset_text(offset)})
    if text.strip() == "-":
        return event("header", ctx.fallback_ts, attrs={"event": "separator"})

    # Timestamp.
    ts: datetime | None = None
    body = text
    stamp = _STAMP.match(text)
    if stamp:
        try:
            clock = _stamp_time(stamp)
            if stamp["date"]:
                day = date.fromisoformat(stamp["date"])
            else:
                resolved = _resolve_date(clock, ctx)
                if resolved is None:
                    return _dead(text, f"time-only timestamp {stamp.group()} and no date known (no '# Log started' "
                                       "header, no date in the file name, no shipper time)", ctx, origin)
                day = resolved
        except ValueError as exc:
            return _dead(text, f"invalid timestamp {stamp.group()}: {exc}", ctx, origin)
        ts = datetime.combine(day, clock, ctx.tz).astimezone(UTC)
        body = text[stamp.end():]
        if not body.strip():
            return _dead(text, f"nothing after the timestamp {stamp.group()} (truncated line?)", ctx, origin)
        if not body.startswith(" "):
            return _dead(text, f"no space after the timestamp {stamp.group()}", ctx, origin)
        body = body[1:]
    elif re.match(r"\[\d", text):
        return _dead(text, "malformed or truncated timestamp at the start of the line", ctx, origin)
    else:
        if ctx.require_timestamp:
            return _dead(text, "line has no timestamp but this log uses them", ctx, origin)
        ts = ctx.fallback_ts

    # Chat messages and actions.
    if body.startswith("<"):
        chat = _CHAT.fullmatch(body)
        if not chat:
            if ">" not in body:
                return _dead(text, "chat line without the closing '>' after the nick (truncated line?)", ctx, origin)
            return _dead(text, "malformed chat line (expected '<nick> message' or '<nick>* action')", ctx, origin)
        message = chat["text"]
        if message is None or not message.strip():
            return _dead(text, "chat line without message text", ctx, origin)
        nick = _FULLNICK.fullmatch(chat["nick"])
        if not nick:
            return _dead(text, f"malformed nick {chat['nick']!r} (expected symbols + name or 'Name (login)')",
                         ctx, origin)
        symbols = nick["symbols"]
        unknown = [s for s in symbols if s not in _ROLE_BY_SYMBOL]
        if unknown:
            return _dead(text, f"unknown status symbol(s) {''.join(unknown)!r}", ctx, origin)
        roles = {_ROLE_BY_SYMBOL[s] for s in symbols}
        name = nick["name"]
        login = (nick["login"] or name).lower()
        attrs: dict[str, object] = {}
        if symbols:
            attrs["status"] = symbols
        return event("action" if chat["action"] else "message", ts, user=login, display_name=name, text=message,
                     badges=[r for r in _ROLE_ORDER if r in roles], emotes=extract_emotes(message), attrs=attrs)

    # Other kinds.
    if body.startswith("BAN:"):
        return _parse_ban(body, text, ts, event, ctx=ctx, origin=origin)
    if body.startswith("DELETED:"):
        match = _DELETED.fullmatch(body[len("DELETED:"):].lstrip(" "))
        if not match:
            return _dead(text, "malformed DELETED line (expected 'DELETED: nick (message)')", ctx, origin)
        return event("deleted", ts, user=match["nick"].lower(), text=match["text"],
                     emotes=extract_emotes(match["text"]))
    if body.startswith("BITS:"):
        match = _BITS.fullmatch(body[len("BITS:"):].lstrip(" "))
        if not match:
            return _dead(text, "malformed BITS line (expected 'BITS: nick (amount)')", ctx, origin)
        return event("bits", ts, user=match["nick"].lower(), attrs={"bits": _number(match["amount"])})
    if body.startswith("MOD_ACTION:"):
        match = _MOD_ACTION.fullmatch(body[len("MOD_ACTION:"):].lstrip(" "))
        if not match:
            return _dead(text, "malformed MOD_ACTION line (expected 'MOD_ACTION: modnick (command)')", ctx, origin)
        return event("mod_action", ts, user=match["nick"].lower(), attrs={"command": match["command"]})
    for prefix, kind in _SIMPLE_PREFIXES.items():
        if body.startswith(prefix) or body == prefix.rstrip():
            names = body[len(prefix):].strip()
            if not _NICK_LIST.fullmatch(names):
                return _dead(text, f"malformed {prefix.strip()} line (expected '{prefix}nick')", ctx, origin)
            users = [n.lower() for n in names.split(", ")]
            return event(kind, ts, user=users[0], attrs={"users": users} if len(users) > 1 else {})
    if body.startswith("VIEWERS:"):
        match = _VIEWERS.fullmatch(body[len("VIEWERS:"):].strip())
        if not match:
            return _dead(text, "malformed VIEWERS line (expected 'VIEWERS: 12,521')", ctx, origin)
        return event("viewers", ts, attrs={"viewers": _number(match["count"])})
    if body.startswith("Viewerstats"):
        return _parse_viewerstats(body, text, ts, event, ctx=ctx, origin=origin)
    for prefix, kind in (("[Notification]", "notification"), ("[Points]", "points")):
        if body.startswith(prefix):
            rest = body[len(prefix):].strip()
            if not rest:
                return _dead(text, f"{prefix} line without text", ctx, origin)
            system_text, attached = split_attached(rest)
            first = system_text.split(" ", 1)[0]
            # The text usually starts with the login ("viewer3 subscribed ..."); Twitch's wording can also start
            # with a number ("802 raiders from x have joined!"), which is not a login.
            user = first.lower() if _LOGIN.fullmatch(first) and not first.isdigit() else None
            return event(kind, ts, user=user, text=attached, emotes=extract_emotes(attached),
                         attrs={"system_text": system_text})
    return event("system", ts, text=body)


def _offset_text(offset: timedelta | None) -> str:
    if offset is None:
        return "+00:00"
    total = int(offset.total_seconds() // 60)
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 60:02d}:{total % 60:02d}"


def split_attached(text: str) -> tuple[str, str | None]:
    """Split ``system text [attached user message]`` at the last balanced ``[...]`` that ends the text."""
    if not text.endswith("]"):
        return text, None
    depth = 0
    for index in range(len(text) - 1, -1, -1):
        ch = text[index]
        if ch == "]":
            depth += 1
        elif ch == "[":
            depth -= 1
            if depth == 0:
                system_text = text[:index].rstrip()
                if not system_text:
                    return text, None
                return system_text, text[index + 1:-1]
    return text, None


def _parse_ban(body, text, ts, event, *, ctx, origin):  # type: ignore[no-untyped-def]
    rest = body[len("BAN:"):].lstrip(" ")
    if not rest:
        return _dead(text, "BAN line without any nick", ctx, origin)
    bans: list[dict[str, object]] = []
    position = 0
    while position < len(rest):
        match = _BAN_ENTRY.match(rest, position)
        if not match or match.end() == position:
            return _dead(text, f"malformed BAN entry at character {position + 1} of {rest!r} "
                               "(expected 'nick (600s) [reason], nick2')", ctx, origin)
        entry: dict[str, object] = {"user": match["nick"].lower()}
        duration = match["duration"]
        if duration is not None:
            seconds = re.fullmatch(r"(\d+)\s*s", duration.strip())
            entry["duration_s"] = int(seconds.group(1)) if seconds else None
            if not seconds:
                entry["duration"] = duration
        else:
            entry["duration_s"] = None  # a permanent ban
        if match["reason"] is not None:
            entry["reason"] = match["reason"]
        bans.append(entry)
        position = match.end()
    return event("ban", ts, user=str(bans[0]["user"]), attrs={"bans": bans})


def _parse_viewerstats(body, text, ts, event, *, ctx, origin):  # type: ignore[no-untyped-def]
    match = _VIEWERSTATS.fullmatch(body)
    if not match:
        return _dead(text, "malformed Viewerstats line (expected 'Viewerstats (HH:mm-HH:mm): avg:N min:N max:N')",
                     ctx, origin)
    rest = match["rest"]
    details = None
    stats_text, attached = split_attached(rest)
    if attached is not None:
        details = attached
        rest = stats_text
    stats = {m["key"]: _number(m["value"]) for m in _STAT.finditer(rest)}
    if not stats:
        return _dead(text, "Viewerstats line without avg/min/max values", ctx, origin)
    attrs: dict[str, object] = {"period_start": match["start"], "period_end": match["end"], **stats}
    if details is not None:
        attrs["details"] = details
    return event("viewerstats", ts, attrs=attrs)


# ------------------------------------------------------------------------------------------------ file names

_DATE_PREFIX = re.compile(r"(\d{4}-\d{2}-\d{2})_(#.+)")
_LOCK_SUFFIX = re.compile(r"(.+)-\d+")
# What logrotate leaves: #channel.log.1, #channel.log-20240501 (a reader keeps reading a file renamed under it).
_ROTATED = re.compile(r"(.+\.log)[.-]\d+", re.IGNORECASE)


def _path_parts(path: str) -> tuple[str, ...]:
    return (PureWindowsPath(path) if "\\" in path else PurePosixPath(path)).parts


def channel_and_date_from_path(path: str) -> tuple[str | None, date | None]:
    """The channel (lower-case, no ``#``) and the split date of a Chatty log file path.

    File names: ``#channel.log``, ``#channel-1.log`` (Chatty's fallback when the file is locked),
    ``yyyy-MM-dd_#channel.log`` (split logs; weekly/monthly use the first day of the period), optionally inside
    a ``#channel/`` sub-folder, or any of these renamed by logrotate (``#channel.log.1``, ``#channel.log-20240501``).
    Windows paths work too. Returns ``(None, None)`` for a path that is none of these.
    """
    parts = _path_parts(path)
    if not parts:
        return None, None
    name = parts[-1]
    rotated = _ROTATED.fullmatch(name)
    if rotated:
        name = rotated.group(1)
    folder = parts[-2] if len(parts) > 1 else ""
    day: date | None = None
    if name.lower().endswith(".log"):
        stem = name[:-4]
        dated = _DATE_PREFIX.fullmatch(stem)
        if dated:
            try:
                day = date.fromisoformat(dated.group(1))
            except ValueError:
                day = None
            stem = dated.group(2)
        if stem.startswith("#") and len(stem) > 1:
            channel = stem[1:]
            locked = _LOCK_SUFFIX.fullmatch(channel)
            if locked and not (folder.startswith("#") and folder[1:].lower() == channel.lower()):
                channel = locked.group(1)
            return channel.lower(), day
    if folder.startswith("#") and len(folder) > 1:
        return folder[1:].lower(), day
    return None, day


# ------------------------------------------------------------------------------------------------ one file

@dataclass
class ChattyLogReader:
    """Reads one Chatty log file in order, following its headers.

    ``feed(line)`` takes each line (bytes with or without the newline, as read from the file) and returns the
    parsed record. The reader keeps the last ``# Log started`` date and zone, advances the date when a
    time-only stamp goes back by more than 12 hours (midnight), and once a timestamped line has been seen,
    requires timestamps. Ids are ``stable_id("twitch", path, byte offset, line)``, like Filebeat events'.
    """

    channel: str
    path: str = ""
    tz: tzinfo = UTC
    date: date | None = None
    offset: int = 0
    _last_local: datetime | None = field(default=None, repr=False)
    _seen_stamp: bool = field(default=False, repr=False)

    @classmethod
    def for_path(cls, path: str, tz: tzinfo = UTC) -> ChattyLogReader:
        channel, day = channel_and_date_from_path(path)
        if channel is None:
            raise ValueError(f"cannot tell the channel from the log file path {path!r}")
        return cls(channel=channel, path=path, tz=tz, date=day)

    def feed(self, line: bytes | str) -> ChatEvent | DeadLetter:
        size = len(line) if isinstance(line, bytes) else len(line.encode("utf-8", "surrogatepass"))
        offset = self.offset
        self.offset += size
        ctx = ChattyContext(channel=self.channel, tz=self.tz, date=self.date, require_timestamp=self._seen_stamp,
                            fallback_ts=self._last_local.astimezone(UTC) if self._last_local else None)
        origin = f"{self.path or self.channel}:{offset}"
        text, _ = decode_line(line)
        record_id = stable_id(SOURCE, self.path or self.channel, offset, text if text is not None else origin)
        stamp = _STAMP.match(text) if text else None
        if stamp and not stamp["date"] and self._last_local is not None and self.date is not None:
            try:
                clock = _stamp_time(stamp)
            except ValueError:
                clock = None
            if clock is not None:
                candidate = datetime.combine(self.date, clock, self.tz)
                if self._last_local - candidate > ROLLOVER_THRESHOLD:
                    self.date += timedelta(days=1)
                    ctx = replace(ctx, date=self.date)
        record = parse_line(line, ctx, id=record_id, origin=origin)
        if isinstance(record, ChatEvent):
            if record.kind == "header" and "local_time" in record.attrs:
                local = datetime.fromisoformat(str(record.attrs["local_time"]))
                self._last_local = local
                if record.attrs.get("event") == "started":
                    self.tz = local.tzinfo or UTC
                    self.date = local.date()
            elif record.ts is not None and stamp is not None:
                local = record.ts.astimezone(self.tz)
                self._last_local = local
                self.date = local.date()
                self._seen_stamp = True
        return record
