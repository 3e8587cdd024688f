"""The lexicon fallback for a model that cannot keep up (chat_sentiment.fallback), without Spark.

The model here is a stand-in with the transformers scorer's name and ``batch_size`` whose every forward pass costs a
known number of seconds on an injected clock, so how many passes fit in a budget is known in advance: the model
scores ``max(1, ceil(budget / cost))`` passes of ``batch_size`` texts per task, the lexicon the rest.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chat_sentiment import config, frames, health, snapshot
from chat_sentiment.fallback import Budget, Overflow, score_with_fallback, slow_model_seconds
from chat_sentiment.scorers import LexiconScorer, Score
from hypothesis import given, settings
from hypothesis import strategies as st

LEXICON = LexiconScorer()
MODEL_SCORE = Score("positive", 0.5)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowModel:
    """Scores every text positive 0.5; each call advances ``clock`` by ``cost`` seconds."""

    name = "transformers"

    def __init__(self, batch_size: int, cost: float, clock: Clock) -> None:
        self.batch_size = batch_size
        self.cost = cost
        self.clock = clock
        self.calls: list[int] = []

    def score_batch(self, texts: list[str]) -> list[Score]:
        self.clock.now += self.cost
        self.calls.append(len(texts))
        return [MODEL_SCORE] * len(texts)


def plain(scorer, texts: list[str]) -> list[Score]:
    return scorer.score_batch(texts)


def overflow_of(budget: float, clock: Clock) -> Overflow:
    return Overflow(LEXICON, Budget(budget, clock=clock), slow_model_s=0.0)


def model_passes(budget: float, cost: float) -> int:
    return max(1, math.ceil(budget / cost))


TEXTS = st.lists(st.text(st.characters(categories=("L", "N", "P", "S", "Zs")), max_size=20), max_size=80)


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.integers(1, 16), st.integers(1, 5), st.integers(0, 20))
def test_the_model_scores_what_fits_in_its_budget_and_the_lexicon_the_rest(
        texts: list[str], batch_size: int, cost: int, budget: int) -> None:
    clock = Clock()
    model = SlowModel(batch_size, cost, clock)
    results, names = score_with_fallback(model, texts, overflow_of(budget, clock), plain)
    by_model = min(len(texts), model_passes(budget, cost) * batch_size) if texts else 0
    assert names == ["transformers"] * by_model + ["lexicon"] * (len(texts) - by_model)
    assert results[:by_model] == [MODEL_SCORE] * by_model
    # the overflow is scored exactly as the lexicon scores those texts, in their order
    assert results[by_model:] == LEXICON.score_batch(texts[by_model:])
    assert all(n <= batch_size for n in model.calls) and sum(model.calls) == by_model


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=1, max_size=5), st.integers(1, 8), st.integers(1, 4),
       st.integers(0, 12))
def test_the_budget_is_per_task_across_its_arrow_batches(sizes: list[int], batch_size: int, cost: int,
                                                         budget: int) -> None:
    """One task may hand the worker several Arrow batches: the model's passes over all of them fit one budget."""
    clock = Clock()
    model = SlowModel(batch_size, cost, clock)
    overflow = overflow_of(budget, clock)
    names: list[str] = []
    for size in sizes:
        names += score_with_fallback(model, [f"gg {i}" for i in range(size)], overflow, plain)[1]
    passes = model_passes(budget, cost)
    assert len(model.calls) <= passes
    # the model went on while it had time, in every batch it was given, and stopped for good once out of it
    expected, left = 0, passes
    for size in sizes:
        taken = min(size, left * batch_size)
        expected += taken
        left -= math.ceil(taken / batch_size)
    assert names.count("transformers") == expected
    assert names.count("lexicon") == sum(sizes) - expected


def test_without_a_fallback_the_model_scores_everything_however_slow() -> None:
    clock = Clock()
    model = SlowModel(4, 100.0, clock)
    results, names = score_with_fallback(model, ["a"] * 10, None, plain)
    assert names == ["transformers"] * 10 and results == [MODEL_SCORE] * 10
    assert model.calls == [10]  # one call: the scorer batches inside, as before the fallback existed


def test_the_slow_model_fault_reads_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAT_SENTIMENT_FAULT_SLOW_MODEL", "0.25")
    assert slow_model_seconds() == 0.25
    monkeypatch.setenv("CHAT_SENTIMENT_FAULT_SLOW_MODEL", "soon")
    assert slow_model_seconds() == 0.0
    monkeypatch.delenv("CHAT_SENTIMENT_FAULT_SLOW_MODEL")
    assert slow_model_seconds() == 0.0


def _chat(texts: list[str]) -> list[tuple[bytes, str, int]]:
    return [(json.dumps({"@timestamp": "2024-05-01T12:00:04Z",
                         "message": f"[2024-05-01 21:00:{i % 60:02d}] <viewer{i}> {text}",
                         "log": {"offset": i, "file": {"path": "/logs/#chan.log"}}}).encode(), "twitch-chat", i)
            for i, text in enumerate(texts)]


