"""The scorers: lexicon behaviour (negation, intensifiers, repetition, chat language) and the shared interface."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import sys
import types
from typing import ClassVar

import pytest
from chat_sentiment.lexicon import (
    NEGATIVE_THRESHOLD,
    POSITIVE_THRESHOLD,
    conjugations,
    default_lexicon,
    label_for,
    normalize,
    trie_pattern,
)
from chat_sentiment.scorers import (
    LexiconScorer,
    Score,
    Scorer,
    ScorerUnavailable,
    get_scorer,
    label_values,
    scores_from_probabilities,
    softmax,
)


@pytest.fixture(scope="module")
def scorer() -> LexiconScorer:
    return LexiconScorer()


def score(scorer: LexiconScorer, text: str) -> float:
    return scorer.score_text(text).score


@pytest.mark.parametrize(
    "text",
    ["PogChamp", "POGGERS", "KEKW", "LUL", "OMEGALUL", "catJAM", "peepoHappy", "FeelsGoodMan", "<3", "ㅋㅋㅋ",
     "ㅎㅎ", "개꿀", "꿀잼", "ㄱㅇㄷ", "레전드", "미쳤다", "재밌다", "최고", "감동", "😂", "❤️", "👍", "gg",
     "W", "that was insane", "재미있었어요", "강추합니다", "^^", "진짜 재밌음",
     "ResidentSleeper 였는데 이제 PogChamp PogChamp"],
)
def test_positive(scorer: LexiconScorer, text: str) -> None:
    result = scorer.score_text(text)
    assert result.label == "positive" and result.score >= POSITIVE_THRESHOLD, (text, result)


@pytest.mark.parametrize(
    "text",
    ["ResidentSleeper", "PepeHands", "Sadge", "BibleThump", "NotLikeThis", "WutFace", "monkaS", "FeelsBadMan",
     "ㅠㅠ", "ㅜㅜ", "노잼", "극혐", "에바", "최악", "지루하다", "별로", "돈 아깝다", "쓰레기", "재미없다",
     "😡", "👎", "L", "boring", "this is trash", "ㅡㅡ", "-_-"],
)
def test_negative(scorer: LexiconScorer, text: str) -> None:
    result = scorer.score_text(text)
    assert result.label == "negative" and result.score <= NEGATIVE_THRESHOLD, (text, result)


@pytest.mark.parametrize(
    "text", ["", "   ", "Kappa", "12345", "안녕하세요", "the stream starts at 9", "see you tomorrow"]
)
def test_neutral(scorer: LexiconScorer, text: str) -> None:
    assert scorer.score_text(text) == Score("neutral", 0.0)


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("good", "not good"),
        ("good", "this is not very good"),
        ("I like it", "I don't like it"),
        ("great stream", "never a great stream"),
        ("재밌다", "안 재밌다"),
        ("재밌다", "안재밌다"),
        ("재밌다", "재밌지 않다"),
        ("재밌다", "재밌지도 않다"),
        ("좋아", "좋지 못해"),
        ("좋다", "안좋다"),
        ("재미있다", "재미는 하나도 없다"),
        ("감동적", "감동이 없다"),
        ("몰입된다", "몰입이 안 된다"),
        ("나쁘다", "나쁘지 않다"),
        ("bad", "not bad"),
        ("지루하다", "지루하지 않다"),
    ],
)
def test_negation_flips_the_sign(scorer: LexiconScorer, plain: str, negated: str) -> None:
    a, b = score(scorer, plain), score(scorer, negated)
    assert a != 0 and b != 0 and (a > 0) != (b > 0), (plain, a, negated, b)


@pytest.mark.parametrize(
    ("plain", "intense"),
    [
        ("good", "very good"),
        ("good", "so good"),
        ("good", "soooo good"),
        ("bad", "extremely bad"),
        ("재밌다", "진짜 재밌다"),
        ("재밌다", "너무 재밌다"),
        ("재밌다", "완전 재밌다"),
        ("재밌다", "개재밌다"),
        ("좋아", "존좋아"),
        ("지루하다", "너무 지루하다"),
        ("웃기다", "개웃기다"),
        ("ㅋㅋ", "ㅋㅋㅋㅋㅋㅋ"),
        ("ㅠ", "ㅠㅠㅠㅠ"),
        ("KEKW", "KEKW KEKW KEKW"),
        ("nice", "nice!!!"),
        ("good", "goooood"),
        ("PogChamp", "PogChamp PogChamp"),
    ],
)
def test_intensifiers_and_repetition_increase_magnitude(scorer: LexiconScorer, plain: str, intense: str) -> None:
    a, b = score(scorer, plain), score(scorer, intense)
    assert a != 0 and abs(b) > abs(a) and (a > 0) == (b > 0), (plain, a, intense, b)


def test_dampeners_decrease_magnitude(scorer: LexiconScorer) -> None:
    assert 0 < score(scorer, "좀 지루하다") * -1 < -score(scorer, "지루하다")
    assert 0 < score(scorer, "kinda good") < score(scorer, "good")


def test_kappa_is_neutral_but_does_not_hide_other_words(scorer: LexiconScorer) -> None:
    assert score(scorer, "Kappa") == 0.0
    assert score(scorer, "great play Kappa") == score(scorer, "great play")


def test_contrast_weighs_what_comes_after(scorer: LexiconScorer) -> None:
    assert score(scorer, "the start was good but the ending was terrible") < 0
    assert score(scorer, "연기는 별로지만 스토리는 최고") > 0
    assert score(scorer, "초반은 재밌었지만 결말이 최악") < 0


def test_korean_stems_cover_conjugations(scorer: LexiconScorer) -> None:
    for text in ["재밌다", "재밌는", "재밌었고", "재미있어요", "좋았다", "좋은", "아름다운", "귀여워", "흥미로운"]:
        assert score(scorer, text) > 0, text
    for text in ["지루했다", "지루한", "아까운", "아까웠다", "떨어진다", "유치해", "실망스러운"]:
        assert score(scorer, text) < 0, text


def test_neutral_guards_keep_longer_words_apart(scorer: LexiconScorer) -> None:
    assert score(scorer, "아파트") == 0.0  # not 아프
    assert score(scorer, "유치원") == 0.0  # not 유치
    assert score(scorer, "안개같은") == 0.0  # not 개같
    assert score(scorer, "개연성 없음") < 0  # neutral noun + 없 = lacking


def test_mixed_script_chat(scorer: LexiconScorer) -> None:
    assert score(scorer, "ㅋㅋㅋㅋㅋ KEKW") > score(scorer, "KEKW") > 0
    assert score(scorer, "PogChamp that was insane") > 0.5
    assert score(scorer, "방송 노잼 ResidentSleeper") < -0.5


def test_scores_stay_in_range_on_extreme_input(scorer: LexiconScorer) -> None:
    for text in ["PogChamp " * 5000, "ResidentSleeper " * 5000, "ㅋ" * 100000, "!" * 1000, "x" * (1 << 20),
                 "😂" * 3000, "좋" * 20000, "\x00\ufffd" * 10]:
        result = scorer.score_text(text)
        assert -1.0 <= result.score <= 1.0 and result.label == label_for(result.score)


def test_score_batch_keeps_order_and_length(scorer: LexiconScorer) -> None:
    texts = ["PogChamp", "", "ResidentSleeper", "Kappa", "ㅋㅋㅋ"]
    results = scorer.score_batch(texts)
    assert [r.label for r in results] == ["positive", "neutral", "negative", "neutral", "positive"]
    assert results == [scorer.score_text(t) for t in texts]


def test_labels_follow_the_documented_thresholds() -> None:
    assert (POSITIVE_THRESHOLD, NEGATIVE_THRESHOLD) == (0.05, -0.05)
    assert label_for(0.05) == "positive" and label_for(0.0499) == "neutral"
    assert label_for(-0.05) == "negative" and label_for(-0.0499) == "neutral"


def test_normalize_is_monotonic_and_bounded() -> None:
    values = [normalize(x) for x in (-1000.0, -4.0, -0.3, 0.0, 0.3, 4.0, 1000.0)]
    assert values == sorted(values) and values[3] == 0.0
    assert all(-1.0 <= v <= 1.0 for v in values)


def test_trie_pattern_prefers_the_longest_entry() -> None:
    words = ["재미", "재미없", "노잼", "말도_안_되"] + [chr(0xAC00 + i) + "x" for i in range(100)]
    pattern = re.compile(trie_pattern(words, space_marker="_"))
    assert [m.group() for m in pattern.finditer("재미없고 노잼 말도 안 되는")] == ["재미없", "노잼", "말도 안 되"]


def test_conjugations() -> None:
    assert conjugations("떨어지") == ["떨어진", "떨어질", "떨어져", "떨어졌"]
    assert conjugations("흥미롭") == ["흥미로운", "흥미로워", "흥미로웠"]
    assert conjugations("좋") == [] and conjugations("abc") == []


def test_lexicon_loads_once_and_is_shared() -> None:
    assert default_lexicon() is default_lexicon()
    assert LexiconScorer().lexicon is default_lexicon()


# ------------------------------------------------------------------------------------------ the interface


def test_get_scorer() -> None:
    lexicon = get_scorer("lexicon")
    assert isinstance(lexicon, Scorer) and lexicon.name == "lexicon"
    with pytest.raises(ValueError, match="unknown scorer 'vader'"):
        get_scorer("vader")


def test_transformers_scorer_reports_missing_dependencies_or_model() -> None:
    if importlib.util.find_spec("transformers") is None or importlib.util.find_spec("torch") is None:
        with pytest.raises(ScorerUnavailable, match="pip install 'chat-sentiment\\[transformers\\]'"):
            get_scorer("transformers", model="/nonexistent/model")
    else:
        with pytest.raises(ScorerUnavailable, match="/nonexistent/model"):
            get_scorer("transformers", model="/nonexistent/model", local_files_only=True)


@pytest.mark.parametrize(
    ("id2label", "values"),
    [
        ({0: "negative", 1: "neutral", 2: "positive"}, [-1.0, 0.0, 1.0]),
        ({"0": "Negative", "1": "Positive"}, [-1.0, 1.0]),
        ({0: "POS", 1: "NEG", 2: "NEU"}, [1.0, -1.0, 0.0]),
        ({0: "LABEL_0", 1: "LABEL_1"}, [-1.0, 1.0]),
        ({0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2"}, [-1.0, 0.0, 1.0]),
        ({0: "1 star", 1: "2 stars", 2: "3 stars", 3: "4 stars", 4: "5 stars"}, [-1.0, -0.5, 0.0, 0.5, 1.0]),
    ],
)
def test_label_values_from_model_configs(id2label: dict, values: list[float]) -> None:
    assert label_values(id2label) == values


@pytest.mark.parametrize("id2label", [{0: "joy", 1: "anger"}, {0: "LABEL_0", 1: "LABEL_1", 2: "LABEL_2", 3: "LABEL_3"},
                                      {1: "positive", 2: "negative"}])
def test_label_values_refuse_unknown_labels(id2label: dict) -> None:
    with pytest.raises(ValueError):
        label_values(id2label)


def test_scores_from_probabilities() -> None:
    values = [-1.0, 0.0, 1.0]
    pos, neu, neg = scores_from_probabilities([[0.1, 0.2, 0.7], [0.2, 0.6, 0.2], [0.8, 0.15, 0.05]], values)
    assert pos == Score("positive", 0.6) and neu == Score("neutral", 0.0) and neg == Score("negative", -0.75)
    (stars,) = scores_from_probabilities([[0.0, 0.0, 0.1, 0.3, 0.6]], [-1.0, -0.5, 0.0, 0.5, 1.0])
    assert stars == Score("positive", 0.75)
    assert softmax([0.0, 0.0]) == [0.5, 0.5]


# ------------------------------------------------------------------------------------------ transformers, faked


class _Rows(list):
    """Stands in for a torch tensor of shape (batch, classes)."""

    def float(self) -> _Rows:
        return self

    def cpu(self) -> _Rows:
        return self

    def tolist(self) -> list[list[float]]:
        return [list(r) for r in self]


class _Encoding(dict):
    def to(self, device: str) -> _Encoding:
        self["device"] = device
        return self


class _Tokenizer:
    calls: list[dict]

    @classmethod
    def from_pretrained(cls, model_id: str, revision: str | None = None, local_files_only: bool = False) -> _Tokenizer:
        tok = cls()
        tok.calls = []
        return tok

    def __call__(self, texts: list[str], **kwargs: object) -> _Encoding:
        self.calls.append({"texts": list(texts), **kwargs})
        return _Encoding(texts=list(texts))


class _Model:
    config = types.SimpleNamespace(id2label={0: "negative", 1: "neutral", 2: "positive"})
    loaded: ClassVar[list[tuple[str, str | None]]] = []

    @classmethod
    def from_pretrained(cls, model_id: str, revision: str | None = None, local_files_only: bool = False) -> _Model:
        cls.loaded.append((model_id, revision))
        return cls()

    def eval(self) -> _Model:
        return self

    def to(self, device: str) -> _Model:
        return self

    def __call__(self, texts: list[str], device: str = "cpu") -> types.SimpleNamespace:
        logits = [[4.0, 0.0, 0.0] if "bad" in t else [0.0, 4.0, 0.0] if "meh" in t else [0.0, 0.0, 4.0]
                  for t in texts]
        return types.SimpleNamespace(logits=_Rows(logits))


@pytest.fixture
def fake_transformers(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    quantized: list[object] = []
    torch = types.ModuleType("torch")
    torch.softmax = lambda rows, dim: _Rows(softmax(r) for r in rows)  # type: ignore[attr-defined]
    torch.inference_mode = contextlib.nullcontext  # type: ignore[attr-defined]
    torch.nn = types.SimpleNamespace(Linear=object)  # type: ignore[attr-defined]
    torch.qint8 = "qint8"  # type: ignore[attr-defined]
    torch.ao = types.SimpleNamespace(  # type: ignore[attr-defined]
        quantization=types.SimpleNamespace(quantize_dynamic=lambda m, layers, dtype: quantized.append(dtype) or m))
    transformers = types.ModuleType("transformers")
    transformers.AutoTokenizer = _Tokenizer  # type: ignore[attr-defined]
    transformers.AutoModelForSequenceClassification = _Model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "transformers", transformers)
    return types.SimpleNamespace(quantized=quantized)


def test_transformers_scorer_batches_maps_labels_skips_empty(fake_transformers: types.SimpleNamespace) -> None:
    scorer = get_scorer("transformers", model="org/model", revision="abc123", batch_size=2, quantize=True)
    texts = ["great stream", "", "bad stream", "meh", "   ", "good"]
    results = scorer.score_batch(texts)
    assert [r.label for r in results] == ["positive", "neutral", "negative", "neutral", "neutral", "positive"]
    assert results[1] == Score("neutral", 0.0) and results[0].score > 0.9 and results[2].score < -0.9
    calls = scorer.tokenizer.calls  # type: ignore[attr-defined]
    # the non-blank texts, shortest first, so each forward pass pads to about its own texts' length
    assert [c["texts"] for c in calls] == [["meh", "good"], ["bad stream", "great stream"]]
    assert all(c["truncation"] is True and c["max_length"] == 128 and c["padding"] is True for c in calls)
    assert _Model.loaded[-1] == ("org/model", "abc123") and fake_transformers.quantized == ["qint8"]
