"""Chatty's default log format: what one Twitch IRC message becomes in a ``#channel.log`` file.

Template ``<timestamp> <FULLNICK>[*] <message>``: the timestamp ``[yyyy-MM-dd HH:mm:ss]`` in local time, FULLNICK
the status symbols (one of ``~ & @``, then ``! % $ + ^``) and the display name, written ``Localized (login)``
when it is not just the login in other letter case; ``*`` right after ``>`` marks a ``/me`` action. Other kinds:
``BITS: login (100)`` before the cheer, ``[Notification] <system-msg> [<user message>]`` for USERNOTICE,
``BAN: login (600s)`` (or ``BAN: login`` for a permanent ban) for CLEARCHAT, ``DELETED: login (text)`` for
CLEARMSG, and a channel's NOTICE as plain text. Everything here is pure; :mod:`.logfiles` adds the timestamp.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from .irc import IrcMessage

TIMESTAMP_FORMAT = "[%Y-%m-%d %H:%M:%S]"
HEADER_TIME_FORMAT = "%Y-%m-%d %H:%M:%S %z"

# One of these, the first that applies ...
_RANK_SYMBOLS = (("broadcaster", "~"), ("staff", "&"), ("admin", "&"), ("global_mod", "&"), ("moderator", "@"))
# ... then each of these that applies, in this order.
_MORE_SYMBOLS = (
    (("vip",), "!"),
    (("subscriber", "founder"), "%"),
    (("bits",), "$"),
    (("turbo",), "+"),
    (("bot-badge",), "^"),
)
# What a display name must not hold to stay readable in `<Name (login)>` (Twitch's never do).
_BAD_DISPLAY = re.compile(r"[\s()<>\[\],]|^[~&@!%$+^]")
# Characters Chatty replaces with `_` in a room's file name.
_ROOM_CHARS = re.compile(r'[%."*/:<>?\\|+,;=\[\]]')
# Control characters (C0, DEL, C1) and the Unicode line/paragraph separators: a log line is one line of text.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_ACTION_START = "\x01ACTION "


def log_file_name(channel: str, day: date | None = None) -> str:
    """``#channel.log``, or ``yyyy-MM-dd_#channel.log`` for a daily split, with Chatty's character replacement."""
    room = "#" + _ROOM_CHARS.sub("_", channel.lstrip("#").lower())
    return f"{day.isoformat()}_{room}.log" if day is not None else f"{room}.log"


def timestamp(now: datetime) -> str:
    return now.strftime(TIMESTAMP_FORMAT)


def header(event: str, now: datetime) -> str:
    """``# Log started: 2024-05-01 20:59:58 +0900`` (``event`` is ``started`` or ``closed``); ``now`` is aware."""
    return f"# Log {event}: {now.strftime(HEADER_TIME_FORMAT)}"


def clean_text(text: str) -> str:
    """Message text on one line: control characters and line separators become spaces, the ends are trimmed."""
    return _CONTROL.sub(" ", text).strip()


def badge_names(tags: dict[str, str]) -> set[str]:
    """The badge names of ``badges=subscriber/12,bits/100`` plus the ``mod``/``subscriber``/``turbo`` flags."""
    names = {item.split("/", 1)[0] for item in tags.get("badges", "").split(",") if item}
    for flag, name in (("mod", "moderator"), ("subscriber", "subscriber"), ("turbo", "turbo")):
        if tags.get(flag) == "1":
            names.add(name)
    return names


def status_symbols(badges: set[str]) -> str:
    """Chatty's status symbols for a set of badge names, in Chatty's order."""
    symbols = next((symbol for name, symbol in _RANK_SYMBOLS if name in badges), "")
    for names, symbol in _MORE_SYMBOLS:
        if any(name in badges for name in names):
            symbols += symbol
    return symbols


def login_of(message: IrcMessage) -> str:
    """The sender's login: the ``login`` tag, else the prefix nick, lower-case."""
    return (message.tags.get("login") or message.nick or "").lower()


def full_nick(tags: dict[str, str], login: str) -> str:
    """Status symbols + display name, ``Localized (login)`` when the display name is not the login."""
    display = tags.get("display-name", "").strip()
    if not display or _BAD_DISPLAY.search(display):
        display = login
    name = display if display.lower() == login else f"{display} ({login})"
    return status_symbols(badge_names(tags)) + name


def channel_of(message: IrcMessage) -> str:
    return message.param(0).lstrip("#").lower()


def render(message: IrcMessage) -> tuple[str, list[str]] | None:
    """``(channel, lines without timestamp)`` for a message that goes into a channel's log, else None."""
    command = message.command
    if command not in ("PRIVMSG", "USERNOTICE", "CLEARCHAT", "CLEARMSG", "NOTICE"):
        return None
    target = message.param(0)
    if not target.startswith("#"):
        return None  # a NOTICE to us (e.g. a failed login) is no channel's
    channel = channel_of(message)
    if command == "PRIVMSG":
        return channel, _privmsg(message)
    if command == "USERNOTICE":
        return channel, [_usernotice(message)]
    if command == "CLEARCHAT":
        return channel, [_clearchat(message)]
    if command == "CLEARMSG":
        text = clean_text(message.param(1))
        return channel, [f"DELETED: {login_of(message)} ({text})"]
    text = clean_text(message.param(1))
    return (channel, [text]) if text else None


def _privmsg(message: IrcMessage) -> list[str]:
    login = login_of(message)
    nick = full_nick(message.tags, login)
    text = message.param(1)
    action = text.startswith(_ACTION_START)
    if action:
        text = text[len(_ACTION_START):]
        if text.endswith("\x01"):
            text = text[:-1]
    text = clean_text(text)
    lines = []
    bits = message.tags.get("bits", "")
    if bits.isdigit() and int(bits) > 0:
        lines.append(f"BITS: {login} ({int(bits)})")
    lines.append(f"<{nick}>{'*' if action else ''} {text}")
    return lines


def _usernotice(message: IrcMessage) -> str:
    system = clean_text(message.tags.get("system-msg", ""))
    if not system:
        display = message.tags.get("display-name") or login_of(message)
        system = f"{display} {message.tags.get('msg-id', 'notification')}".strip()
    text = clean_text(message.param(1))
    return f"[Notification] {system} [{text}]" if text else f"[Notification] {system}"


def _clearchat(message: IrcMessage) -> str:
    target = message.param(1).lower()
    if not target:
        return "Chat has been cleared by a moderator."
    entry = f"BAN: {target}"
    duration = message.tags.get("ban-duration", "")
    if duration.isdigit():
        entry += f" ({int(duration)}s)"
    reason = clean_text(message.tags.get("ban-reason", "")).replace("[", "(").replace("]", ")")
    if reason:
        entry += f" [{reason}]"
    return entry
