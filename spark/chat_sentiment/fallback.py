"""Keeping up: the model scores within a time budget, and a fallback scorer scores what is left over.

**What "cannot keep up" means here.** The job reads Kafka in micro-batches; each micro-batch is split into Spark
tasks (one per Kafka partition with records), and each task's Python worker scores that task's chat messages.
The batch cannot finish before its slowest task does, so the model keeps up when every task's scoring fits in a
**budget**: ``[scorer] fallback_budget`` seconds of model time per task and micro-batch (the role's
``sentiment_job_fallback_budget``; default :data:`DEFAULT_BUDGET_S`, below the default 5 s trigger interval, which
also has to cover the Delta commits and the aggregates).

With ``[scorer] fallback = "lexicon"`` (only meaningful with the transformers scorer), a task's messages are scored
in the order they arrived on Kafka, one forward pass (``batch_size`` texts) at a time, while the model has budget
left; once its scoring has taken ``fallback_budget`` seconds, the task's remaining messages -- the overflow -- are
scored by the lexicon. The first forward pass of a task always runs, so the model scores something in every batch
however slow it is. Each row records the scorer that scored it (``scorer``: ``transformers`` or ``lexicon``, the
names ``[scorer] name`` takes), the per-minute aggregates count them (``scored_by``), and the dashboard shows the
lexicon's share. A backlog (a job that was stopped, a burst) then drains at the lexicon's speed instead of the
model's, and the messages of a quiet chat are all scored by the model.

Without a fallback (the default) nothing changes: the model scores every message however long it takes, and the job
reports its lag (offsets behind Kafka in ``health.json``).

For tests of the job, ``$CHAT_SENTIMENT_FAULT_SLOW_MODEL`` (seconds, never set in production) makes every forward
pass of the model that many seconds slower: a model that cannot keep up, on a machine where the real one would.
Pure Python: tested without Spark.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .scorers import Score, Scorer

#: The fallback scorers the job knows ("" = none).
FALLBACK_SCORERS = ("lexicon",)
#: Default model seconds per task and micro-batch.
DEFAULT_BUDGET_S = 3.0
SLOW_MODEL_ENV_VAR = "CHAT_SENTIMENT_FAULT_SLOW_MODEL"
#: Texts per forward pass when the scorer does not say (the lexicon scorer has no batches).
DEFAULT_CHUNK = 32

#: What a scoring call returns per text: a Score, or the exception the scorer raised on that text alone.
Result = Score | BaseException
ScoreTexts = Callable[[Scorer, list[str]], list[Result]]


def slow_model_seconds() -> float:
    """The fault injection's extra seconds per forward pass (``$CHAT_SENTIMENT_FAULT_SLOW_MODEL``; 0 = none)."""
    try:
        return max(0.0, float(os.environ.get(SLOW_MODEL_ENV_VAR, "0") or 0))
    except ValueError:
        return 0.0


@dataclass
class Budget:
    """Seconds the model may spend in one Spark task of a micro-batch; ``clock`` is injectable for tests."""

    seconds: float
    clock: Callable[[], float] = time.monotonic
    spent: float = 0.0
    passes: int = 0  # the model's calls so far in this task

    def allows_a_pass(self) -> bool:
        """True while time is left, and always for the task's first pass (the model scores something in every
        batch, however slow it is)."""
        return self.passes == 0 or self.spent < self.seconds


@dataclass
class Overflow:
    """The fallback scorer of one task, with what is left of the model's budget there."""

    scorer: Scorer
    budget: Budget
    slow_model_s: float = field(default_factory=slow_model_seconds)


def score_with_fallback(primary: Scorer, texts: Sequence[str], overflow: Overflow | None,
                        score: ScoreTexts) -> tuple[list[Result], list[str]]:
    """One result per text, and the name of the scorer that produced it.

    ``score`` is the call that scores texts with a scorer (in the job: :func:`chat_sentiment.frames.score_texts`,
    which turns a failure into that text's exception). Without ``overflow`` every text goes to ``primary`` in one
    call. With it, ``primary`` scores the texts in order, ``batch_size`` at a time, while ``overflow.budget`` has
    time left (the task's first pass always runs); the rest go to ``overflow.scorer`` in one call. The budget is charged
    with the time each of ``primary``'s calls took."""
    texts = list(texts)
    if not texts:
        return [], []
    if overflow is None:
        return score(primary, texts), [primary.name] * len(texts)
    chunk = max(1, int(getattr(primary, "batch_size", DEFAULT_CHUNK) or DEFAULT_CHUNK))
    budget = overflow.budget
    results: list[Result] = []
    done = 0
    while done < len(texts) and budget.allows_a_pass():
        started = budget.clock()
        if overflow.slow_model_s:
            time.sleep(overflow.slow_model_s)
        results.extend(score(primary, texts[done:done + chunk]))
        budget.spent += budget.clock() - started
        budget.passes += 1
        done = min(len(texts), done + chunk)
    rest = texts[done:]
    if rest:
        results.extend(score(overflow.scorer, rest))
    return results, [primary.name] * done + [overflow.scorer.name] * len(rest)

