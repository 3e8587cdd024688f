"""Twitch IRC lines: IRCv3 tags, prefix, command and parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

_TAG_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_TAG_ESCAPES = {";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"}


class IrcParseError(ValueError):
    """A line that is not an IRC message; the message names the line."""


def unescape_tag_value(value: str) -> str:
    """Undo IRCv3 tag escaping (``\\s`` space, ``\\:`` semicolon, ``\\\\``, ``\\r``, ``\\n``).

    An unknown escape keeps the escaped character and a lone trailing backslash is dropped, as the spec says.
    """
    out: list[str] = []
    index = 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            if index + 1 < len(value):
                following = value[index + 1]
                out.append(_TAG_UNESCAPES.get(following, following))
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    """IRCv3 tag escaping, the inverse of :func:`unescape_tag_value`."""
    return "".join(_TAG_ESCAPES.get(char, char) for char in value)


@dataclass
class IrcMessage:
    """One IRC message. ``params`` holds the middle parameters and the trailing one last."""

    command: str
    params: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str | None = None

    @property
    def nick(self) -> str | None:
        """The nick of a ``nick!user@host`` prefix (None for a server prefix or none)."""
        if not self.prefix or "!" not in self.prefix:
            return None
        return self.prefix.split("!", 1)[0]

    def param(self, index: int, default: str = "") -> str:
        return self.params[index] if len(self.params) > index else default


def parse_message(line: str) -> IrcMessage:
    """Parse one IRC line (with or without its CRLF). Raises :class:`IrcParseError` naming the line."""
    rest = line.rstrip("\r\n")
    tags: dict[str, str] = {}
    if rest.startswith("@"):
        raw_tags, separator, rest = rest[1:].partition(" ")
        if not separator:
            raise IrcParseError(f"IRC line has tags but no command: {line[:200]!r}")
        for item in raw_tags.split(";"):
            if item:
                key, _, value = item.partition("=")
                tags[key] = unescape_tag_value(value)
        rest = rest.lstrip(" ")
    prefix: str | None = None
    if rest.startswith(":"):
        prefix, _, rest = rest[1:].partition(" ")
        rest = rest.lstrip(" ")
    command, _, rest = rest.partition(" ")
    if not command or not (command.isalpha() or (command.isdigit() and len(command) == 3)):
        raise IrcParseError(f"IRC line without a valid command: {line[:200]!r}")
    params: list[str] = []
    rest = rest.lstrip(" ")
    while rest:
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        param, _, rest = rest.partition(" ")
        params.append(param)
        rest = rest.lstrip(" ")
    return IrcMessage(command=command.upper(), params=params, tags=tags, prefix=prefix)


def format_message(command: str, *params: str, tags: dict[str, str] | None = None,
                   prefix: str | None = None) -> str:
    """One IRC line without CRLF; the last parameter is sent as trailing when it needs to be."""
    parts: list[str] = []
    if tags:
        parts.append("@" + ";".join(f"{key}={escape_tag_value(value)}" for key, value in tags.items()))
    if prefix:
        parts.append(f":{prefix}")
    parts.append(command)
    for index, param in enumerate(params):
        last = index == len(params) - 1
        if last and (not param or " " in param or param.startswith(":")):
            parts.append(f":{param}")
        else:
            if " " in param or not param:
                raise ValueError(f"IRC middle parameter {param!r} of {command} is empty or has a space")
            parts.append(param)
    return " ".join(parts)
