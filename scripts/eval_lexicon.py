"""The lexicon scorer's Korean accuracy (sign of the score) on a labelled TSV, printed as a table.

    python -m scripts.eval_lexicon [TSV]      # default: ../shared/data/korean_reviews_dev.tsv

Uses :func:`chat_sentiment.evaluate.evaluate`: a review is right when the score's sign matches its label; a score
of exactly 0 (nothing recognised) counts as wrong. Shown for the whole file and for each half (the lexicon was
tuned on the first half, so the second half is the honest number).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "spark"))

from chat_sentiment.evaluate import evaluate  # noqa: E402

from scripts.bench_scorers import DEFAULT_TSV, table  # noqa: E402


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tsv", nargs="?", default=str(DEFAULT_TSV))
    args = parser.parse_args(argv)
    report = evaluate(args.tsv)
    rows = []
    for part in ("all", "first_half", "second_half"):
        numbers = report[part]
        rows.append((part.replace("_", " "), f"{numbers['rows']:,}", f"{numbers['accuracy']:.4f}",
                     f"{numbers['recall']['positive']:.4f}", f"{numbers['recall']['negative']:.4f}",
                     f"{numbers['zero_score_rate']:.4f}", f"{numbers['accuracy_if_zero_excluded']:.4f}"))
    print(table(f"Lexicon accuracy (sign of score) on {Path(args.tsv).name}",
                ("rows", "reviews", "accuracy", "recall +", "recall -", "score 0", "accuracy w/o 0"), rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
