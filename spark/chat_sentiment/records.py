"""The records passed between the pipeline's stages (see ARCHITECTURE.md, "Records between the stages").

Every parser returns, for each input record, either a :class:`ChatEvent` or a :class:`DeadLetter`; nothing is
raised out of a parser and nothing is dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

#: Line kinds of a Chatty log (see ``formats/chatty-log.md``) plus the kinds of other sources.
KINDS: Final[frozenset[str]] = frozenset(
    {
        "message",  # a chat message
        "action",  # a /me action
        "ban",  # BAN: one or more timeouts/bans (merged)
        "deleted",  # DELETED: a deleted message
        "bits",  # BITS: a cheer, written just before the user's message line
        "mod_action",  # MOD_ACTION: a moderator command
        "notification",  # [Notification] subs, resubs, gifts, raids
        "points",  # [Points] channel points redemptions
        "viewerstats",  # Viewerstats (HH:mm-HH:mm): avg/min/max
        "viewers",  # VIEWERS: n
        "mod",  # MOD: nick
        "unmod",  # UNMOD: nick
        "join",  # JOIN: nick
        "part",  # PART: nick
        "system",  # any other plain text line
        "header",  # "# Log started", "# Log closed" and the lone "-" after it
    }
)

#: Only these kinds carry a user's own words and are scored.
SCORED_KINDS: Final[frozenset[str]] = frozenset({"message", "action"})

#: Status symbols of a Chatty FULLNICK, in the documented order, and the role each stands for.
STATUS_ROLES: Final[tuple[tuple[str, str], ...]] = (
    ("~", "broadcaster"),
    ("&", "staff"),
    ("@", "moderator"),
    ("!", "vip"),
    ("%", "subscriber"),
    ("$", "bits"),
    ("+", "turbo"),
    ("^", "bot"),
)


def stable_id(*parts: object) -> str:
    """A stable 24-hex-digit id for a record from the parts that identify it (e.g. path and offset)."""
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()[:24]


@dataclass(slots=True)
class ChatEvent:
    """One parsed chat event.

    ``ts`` is an aware datetime in UTC; it is ``None`` only when the line had no timestamp and the caller gave
    no fallback time. ``user`` is the login (lower-case for Twitch), ``display_name`` the name shown in chat.
    ``badges`` lists the roles from the status symbols in the documented order. ``attrs`` holds the
    kind-specific details (ban entries, bit amounts, viewer numbers, the header's zone, ...).
    """

    id: str
    source: str
    channel: str
    ts: datetime | None
    kind: str
    user: str | None = None
    display_name: str | None = None
    text: str | None = None
    badges: list[str] = field(default_factory=list)
    emotes: list[str] = field(default_factory=list)
    lang: str | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    raw: str | None = None

    @property
    def scored(self) -> bool:
        """Whether this event carries a user's words that the scorers rate."""
        return self.kind in SCORED_KINDS

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``ts`` as ISO 8601 with ``Z``)."""
        return {
            "type": "event",
            "id": self.id,
            "source": self.source,
            "channel": self.channel,
            "ts": format_ts(self.ts),
            "kind": self.kind,
            "user": self.user,
            "display_name": self.display_name,
            "text": self.text,
            "badges": list(self.badges),
            "emotes": list(self.emotes),
            "lang": self.lang,
            "attrs": dict(self.attrs),
        }


@dataclass(slots=True)
class DeadLetter:
    """A record that could not be parsed: the raw record as received, and why."""

    raw: str
    reason: str
    source: str | None = None
    origin: str | None = None  # where it came from, e.g. "path:offset" or "line 12"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "dead_letter", "raw": self.raw, "reason": self.reason, "source": self.source,
                "origin": self.origin}


def format_ts(ts: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix and millisecond precision, or ``None``."""
    if ts is None:
        return None
    text = ts.isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text
