"""What the per-minute aggregates count besides labels: the words and emotes of a window, and their top N.

:func:`words` picks the countable words of one chat message (emotes, links, mentions, numbers and stop words
left out; case folded; letter runs squeezed so ``ㅋㅋㅋㅋㅋ`` and ``ㅋㅋㅋ`` count as one word, ``ㅋㅋ``).
:func:`top_counts` ranks the items of many lists. Both are pure; the job runs them in Spark UDFs.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Final

#: Characters stripped from both ends of a word before counting it.
_STRIP: Final = "\"'`.,!?()[]{}:;~…·-_*/\\|<>“”「」『』\u2018\u2019"
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_RUN = re.compile(r"(.)\1{2,}")
_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7af]")
_NUMBER = re.compile(r"[\d.,:%+-]+")

#: Function words that say nothing about a chat's mood (English, and Korean particles/fillers written alone).
_STOP_WORDS_TEXT = """
    a an the and or but if then so to of in on at by for with from as into about is am are was were be been being
    it its it's this that these those there here i i'm im me my mine you you're your yours he she him her his we us
    our they them their what which who whom when where why how do does did done have has had will would can could
    should just not no yes all any some very too also than only own same such more most other up down out off over
    again once get got go going gonna lol
    이 그 저 것 거 수 등 및 또 또는 그리고 근데 그래서 그럼 아 어 음 좀 잘 더 다 왜 뭐 이거 그거 저거
"""
STOP_WORDS: Final[frozenset[str]] = frozenset(_STOP_WORDS_TEXT.split())


def words(text: str | None, emotes: Iterable[str] | None = ()) -> list[str]:
    """The countable words of a chat message, in order (repeats kept).

    A word is a whitespace-separated token without its surrounding punctuation, case-folded, with runs of three or
    more of one character squeezed to two. Left out: the message's emotes (``emotes``, as the parser found them),
    links, ``@mentions``, numbers, stop words (:data:`STOP_WORDS`), tokens without a letter or digit (emoji,
    ``<3``, ``ㅡㅡ`` counts though: Hangul jamo are letters) and one-letter tokens (one Hangul syllable counts:
    ``굿``, ``헐``).
    """
    if not text:
        return []
    skip = set(emotes or ())
    out: list[str] = []
    for token in _URL.sub(" ", text).split():
        if token in skip:
            continue
        bare = token.strip(_STRIP)
        if not bare or bare in skip or bare.startswith("@") or _NUMBER.fullmatch(bare):
            continue
        word = _RUN.sub(r"\1\1", bare.casefold())
        if (word in STOP_WORDS or (len(word) < 2 and not _HANGUL.search(word))
                or not any(ch.isalnum() for ch in word)):  # emoji and symbols are not words
            continue
        out.append(word)
    return out


def top_counts(lists: Iterable[Sequence[str] | None] | None, n: int) -> list[tuple[str, int]]:
    """The ``n`` most frequent items over all ``lists`` as ``(item, count)``; ties go to the item that sorts first,
    so the result does not depend on the order rows arrived in."""
    counts: Counter[str] = Counter()
    for items in () if lists is None else lists:  # a list, or a pandas Series / numpy array of lists
        if items is not None:
            counts.update(item for item in items if item)
    return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))[:n]
