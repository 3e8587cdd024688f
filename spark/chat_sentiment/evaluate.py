"""Measuring a scorer: sign-of-score accuracy on a labelled TSV and throughput in messages per second.

The TSV has a header ``id<TAB>text<TAB>label`` with labels ``positive``/``negative`` and no quoting (read with
``csv.QUOTE_NONE``), like ``shared/data/korean_reviews_dev.tsv``. A prediction is right when the score's sign
matches the label; a score of exactly 0 (neutral, nothing recognised) counts as wrong. The file is split into
its first and second half (in file order) so a lexicon tuned on one half can be checked on the other.

``python -m chat_sentiment.evaluate TSV [--vader]`` prints the numbers as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .scorers import Scorer, get_scorer

LABELS = ("positive", "negative")


def read_labelled(tsv_path: str | Path) -> list[tuple[str, str, str]]:
    """``(id, text, label)`` rows of a labelled TSV; errors name the file and line."""
    rows: list[tuple[str, str, str]] = []
    with open(tsv_path, encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader, None)
        if header is None or [h.strip() for h in header[:3]] != ["id", "text", "label"]:
            raise ValueError(f"{tsv_path}: expected the header 'id, text, label', got {header!r}")
        for line_no, row in enumerate(reader, start=2):
            if len(row) != 3:
                raise ValueError(f"{tsv_path}:{line_no}: expected 3 tab-separated columns, got {len(row)}")
            if row[2] not in LABELS:
                raise ValueError(f"{tsv_path}:{line_no}: label {row[2]!r} is not one of {LABELS}")
            rows.append((row[0], row[1], row[2]))
    return rows


def _accuracy(rows: Sequence[tuple[str, str, str]], scores: Sequence[float]) -> dict[str, Any]:
    right = zero = 0
    per_label = {label: [0, 0] for label in LABELS}  # right, total
    for (_, _, label), score in zip(rows, scores, strict=True):
        ok = (score > 0 and label == "positive") or (score < 0 and label == "negative")
        right += ok
        zero += score == 0
        per_label[label][0] += ok
        per_label[label][1] += 1
    n = len(rows)
    return {
        "rows": n,
        "accuracy": round(right / n, 4) if n else None,
        "zero_score_rate": round(zero / n, 4) if n else None,
        "accuracy_if_zero_excluded": round(right / (n - zero), 4) if n - zero else None,
        "recall": {label: round(r / t, 4) if t else None for label, (r, t) in per_label.items()},
    }


def evaluate(tsv_path: str | Path, scorer: Scorer | None = None, batch_size: int = 512) -> dict[str, Any]:
    """Sign-of-score accuracy of ``scorer`` (default: the lexicon scorer) on ``tsv_path``, overall and on each
    half of the file (first half = rows[: n // 2])."""
    rows = read_labelled(tsv_path)
    scorer = scorer or get_scorer("lexicon")
    scores: list[float] = []
    for i in range(0, len(rows), batch_size):
        scores.extend(s.score for s in scorer.score_batch([r[1] for r in rows[i:i + batch_size]]))
    half = len(rows) // 2
    return {
        "file": str(tsv_path),
        "all": _accuracy(rows, scores),
        "first_half": _accuracy(rows[:half], scores[:half]),
        "second_half": _accuracy(rows[half:], scores[half:]),
    }


def throughput(score_one_batch: Callable[[list[str]], object], texts: Sequence[str], batch_size: int = 512,
               repeat: int = 3) -> float:
    """Best-of-``repeat`` messages per second of ``score_one_batch`` over ``texts`` in batches."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(0, len(texts), batch_size):
            score_one_batch(list(texts[i:i + batch_size]))
        best = min(best, time.perf_counter() - start)
    return len(texts) / best if best > 0 else float("inf")


def vader_batch() -> Callable[[list[str]], object]:
    """vaderSentiment's SentimentIntensityAnalyzer as a batch function (raises ImportError if not installed)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: PLC0415 - optional, benchmark only

    analyzer = SentimentIntensityAnalyzer()
    return lambda texts: [analyzer.polarity_scores(t)["compound"] for t in texts]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_sentiment.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("tsv", help="labelled TSV (id, text, label)")
    parser.add_argument("--vader", action="store_true", help="also measure vaderSentiment's throughput")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    scorer = get_scorer("lexicon")
    report = evaluate(args.tsv, scorer)
    texts = [r[1] for r in read_labelled(args.tsv)]
    report["throughput_msgs_per_s"] = {"lexicon": round(throughput(scorer.score_batch, texts, repeat=args.repeat))}
    if args.vader:
        report["throughput_msgs_per_s"]["vader"] = round(throughput(vader_batch(), texts, repeat=args.repeat))
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