def test_the_jobs_step_marks_each_row_with_the_scorer_that_scored_it() -> None:
    texts = [f"PogChamp 최고 {i}" for i in range(10)]
    records = [*_chat(texts), (b"not json at all", "twitch-chat", 99)]
    batch = frames.records_batch([(value, topic, 0, offset, 1_714_560_000_000_000)
                                  for value, topic, offset in records])
    clock = Clock()
    out = frames.to_frame(frames.process_batch(batch, {"twitch-chat": "twitch"}, SlowModel(3, 1.0, clock),
                                               overflow=overflow_of(2.0, clock)))
    chat = out[out.type == "event"].sort_values("offset")
    # two passes of three texts fit in 2 s at 1 s each; the arrival order decides who is overflow
    assert chat.scorer.tolist() == ["transformers"] * 6 + ["lexicon"] * 4
    assert chat.score.tolist()[:6] == [0.5] * 6
    assert chat.score.tolist()[6:] == [s.score for s in LEXICON.score_batch(texts[6:])]
    dead = out[out.type == "dead_letter"]
    assert len(dead) == 1 and dead.scorer.isna().all()


def test_a_job_without_a_fallback_marks_its_rows_with_its_scorer() -> None:
    batch = frames.records_batch([(value, topic, 0, offset, 1_714_560_000_000_000)
                                  for value, topic, offset in _chat(["gg", "노잼"])])
    rows = list(frames.process_batches(iter([batch]), {"twitch-chat": "twitch"}, "lexicon", model="",
                                       options_json="{}"))
    assert frames.to_frame(rows[0]).scorer.tolist() == ["lexicon", "lexicon"]


def test_the_fallback_settings() -> None:
    cfg = config.load(None, environ={"CHAT_SENTIMENT_SCORER": "transformers",
                                     "CHAT_SENTIMENT_FALLBACK_SCORER": "Lexicon",
                                     "CHAT_SENTIMENT_FALLBACK_BUDGET": "1.5"})
    assert (cfg.scorer.fallback_scorer(), cfg.scorer.fallback_budget) == ("lexicon", 1.5)
    assert "fallback" not in cfg.scorer.options()  # the model's own options are unchanged
    default = config.load(None, environ={"CHAT_SENTIMENT_SCORER": "transformers"})
    assert default.scorer.fallback_scorer() == ""  # off unless asked for
    # the lexicon scorer has nothing to fall back from
    lexicon = config.load(None, environ={"CHAT_SENTIMENT_FALLBACK_SCORER": "lexicon"})
    assert lexicon.scorer.fallback_scorer() == ""


@pytest.mark.parametrize(("environ", "named"), [
    ({"CHAT_SENTIMENT_FALLBACK_SCORER": "vader"}, "CHAT_SENTIMENT_FALLBACK_SCORER"),
    ({"CHAT_SENTIMENT_FALLBACK_BUDGET": "0"}, "CHAT_SENTIMENT_FALLBACK_BUDGET"),
    ({"CHAT_SENTIMENT_FALLBACK_BUDGET": "soon"}, "CHAT_SENTIMENT_FALLBACK_BUDGET"),
])
def test_bad_fallback_settings_name_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(config.ConfigError, match=named):
        config.load(None, environ=environ)


def test_health_says_whether_a_fallback_scores_and_how_much(tmp_path: Path) -> None:
    off = health.Health(tmp_path / "off.json", "transformers").document()
    assert off["fallback"] is None and off["fallback_per_minute"] == []
    doc = health.Health(tmp_path / "health.json", "transformers", fallback="lexicon", fallback_budget=3.0)
    doc.fallback_scored(0, now=datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC))  # a batch the model kept up with
    doc.fallback_scored(40, now=datetime(2024, 5, 1, 12, 1, 5, tzinfo=UTC))
    doc.fallback_scored(2, now=datetime(2024, 5, 1, 12, 1, 50, tzinfo=UTC))
    saved = doc.document()
    assert saved["fallback"] == {"scorer": "lexicon", "budget_seconds": 3.0}
    assert saved["fallback_per_minute"] == [{"minute": "2024-05-01T12:01:00Z", "count": 42}]


def test_the_snapshot_carries_the_count_per_scorer_and_reads_older_files() -> None:
    older = {"version": 1, "channels": [{"source": "twitch", "channel": "c", "windows": [
        {"window_start": "2024-05-01T12:00:00Z", "window_end": "2024-05-01T12:01:00Z", "messages": 3, "positive": 1,
         "neutral": 1, "negative": 1, "mean_score": 0.0, "top_emotes": [], "top_words": []}]}]}
    row = {"source": "twitch", "channel": "c", "window_start": "2024-05-01T12:01:00Z",
           "window_end": "2024-05-01T12:02:00Z", "messages": 42, "positive": 20, "neutral": 15, "negative": 7,
           "mean_score": 0.1, "top_emotes": [], "top_words": [],
           "scored_by": [{"item": "transformers", "count": 30}, {"item": "lexicon", "count": 12}]}
    merged = snapshot.merge_windows(older, [row], keep=5, window_seconds=60)
    first, second = merged["channels"][0]["windows"]
    assert first["scored_by"] == {}  # written before the job counted its scorers
    assert second["scored_by"] == {"transformers": 30, "lexicon": 12}
