"""Finding emotes (Twitch/BTTV/FFZ/7TV codes, cheermotes, emoji) in a chat message's text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ._data import read_valence_table

#: Twitch cheermote prefixes: a cheer is written as prefix + amount (Cheer100, BibleThump500).
CHEERMOTE_PREFIXES: frozenset[str] = frozenset(
    {
        "Cheer", "DoodleCheer", "BibleThump", "cheerwhal", "Corgo", "Scoops", "uni", "ShowLove", "Party",
        "SeemsGood", "Pride", "Kappa", "FrankerZ", "HeyGuys", "DansGame", "EleGiggle", "TriHard", "Kreygasm",
        "4Head", "SwiftRage", "NotLikeThis", "FailFish", "VoHiYo", "PJSalt", "MrDestructoid", "bday", "RIPCheer",
        "Shamrock", "BitBoss", "Streamlabs", "Muxy", "HolidayCheer", "Goal", "Anon", "Charity",
    }
)
_CHEER_RE = re.compile(r"([A-Za-z4]+?)(\d+)")
#: Channel emotes follow "prefix + Capitalised" (lirikH, xqcL); 3-10 lower-case letters then an upper-case one.
_CHANNEL_EMOTE_RE = re.compile(r"[a-z][a-z0-9]{2,9}[A-Z][A-Za-z0-9]*")
_EMOJI_RE = re.compile(
    "[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b55\u2763\u2764\u2665\u2661\u203c\u2049]"
)
_STRIP = "\"'.,!?()[]{}:;"


@dataclass(frozen=True, slots=True)
class EmoteSet:
    """The known emote codes (case-sensitive, from ``data/emotes.tsv``)."""

    codes: frozenset[str]

    def extract(self, text: str | None) -> list[str]:
        """Emotes in ``text`` in order of appearance (repeats kept): known codes, cheermotes, channel emotes
        (``prefix`` + Capitalised word) and emoji. Punctuation around a word does not hide a known code."""
        if not text:
            return []
        found: list[str] = []
        for word in text.split():
            if word in self.codes:
                found.append(word)
                continue
            bare = word.strip(_STRIP)
            if bare and bare in self.codes:
                found.append(bare)
                continue
            cheer = _CHEER_RE.fullmatch(bare)
            if cheer and cheer.group(1) in CHEERMOTE_PREFIXES:
                found.append(bare)
                continue
            if _CHANNEL_EMOTE_RE.fullmatch(bare):
                found.append(bare)
                continue
            found.extend(m.group(0) for m in _EMOJI_RE.finditer(word))
        return found


@lru_cache(maxsize=1)
def default_emotes() -> EmoteSet:
    """The emote set shipped with the package (loaded once; immutable)."""
    return EmoteSet(frozenset(cols[0] for cols, _ in read_valence_table("emotes.tsv")))


def extract_emotes(text: str | None) -> list[str]:
    """Emotes in ``text`` using the shipped emote set."""
    return default_emotes().extract(text)
