"""The offline lexicon scorer: emotes, emoji, English words and Korean chat language, with negation,
intensifiers and repetition.

How a text is scored
--------------------
1. The text is NFC-normalised (variation selectors dropped, typographic apostrophes made plain) and cut to
   :data:`MAX_SCORED_CHARS`.
2. One regular expression walks the text once, left to right, and yields *items*, each with a valence on VADER's
   -4..+4 scale: Korean lexicon entries (stems matched inside words, longest first, so ``재밌`` covers
   재밌다/재밌는/재밌었고 and ``재미없`` wins over ``재미``; the -ㄴ/-ㄹ, 아/어 and ㅂ-irregular forms a substring
   misses are generated, see :func:`conjugations`; the hand-written ``data/korean.tsv`` plus the small table
   ``data/korean_learned.tsv`` learned from the dev half of the review data, see ``data/README.md``), text
   emoticons (``^^``, ``ㅠ_ㅠ``, ``<3``), runs of ``ㅋ``/``ㅎ`` (laughter, growing with the run) and of ``ㅠ``/``ㅜ``
   (crying), rating mentions (``10점``, ``1점``), Latin-script words (emote codes case-sensitively, then English
   words lower-cased, then with letter runs squeezed: ``soooo`` -> ``so``, ``goooood`` -> ``good``, which also
   boosts them) and emoji. Where a Korean entry and another item could both start, the Korean entry wins.
3. Each item is adjusted by its context:
   - English negation: a negator (not, never, no, ...n't) among the 3 words before flips and damps (x -0.75).
   - Korean negation, by the entry's class (see ``data/korean.tsv``): an adjective/verb is flipped by 안/못 in
     front (안좋다, 안 좋다), by a following -지 않/-지 못/-지도 않/-진 않, by -ㄹ 수 없 (cannot), by the
     counterfactual -었을 텐데/것 and by a following 아니다 (좋은 건 아니다, 좋은 영화는 아니었다); a sentiment
     noun by a following (particle +) 없, 안 되/안 가 or 하지 않 (재미도 없고, 몰입이 안 된다, 감동하지 않았다);
     a neutral noun like 내용 or 개연성 only counts with 없 (-2.0) or 있/많 (+1.0).
   - Intensifiers and dampeners in the 2 words before (very, so, 진짜, 너무, 완전, 좀, ...) and Korean prefixes
     glued to the word (개웃기다, 존잼, 핵노잼) multiply the valence.
   - Emphasis: an ALL-CAPS English word x1.25; a squeezed elongation x1.3.
4. Contrast: after the last "but/however/하지만/그런데/근데/그래도/..." or a word ending in ``-지만``, ``-는데``,
   ``-은데`` or ``-으나``, items weigh 1.5 and items before it 0.5 (what follows the contrast is what counts).
5. Tone marks, once per text: an ellipsis (``..``/``…``, trailing off) -0.25, a run of question marks or a lone
   ``?`` (Twitch chat's "???") -0.6, a tilde (friendly tone) +0.25. The items are summed; each ``!`` (up to 4) then
   adds 0.292 in the direction of the sum, and ``!`` with nothing else scores +0.3 (excitement).
6. The sum ``x`` is normalised into [-1, 1] with ``x / sqrt(x^2 + 15)`` (VADER's tanh-like curve).
7. Labels: ``score >= 0.05`` positive, ``score <= -0.05`` negative, otherwise neutral
   (:data:`POSITIVE_THRESHOLD`, :data:`NEGATIVE_THRESHOLD`).

Speed: the scan uses ``findall`` (no match objects; positions come from ``str.find``, see :meth:`Lexicon.raw_score`),
one dict lookup per Korean match gives its kind and valence, the negation patterns run only when the text has one
of their cue syllables, and contrast weighting keeps a running sum instead of a list of items. The lexicon is
immutable after loading, so one instance serves any number of threads.

Repetition is cumulative: every emote and every lexicon hit counts, so ``KEKW KEKW KEKW`` is stronger than one
``KEKW``, and a ``ㅋ`` run grows with its length.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from ._data import read_tsv, read_valence_table

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
#: VADER's normalisation constant: x / sqrt(x^2 + alpha).
NORMALIZATION_ALPHA = 15.0
#: Longer texts are scored on their first MAX_SCORED_CHARS characters.
MAX_SCORED_CHARS = 10_000
NEGATION_FACTOR = -0.75
EXCLAMATION_INCREMENT = 0.292
MAX_EXCLAMATIONS = 4
CONTRAST_BEFORE = 0.5
CONTRAST_AFTER = 1.5
CAPS_FACTOR = 1.25
ELONGATION_FACTOR = 1.3
#: Runs of ㅋ/ㅎ (laughter) and ㅠ/ㅜ (crying): base valence for one letter, step per extra letter, cap.
LAUGH_BASE, LAUGH_STEP, LAUGH_MAX = 0.3, 0.3, 2.0
CRY_BASE, CRY_STEP, CRY_MAX = 0.3, 0.15, 0.9
#: Tone marks, counted once per text: a trailing-off ellipsis (disappointment, hesitation), a run of question
#: marks or a lone "?" (Twitch chat's "???" = what are you doing), a friendly tilde; "!" with nothing else.
ELLIPSIS_VALENCE = -0.25
QUESTION_RUN_VALENCE = -0.6
TILDE_VALENCE = 0.25
EXCLAMATION_ALONE = 0.3
LACKING_VALENCE = -2.0
HAVING_VALENCE = 1.0

_KO_CLASSES = frozenset("ANLEZ")

# After an adjective/verb stem: -지 않 / -지 못 / -지도 않 / -진 않 (also split over the next word).
_NEG_AFTER_ADJ = re.compile(
    r"[가-힣]{0,2}?(?:지|진)(?:도|는|가|를|조차)?\s*(?:않|안|못)"  # -지 않 / -지 못 / -지도 않 / -진 않
    r"|[가-힣]{0,3}?(?:[ㄹ을할줄])\s?수\s?(?:가|도|는|조차)?\s?없"  # -ㄹ 수 없 (cannot)
    r"|(?:었|았|였)을\s?(?:텐데|것|걸|듯)"  # -었을 텐데 (would have been: it was not)
    r"|[가-힣]?\s?(?:건|게|거|것[은이도]?)\s?(?:아니|아냐|아님)"  # 좋은 건 아니다 (it is not that it is good)
    r"|[가-힣]?\s[가-힣]{1,4}[은는이가]\s?(?:아니|아냐|아님)"  # 좋은 영화는 아니었다
)
_FILLER = r"(?:(?:하나도|전혀|별로|1도|일도|진짜|정말|너무|완전|아무|좀|딱히|그다지|그리|별|디게|되게|참|넘)\s*)?"
_PARTICLE = r"(?:이|가|은|는|도|만|을|를|조차|라곤|이라곤|따윈|라고는|이라고는|이란|란)?"
# After a noun: (particle) 없 / 안 되 / 못 하.
_NEG_AFTER_NOUN = re.compile(
    _PARTICLE + r"\s*" + _FILLER
    + r"(?:없|[안않]\s?[되돼됐됨된가간갔]|못\s?[하해했느]|(?:하|스럽|시키|되)?지(?:도|는)?\s?(?:않|못))"
)
_HAVE_AFTER_NOUN = re.compile(_PARTICLE + r"\s*" + _FILLER + r"(?:(?P<lack>없)|있|많|넘치|가득)")
# Only a text with one of these can hold a negation after a stem (-지 않/못, 안 되, -ㄹ 수 없, -었을 텐데, 아니다).
_NEG_CUE = re.compile("[않안못없을아]")
# Kinds in Lexicon.ko_table: Korean entries by class, then the Korean whole-word modifiers.
_KIND_ADJ, _KIND_NOUN, _KIND_LACK, _KIND_EXPR, _KIND_GUARD = range(5)
_KIND_BOOST, _KIND_NEG, _KIND_CONTRAST, _KIND_CONTRAST_SUFFIX = range(5, 9)
_CLASS_KINDS = {"A": _KIND_ADJ, "N": _KIND_NOUN, "L": _KIND_LACK, "E": _KIND_EXPR, "Z": _KIND_GUARD}
_MODIFIER_KINDS = {"boost": _KIND_BOOST, "neg_ko": _KIND_NEG, "contrast": _KIND_CONTRAST,
                   "contrast_suffix": _KIND_CONTRAST_SUFFIX}
_SQUEEZE2 = re.compile(r"(.)\1{2,}")
_SQUEEZE1 = re.compile(r"(.)\1+")
_WHITESPACE = re.compile(r"\s")
_HANGUL_OR_JAMO = re.compile("[가-힣ㄱ-ㅎㅏ-ㅣ]")
# characters _prepare changes: whitespace other than " ", variation selectors, typographic apostrophes, and
# anything that NFC may compose (conjoining Hangul jamo, combining marks)
_SPECIAL = re.compile("[\t\n\r\x0b\x0c\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
                      "\ufe0e\ufe0f\u2019\u1100-\u11ff\ud7b0-\ud7ff\u0300-\u036f\u3099\u309a]")
_WORD_END = frozenset(" ,.!?~…;:)\"'ㅋㅎㅠㅜ^")

_EMOJI_CLASS = "[\U0001f300-\U0001faff\u2600-\u27bf\u2b50\u2b55\u2763\u2764\u2665\u2661]"


def trie_pattern(words: Iterable[str], space_marker: str | None = None, bucket: int = 32) -> str:
    """A regular expression matching any of ``words``, built as a trie so that the longest word starting at a
    position wins. ``space_marker`` inside a word stands for optional whitespace.

    Python's regex engine tries the alternatives of a group one by one, so a top level with hundreds of first
    characters is slow; it is split into buckets of ``bucket`` first characters, each behind a character-class
    lookahead, and the whole is guarded by the class of all first characters."""
    root: dict[str, dict] = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}

    def atom(ch: str) -> str:
        return r"\s*" if space_marker is not None and ch == space_marker else re.escape(ch)

    def build(node: dict[str, dict]) -> str:
        ends = "" in node
        alts = [atom(ch) + build(node[ch]) for ch in sorted(k for k in node if k)]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        if ends:
            return "(?:" + body + ")?" if len(alts) > 1 or len(alts[0]) > 1 else body + "?"
        return body

    firsts = sorted(k for k in root if k)
    if len(firsts) <= bucket or (space_marker is not None and space_marker in root):
        return build(root)
    groups = []
    for i in range(0, len(firsts), bucket):
        chunk = firsts[i:i + bucket]
        cls = "[" + "".join(re.escape(c) for c in chunk) + "]"
        groups.append("(?=" + cls + ")" + build({c: root[c] for c in chunk}))
    guard = "[" + "".join(re.escape(c) for c in firsts) + "]"
    return "(?=" + guard + ")(?:" + "|".join(groups) + ")"


_HANGUL_BASE = 0xAC00
_FINAL_N, _FINAL_L, _FINAL_B = 4, 8, 17
# last syllable of a stem -> its 아/어 form (하 -> 해, 지 -> 져, 리 -> 려, 프 -> 퍼, 쁘 -> 뻐)
_AO_FORMS = {"하": "해", "지": "져", "리": "려", "프": "퍼", "쁘": "뻐"}


def _syllable(initial_medial: int, final: int) -> str:
    return chr(_HANGUL_BASE + initial_medial * 28 + final)


def conjugations(stem: str) -> list[str]:
    """Forms of an adjective/verb stem that a substring match of the stem misses: the -ㄴ/-ㄹ forms of a stem
    ending in a vowel (떨어지 -> 떨어진, 떨어질), the 아/어 forms (떨어져, 떨어졌; 심해, 심했) and the ㅂ-irregular
    forms (흥미롭 -> 흥미로운, 흥미로워, 흥미로웠). Stems whose root is matched anyway (지루 in 지루한) need none."""
    if not stem or not "가" <= stem[-1] <= "힣":
        return []
    head, last = stem[:-1], stem[-1]
    code = ord(last) - _HANGUL_BASE
    initial_medial, final = divmod(code, 28)
    forms: list[str] = []
    if final == 0:
        forms += [head + _syllable(initial_medial, _FINAL_N), head + _syllable(initial_medial, _FINAL_L)]
        ao = _AO_FORMS.get(last)
        if ao:
            ao_code = ord(ao) - _HANGUL_BASE
            forms += [head + ao, head + chr(_HANGUL_BASE + ao_code - ao_code % 28 + 20)]  # 20 = final ㅆ
    elif final == _FINAL_B:
        base = head + _syllable(initial_medial, 0)
        forms += [base + "운", base + "워", base + "웠"]
    return forms


@dataclass(frozen=True, slots=True)
class KoEntry:
    valence: float
    cls: str  # A adjective/verb, N noun, L neutral noun (with 없/있), E expression, Z neutral guard


@dataclass(frozen=True)
class Lexicon:
    """The word lists of the lexicon scorer. Build it with :func:`default_lexicon` (or :meth:`load`).
    Its dicts are filled once while loading and only read afterwards."""

    words: dict[str, float]  # lower-cased English words, VADER entries and lower-cased emote codes
    exact: dict[str, float]  # case-sensitive: emote codes, exact slang (W, L), emoji, text emoticons
    korean: dict[str, KoEntry]  # key: entry with the space marker removed
    # whole-word modifiers (Korean ones matched in pass 1, English ones lower-cased in pass 2; n't spelled out):
    # word -> (kind, factor) with kind "boost" (boosters and dampeners), "neg_en", "neg_ko" or "contrast"
    modifiers: dict[str, tuple[str, float]]
    prefixes_ko: tuple[tuple[str, float], ...]
    prefix_tuple: tuple[str, ...]
    korean_pattern: re.Pattern[str] = field(repr=False)  # Korean entries and Korean modifiers
    other_pattern: re.Pattern[str] = field(repr=False)  # everything else
    # what korean_pattern matches (spaces removed) -> (kind, valence or factor): one lookup per match in the hot
    # loop; a Korean modifier wins over an entry spelled the same
    ko_table: dict[str, tuple[int, float]] = field(init=False, repr=False)
    pattern: re.Pattern[str] = field(init=False, repr=False)  # korean_pattern | other_pattern

    def __post_init__(self) -> None:
        table = {key: (_CLASS_KINDS[entry.cls], entry.valence) for key, entry in self.korean.items()}
        for word, (kind, factor) in self.modifiers.items():
            if kind in _MODIFIER_KINDS and _HANGUL_OR_JAMO.search(word):
                table[word] = (_MODIFIER_KINDS[kind], factor)
        object.__setattr__(self, "ko_table", table)
        # one scan per text: the Korean trie first (it wins where both could match), then everything else
        object.__setattr__(self, "pattern", re.compile(f"{self.korean_pattern.pattern}|{self.other_pattern.pattern}"))

    @classmethod
    def load(cls, learned: bool = True) -> Lexicon:
        """Read the data files; ``learned=False`` leaves out ``korean_learned.tsv`` (used when re-deriving it)."""
        words: dict[str, float] = {}
        exact: dict[str, float] = {}
        vader_emoticons: dict[str, float] = {}
        for cols, valence in read_valence_table("vader_lexicon.tsv"):
            token = cols[0]
            if re.fullmatch(r"[a-z][a-z0-9']*", token):
                words[token] = valence
            else:
                vader_emoticons[token] = valence
        own_emoticons: set[str] = set()
        for cols, valence in read_valence_table("emotes.tsv"):
            code = cols[0]
            exact[code] = valence
            words.setdefault(code.lower(), valence)
            if not re.fullmatch(r"[A-Za-z0-9]+", code):
                own_emoticons.add(code)
        for cols, valence in read_valence_table("emoji.tsv"):
            exact[cols[0]] = valence
            if len(cols[0]) > 1:
                own_emoticons.add(cols[0])
        for cols, valence in read_valence_table("english.tsv", min_columns=3):
            if cols[2].strip() == "exact":
                exact[cols[0]] = valence
            else:
                words[cols[0].lower()] = valence
        korean: dict[str, KoEntry] = {}
        ko_entries: list[str] = []
        for cols, valence in read_valence_table("korean.tsv", min_columns=3):
            ko_class = cols[2].strip()
            if ko_class not in _KO_CLASSES:
                raise ValueError(f"korean.tsv: entry {cols[0]!r} has unknown class {ko_class!r}")
            korean[cols[0].replace("_", "")] = KoEntry(valence, ko_class)
            ko_entries.append(cols[0])
        for stem, entry in list(korean.items()):
            if entry.cls == "A":
                for form in conjugations(stem):
                    if form not in korean:
                        korean[form] = entry
                        ko_entries.append(form)
        if learned:  # learned from the dev half of the review data; the hand-written entries win
            for cols, valence in read_valence_table("korean_learned.tsv"):
                if cols[0] not in korean:
                    korean[cols[0]] = KoEntry(valence, "E")
                    ko_entries.append(cols[0])
        modifiers: dict[str, tuple[str, float]] = {}
        ko_modifiers: list[str] = []
        prefixes: list[tuple[str, float]] = []
        kinds = {"booster": "boost", "dampener": "boost", "negator": "neg", "contrast": "contrast",
                 "contrast_suffix": "contrast_suffix"}
        for number, cols in read_tsv("modifiers.tsv"):
            if len(cols) < 4:
                raise ValueError(f"modifiers.tsv:{number}: expected 4 columns, got {cols!r}")
            kind, lang, word, factor = cols[0], cols[1], cols[2].lower(), float(cols[3])
            if kind == "prefix":
                prefixes.append((word, factor))
                continue
            if kind not in kinds or lang not in ("en", "ko"):
                raise ValueError(f"modifiers.tsv:{number}: unknown kind/lang {kind!r}/{lang!r}")
            tag = kinds[kind] + ("_" + lang if kind == "negator" else "")
            forms = {word}
            if lang == "en" and kind == "negator" and word.endswith("nt") and word != "cannot":
                forms.add(word[:-2] + "n't")  # dont -> don't, cant -> can't, wont -> won't
            for form in forms:
                modifiers[form] = (tag, factor)
                if lang == "ko":
                    ko_modifiers.append(form)
        # Emoticons made only of Hangul jamo (ㅡㅡ) are Korean entries; the rest are matched case-sensitively,
        # VADER's in their lower-case and upper-case forms.
        own_emoticons = {e for e in own_emoticons if not re.fullmatch(r"[가-힣ㄱ-ㅎㅏ-ㅣ]+", e)}
        for token, valence in vader_emoticons.items():
            for form in (token, token.upper()):
                if form not in exact and not re.fullmatch(r"[A-Za-z0-9']+", form):
                    exact[form] = valence
                    own_emoticons.add(form)
        # Everything but Hangul goes through one pattern, guarded so Hangul and spaces are skipped fast.
        other = "|".join(
            [
                "(?:" + trie_pattern(own_emoticons) + r")(?![A-Za-z0-9])",  # text emoticons
                r"[ㅋㅎ]+",  # laughter
                r"[ㅠㅜ]+",  # crying
                r"\d{1,2} ?점(?![수대짜])",  # rating mention
                r"[A-Za-z][A-Za-z0-9_']*|\d+[A-Za-z][A-Za-z0-9_']*",  # Latin-script word, emote code (4Head)
                _EMOJI_CLASS,
                r"!+",
            ]
        )
        return cls(
            words=words,
            exact=exact,
            korean=korean,
            modifiers=modifiers,
            prefixes_ko=tuple(sorted(prefixes, key=lambda p: len(p[0]), reverse=True)),
            prefix_tuple=tuple(p for p, _ in prefixes),
            korean_pattern=re.compile(trie_pattern([*ko_entries, *ko_modifiers], space_marker="_", bucket=64)),
            other_pattern=re.compile(r"(?=[^가-힣\s])(?:" + other + ")"),
        )

    # ------------------------------------------------------------------ scoring
    def raw_score(self, text: str, trace: list[tuple[str, float]] | None = None) -> float:
        """The summed valence of ``text`` before normalisation. ``trace`` (if given) receives
        ``(matched text, final valence)`` per item, for explaining a score."""
        if not text:
            return 0.0
        text = _prepare(text)
        n = len(text)
        # One left-to-right pass over the matches of the combined pattern. A modifier is recorded by the start of
        # its word before the items after it are read. findall + str.find instead of match objects: a match is
        # the first occurrence of its text at or after the end of the previous match, since the pattern matches
        # wherever its text occurs -- except text emoticons and ratings, whose lookaheads can refuse an earlier
        # occurrence; their position is checked with pattern.match.
        # modifiers by the start of their word; created on first use (most messages have none)
        boosts: dict[int, float] | None = None
        scored_words: set[int] = set()  # a booster applies to the first item of the word after it only
        negators_en: set[int] | None = None
        negators_ko: set[int] | None = None
        marker = -1  # where the last contrast starts; items come in text order, so all items so far are before it
        before = 0.0  # the sum of the items before the marker
        total = 0.0
        scored = False  # whether any item was found
        exclamations = 0
        ko_table = self.ko_table
        exact = self.exact
        words = self.words
        neg_cue: bool | None = None  # whether the text has any of 않/안/못/없/을 at all (computed when needed)
        find = text.find
        lookup = ko_table.get
        word_end = _WORD_END
        end = 0
        for token in self.pattern.findall(text):
            start = find(token, end)
            info = lookup(token)
            if info is None and " " in token:
                info = lookup("".join(token.split()))
            if info is not None:  # ------------------------------------------------------------- Korean
                end = start + len(token)
                kind, value = info
                if kind >= _KIND_BOOST:  # a modifier: whole words only
                    if end < n and text[end] not in word_end:
                        continue
                    if kind == _KIND_CONTRAST_SUFFIX:  # ...지만
                        marker, before = end, total
                    elif start and text[start - 1] != " ":
                        continue
                    elif kind == _KIND_BOOST:
                        if boosts is None:
                            boosts = {}
                        boosts[start] = value
                    elif kind == _KIND_NEG:
                        if negators_ko is None:
                            negators_ko = set()
                        negators_ko.add(start)
                    else:
                        marker, before = start, total
                    continue
                glued = start > 0 and text[start - 1] != " "  # something glued in front: prefix, 안/못, a noun
                if kind == _KIND_EXPR:  # the most common kind: no negation handling
                    pass
                elif kind == _KIND_GUARD:
                    continue
                elif kind == _KIND_ADJ:  # 안/못 in front, or -지 않 / -ㄹ 수 없 / -었을 텐데 after (this or next word)
                    if glued:
                        negate = text[start - 1] in "안못"
                    else:
                        negate = negators_ko is not None and start > 0 and _prev_start(text, start) in negators_ko
                    if not negate:
                        if neg_cue is None:
                            neg_cue = _NEG_CUE.search(text) is not None
                        negate = neg_cue and _NEG_AFTER_ADJ.match(text, end, end + 24) is not None
                    if negate:
                        value *= NEGATION_FACTOR
                elif kind == _KIND_NOUN:  # (particle) 없 / 안 되 / 하지 않 after
                    if neg_cue is None:
                        neg_cue = _NEG_CUE.search(text) is not None
                    if neg_cue and _NEG_AFTER_NOUN.match(text, end, end + 32) is not None:
                        value *= NEGATION_FACTOR
                elif kind == _KIND_LACK:  # counts only with (particle) 없 / 있
                    have = _HAVE_AFTER_NOUN.match(text, end, end + 32)
                    if have is None:
                        continue
                    value = LACKING_VALENCE if have.group("lack") else HAVING_VALENCE
                if glued and text.endswith(self.prefix_tuple, 0, start):
                    for prefix, factor in self.prefixes_ko:
                        if text.endswith(prefix, 0, start):
                            value *= factor
                            break
                ws = -1 if glued else start  # the start of the word, found when a booster needs it
            else:  # ------------------------------------------------------------------------ everything else
                first = token[0]
                if not (first.isalnum() or first == "!") or token[-1] == "점":
                    match = self.pattern.match
                    while (m := match(text, start)) is None or m.group() != token:
                        start = find(token, start + 1)
                end = start + len(token)
                ws = -1
                if token in exact:
                    value = exact[token]
                    if value == 0.0:
                        continue
                elif first == "!":
                    exclamations += len(token)
                    continue
                elif first in "ㅋㅎ":
                    value = min(LAUGH_BASE + LAUGH_STEP * (len(token) - 1), LAUGH_MAX)
                elif first in "ㅠㅜ":
                    value = -min(CRY_BASE + CRY_STEP * (len(token) - 1), CRY_MAX)
                elif token[-1] == "점":
                    points = int(token[:-1])
                    if points >= 9:
                        value = 2.0 if points == 10 else 1.5
                    elif points <= 4:
                        value = -2.0 if points <= 2 else -1.5
                    else:
                        continue
                else:
                    low = token.lower()
                    mod = self.modifiers.get(low)
                    if mod is not None or low.endswith("n't"):  # an English modifier, for the words after it
                        ws = text.rfind(" ", 0, start) + 1
                        tag = mod[0] if mod is not None else "neg_en"
                        if tag == "boost":
                            if boosts is None:
                                boosts = {}
                            boosts[ws] = mod[1]  # type: ignore[index]
                        elif tag == "neg_en":
                            if negators_en is None:
                                negators_en = set()
                            negators_en.add(ws)
                        elif tag == "contrast":
                            marker, before = ws, total
                        continue
                    value = words.get(low)
                    if value is None:
                        if not _SQUEEZE2.search(low):
                            continue
                        value = words.get(_SQUEEZE2.sub(r"\1\1", low))
                        if value is None:
                            value = words.get(_SQUEEZE1.sub(r"\1", low))
                            if value is None:
                                continue
                        value *= ELONGATION_FACTOR
                    if value == 0.0:
                        continue
                    if len(token) > 1 and token.isupper():
                        value *= CAPS_FACTOR
                    if negators_en is not None:
                        ws = text.rfind(" ", 0, start) + 1
                        if _negated(text, ws, negators_en):
                            value *= NEGATION_FACTOR
            if boosts is not None:
                if ws < 0:
                    ws = text.rfind(" ", 0, start) + 1
                if ws not in scored_words:
                    scored_words.add(ws)
                    value = _boost(text, ws, value, boosts)
            total += value
            scored = True
            if trace is not None:
                trace.append((token, value))

        tone = 0.0
        if ".." in text or "…" in text:
            tone += ELLIPSIS_VALENCE
        if "?" in text and ("??" in text or text.strip() == "?"):
            tone += QUESTION_RUN_VALENCE
        if "~" in text:
            tone += TILDE_VALENCE
        if tone:
            total += tone
            scored = True
            if trace is not None:
                trace.append(("<tone marks>", tone))
        if not scored:
            return EXCLAMATION_ALONE if exclamations else 0.0
        if marker >= 0:
            total = before * CONTRAST_BEFORE + (total - before) * CONTRAST_AFTER
        if exclamations and total:
            total += math.copysign(EXCLAMATION_INCREMENT * min(exclamations, MAX_EXCLAMATIONS), total)
        return total

    def score(self, text: str) -> float:
        """The normalised score of ``text`` in [-1, 1]."""
        return normalize(self.raw_score(text))


def _prepare(text: str) -> str:
    """Cut to MAX_SCORED_CHARS, NFC-normalise, make every whitespace a plain space, drop variation selectors
    and make typographic apostrophes plain."""
    if len(text) > MAX_SCORED_CHARS:
        text = text[:MAX_SCORED_CHARS]
    if _SPECIAL.search(text) is None:  # one scan for the common case: nothing to fix
        return text
    if not unicodedata.is_normalized("NFC", text):
        text = unicodedata.normalize("NFC", text)
    text = text.replace("\ufe0f", "").replace("\ufe0e", "").replace("\u2019", "'")
    return _WHITESPACE.sub(" ", text)


def _prev_start(text: str, ws: int) -> int:
    """Start of the word before the word starting at ``ws`` (> 0); the slice [result:ws] includes the spaces."""
    return text[:ws].rstrip(" ").rfind(" ") + 1


def _boost(text: str, ws: int, value: float, boosts: dict[int, float]) -> float:
    """Apply the boosters/dampeners among the 2 words before the word starting at ``ws`` (the farther one at
    80 % strength)."""
    if ws == 0:
        return value
    prev = _prev_start(text, ws)
    factor = boosts.get(prev)
    if factor is not None:
        value *= factor
    if prev > 0:
        factor = boosts.get(_prev_start(text, prev))
        if factor is not None:
            value *= 1.0 + (factor - 1.0) * 0.8
    return value


def _negated(text: str, ws: int, negators: set[int]) -> bool:
    """Whether one of the 3 words before the word starting at ``ws`` is an English negator."""
    for _ in range(3):
        if ws == 0:
            return False
        ws = _prev_start(text, ws)
        if ws in negators:
            return True
    return False


def normalize(total: float, alpha: float = NORMALIZATION_ALPHA) -> float:
    """Map a summed valence into [-1, 1]: ``x / sqrt(x^2 + alpha)``."""
    if total == 0.0:
        return 0.0
    value = total / math.sqrt(total * total + alpha)
    return max(-1.0, min(1.0, value))


def label_for(score: float) -> str:
    """positive if score >= 0.05, negative if score <= -0.05, neutral otherwise."""
    if score >= POSITIVE_THRESHOLD:
        return "positive"
    if score <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """The lexicon shipped with the package, loaded once (it is never modified after loading)."""
    return Lexicon.load()
