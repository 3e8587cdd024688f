"""The lexicon scorer on Korean chat and review language: negation, morphology, slang, intensifiers, repetition,
and the learned table's shape. The sentences are written for these tests (none is taken from the review data)."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from importlib import resources

import pytest
from chat_sentiment.lexicon import Lexicon, default_lexicon, normalize


def score(text: str) -> float:
    return normalize(default_lexicon().raw_score(text))


@pytest.mark.parametrize(
    ("plain", "negated"),
    [
        ("오늘 방송 재밌다", "오늘 방송 안 재밌다"),  # 안 as its own word
        ("이 게임 재밌네", "이 게임 안재밌네"),  # 안 glued to the stem
        ("이 게임 재밌네", "이 게임 재밌지 않네"),  # -지 않
        ("연기가 좋았다", "연기가 좋지 못했다"),  # -지 못
        ("스토리가 좋다", "스토리가 좋은 건 아니다"),  # -은 건 아니다
        ("결말이 좋았어요", "결말이 좋은 편은 아니었어요"),  # -은 N은 아니다
        ("감동적이었다", "감동은 없었다"),  # noun + particle + 없
        ("재미있었어요", "재미는 하나도 없었어요"),
        ("몰입감 최고", "몰입이 전혀 안 된다"),  # noun + 안 되
        ("나쁘다", "나쁘지 않네"),  # a negated negative turns positive
        ("지루했다", "지루하지는 않았다"),
    ],
)
def test_korean_negation_flips_the_sign(plain: str, negated: str) -> None:
    a, b = score(plain), score(negated)
    assert a != 0 and b != 0 and (a > 0) != (b > 0), (plain, a, negated, b)


@pytest.mark.parametrize(
    "text",
    ["재밌다", "재밌는 방송", "재밌었고 좋았다", "재미있어요", "재밌어요ㅎㅎ", "ㅋㅋ", "ㅋㅋㅋㅋ 이거 실화냐", "존잼",
     "개꿀", "갓겜 인정합니다", "최고의 경기였어요", "두 번 보세요 강추", "잘 봤습니다", "개웃기네", "다시 보고 싶다"],
)
def test_korean_positive(text: str) -> None:
    assert score(text) >= 0.05, text


@pytest.mark.parametrize(
    "text",
    ["재미없다", "재미없었음", "오늘 방송 노잼", "개노잼", "ㅠㅠ", "ㅜㅜ", "졌다 ㅠㅠ", "최악의 경기", "시간 아깝다",
     "돈 아까워요", "배우들 연기가 아깝다", "별로예요", "지루해서 잤어요", "개연성이 없다", "다시는 안 본다",
     "이 영화 못 봐주겠다", "그냥 그랬음", "아 진짜 짜증나"],
)
def test_korean_negative(text: str) -> None:
    assert score(text) <= -0.05, text


@pytest.mark.parametrize("text", ["안녕하세요", "다들 안녕", "방송 몇 시에 해요", "내일 봐요", "아파트 유치원"])
def test_korean_small_talk_stays_neutral(text: str) -> None:
    assert score(text) == 0.0, text


@pytest.mark.parametrize(
    ("plain", "intense"),
    [
        ("재밌다", "진짜 재밌다"),
        ("재밌다", "너무너무 재밌다"),
        ("좋아요", "너무 좋아요"),
        ("웃기네", "개웃기네"),
        ("노잼", "개노잼"),
        ("ㅋㅋ", "ㅋㅋㅋㅋㅋㅋ"),
        ("ㅠ", "ㅠㅠㅠㅠ"),
        ("재밌다", "재밌다 재밌다 재밌다"),
        ("좋아요", "좋아요!!!"),
        ("재밌다", "so 재밌다"),  # an English booster reaches a Korean word
    ],
)
def test_korean_intensifiers_and_repetition(plain: str, intense: str) -> None:
    a, b = score(plain), score(intense)
    assert a != 0 and abs(b) > abs(a) and (a > 0) == (b > 0), (plain, a, intense, b)


def test_korean_contrast_weighs_the_second_clause() -> None:
    assert score("배우는 좋았지만 스토리가 최악") < 0
    assert score("초반은 지루한데 후반이 최고") > 0


def test_mixed_chat_lines() -> None:
    assert score("노잼 ResidentSleeper") < -0.5
    assert score("PogChamp 개꿀잼 ㅋㅋㅋ") > 0.5
    assert score("방송 노잼인데 PogChamp PogChamp PogChamp") > 0  # what follows the contrast counts


def test_positions_after_a_refused_emoticon_or_rating() -> None:
    # the rating in 10점수 ("score") is refused by its lookahead, so the match is the later 10점
    assert score("10점수 10점") == score("10점")
    assert score("진짜 10점수 그래도 10점") == score("그래도 10점")


def test_scoring_is_thread_safe() -> None:
    texts = ["오늘 방송 재밌다 ㅋㅋ", "개노잼 ㅠㅠ", "좋은 건 아니다", "PogChamp 존잼", "not good"] * 200
    expected = [score(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(score, texts)) == expected


# ------------------------------------------------------------------------------------------ the learned table


def _learned_rows() -> list[list[str]]:
    text = resources.files("chat_sentiment").joinpath("data/korean_learned.tsv").read_text(encoding="utf-8")
    return [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]


def test_learned_table_is_small_and_well_formed() -> None:
    rows = _learned_rows()
    assert 0 < len(rows) <= 300
    for cols in rows:
        assert len(cols) == 4, cols
        entry, valence, pos, neg = cols
        assert re.fullmatch(r"[가-힣]{2,4}", entry), cols
        assert -2.5 <= float(valence) <= 2.5 and int(pos) + int(neg) >= 10, cols


def test_learned_entries_never_shadow_hand_written_ones() -> None:
    hand = Lexicon.load(learned=False)
    hand_keys = [k for k in (*hand.korean, *hand.modifiers) if re.search("[가-힣ㄱ-ㅎ]", k)]
    for entry, *_ in _learned_rows():
        assert not any(k in entry for k in hand_keys), entry
    full = default_lexicon()
    assert all(full.korean[k] == v for k, v in hand.korean.items())  # the hand-written entries win
