"""The lexicon scorer's Korean accuracy (sign of the score) on a labelled TSV, printed as a table; and the
derivation of the learned Korean table ``data/korean_learned.tsv`` from the dev half.

    python scripts/eval_lexicon.py [TSV]              # default: ../shared/data/korean_reviews_dev.tsv
    python scripts/eval_lexicon.py --learn OUT.tsv    # derive the learned table from the dev half only

A review is right when the score's sign matches its label; a score of exactly 0 (nothing recognised) counts as
wrong (:func:`chat_sentiment.evaluate.evaluate`). The file is split in file order: the first half is the *dev*
half (the lexicon may be tuned on it, the learned table is derived from it), the second half is *held out* and is
the honest number.

The learned table (``--learn``): every run of 2-4 Hangul syllables inside a word of a dev-half review is a
candidate (after the spans the hand-written entries match are blanked out, so no fragment of a known word is
learned); it is counted once per review, in positive and in negative reviews. Candidates seen in fewer than
``--min-reviews`` reviews, or containing a hand-written entry or modifier of the lexicon (they would shadow its
negation rules), or listed as rejected in ``OUT`` (``# rejected:`` comment lines, kept from an earlier review) are
dropped. The rest get the smoothed log-odds ``ln((pos + 1) / (neg + 1))`` as valence (clipped to +-2.5);
those with ``|valence| >= --min-valence`` are ranked by ``|valence| * sqrt(reviews)`` and the ``--top`` best are
written, with their counts, for review.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for _path in (REPO, REPO / "spark"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from chat_sentiment.evaluate import evaluate, read_labelled  # noqa: E402
from chat_sentiment.lexicon import Lexicon  # noqa: E402

from scripts.bench_scorers import DEFAULT_TSV, table  # noqa: E402

_HANGUL_RUN = re.compile(r"[가-힣]+")
_KO = re.compile(r"[가-힣ㄱ-ㅎㅏ-ㅣ]")
PARTS = (("all", "all"), ("first_half", "dev half (tuned on)"), ("second_half", "held-out half"))


def accuracy_table(tsv: str) -> str:
    report = evaluate(tsv)
    rows = []
    for part, title in PARTS:
        numbers = report[part]
        rows.append((title, f"{numbers['rows']:,}", f"{numbers['accuracy']:.4f}",
                     f"{numbers['recall']['positive']:.4f}", f"{numbers['recall']['negative']:.4f}",
                     f"{numbers['zero_score_rate']:.4f}", f"{numbers['accuracy_if_zero_excluded']:.4f}"))
    return table(f"Lexicon accuracy (sign of score) on {Path(tsv).name}",
                 ("rows", "reviews", "accuracy", "recall +", "recall -", "score 0 share", "accuracy w/o 0"), rows)


def read_rejected(path: Path) -> set[str]:
    """Entries listed on ``# rejected:`` comment lines of an earlier learned table."""
    if not path.exists():
        return set()
    rejected: set[str] = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# rejected:"):
            rejected.update(line.removeprefix("# rejected:").split())
    return rejected


def learn(rows: Sequence[tuple[str, str, str]], hand: Lexicon, rejected: set[str], *, min_reviews: int,
          min_valence: float, top: int) -> list[tuple[str, float, int, int]]:
    """``(entry, valence, positive reviews, negative reviews)``, best first (see the module docstring)."""
    counts = {"positive": Counter[str](), "negative": Counter[str]()}
    for _, text, label in rows:
        grams: set[str] = set()
        for word in _HANGUL_RUN.findall(hand.korean_pattern.sub(" ", text)):
            for size in range(2, 5):
                grams.update(word[i:i + size] for i in range(len(word) - size + 1))
        counts[label].update(grams)
    hand_keys = [k for k in (*hand.korean, *hand.modifiers) if _KO.search(k)]
    hand_pattern = re.compile("|".join(map(re.escape, sorted(hand_keys, key=len, reverse=True))))
    found = []
    for gram in counts["positive"].keys() | counts["negative"].keys():
        pos, neg = counts["positive"][gram], counts["negative"][gram]
        if pos + neg < min_reviews or gram in rejected or hand_pattern.search(gram):
            continue
        valence = max(-2.5, min(2.5, math.log((pos + 1) / (neg + 1))))
        if abs(valence) >= min_valence:
            found.append((gram, round(valence, 1), pos, neg))
    found.sort(key=lambda f: (-abs(f[1]) * math.sqrt(f[2] + f[3]), f[0]))
    return found[:top]


def write_learned(path: Path, entries: Sequence[tuple[str, float, int, int]], rejected: set[str],
                  source: str, params: str) -> None:
    lines = [
        "# Korean sentiment morphemes LEARNED AUTOMATICALLY from the dev half (first 10,000 rows) of",
        f"# {source} (CC0) by `python scripts/eval_lexicon.py --learn` ({params}),",
        "# then reviewed by hand: names, titles and other non-general strings are moved to the rejected lines.",
        "# Valence = ln((pos + 1) / (neg + 1)) on the -4..+4 scale, clipped to +-2.5. No negation handling (class E);",
        "# the hand-written entries of korean.tsv win over these.",
        "# entry\tvalence\tpositive reviews\tnegative reviews",
    ]
    lines += [f"{e}\t{v}\t{p}\t{n}" for e, v, p, n in sorted(entries, key=lambda f: (-f[1], f[0]))]
    rejected_sorted = sorted(rejected)
    for i in range(0, len(rejected_sorted), 20):
        lines.append("# rejected: " + " ".join(rejected_sorted[i:i + 20]))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("tsv", nargs="?", default=str(DEFAULT_TSV))
    parser.add_argument("--learn", metavar="OUT", help="derive the learned Korean table from the dev half")
    parser.add_argument("--min-reviews", type=int, default=10)
    parser.add_argument("--min-valence", type=float, default=0.6)
    parser.add_argument("--top", type=int, default=500)
    args = parser.parse_args(argv)
    if args.learn:
        rows = read_labelled(args.tsv)
        out = Path(args.learn)
        rejected = read_rejected(out)
        entries = learn(rows[:len(rows) // 2], Lexicon.load(learned=False), rejected, min_reviews=args.min_reviews,
                        min_valence=args.min_valence, top=args.top)
        write_learned(out, entries, rejected, Path(args.tsv).name,
                      f"--min-reviews {args.min_reviews} --min-valence {args.min_valence} --top {args.top}")
        print(f"{out}: {len(entries)} entries ({len(rejected)} rejected in review)")
        return 0
    print(accuracy_table(args.tsv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
