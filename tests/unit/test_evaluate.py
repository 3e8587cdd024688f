"""The accuracy/throughput helpers on a small labelled TSV written by the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from chat_sentiment.evaluate import evaluate, read_labelled, throughput
from chat_sentiment.scorers import get_scorer

ROWS = [
    ("1", "정말 재밌어요 강추", "positive"),
    ("2", "최악의 영화 돈 아깝다", "negative"),
    ("3", "배우들 연기 최고", "positive"),
    ("4", "지루해서 잤다", "negative"),
    ("5", "그냥 영화", "positive"),  # nothing recognised: a zero score counts as wrong
    ("6", "재미없음 \"quoted\" text", "negative"),
]


def write_tsv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    path.write_text("id\ttext\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_counts_zero_as_wrong_and_splits_halves(tmp_path: Path) -> None:
    report = evaluate(write_tsv(tmp_path / "dev.tsv", ROWS), get_scorer("lexicon"))
    assert report["all"]["rows"] == 6 and report["all"]["accuracy"] == round(5 / 6, 4)
    assert report["all"]["zero_score_rate"] == round(1 / 6, 4)
    assert report["first_half"]["rows"] == 3 and report["first_half"]["accuracy"] == 1.0
    assert report["second_half"]["accuracy"] == round(2 / 3, 4)
    assert report["all"]["recall"] == {"positive": round(2 / 3, 4), "negative": 1.0}


def test_read_labelled_rejects_bad_files(tmp_path: Path) -> None:
    bad_header = tmp_path / "a.tsv"
    bad_header.write_text("text\tlabel\nx\tpositive\n", encoding="utf-8")
    with pytest.raises(ValueError, match="header"):
        read_labelled(bad_header)
    bad_label = write_tsv(tmp_path / "b.tsv", [("1", "x", "meh")])
    with pytest.raises(ValueError, match=r"b.tsv:2: label 'meh'"):
        read_labelled(bad_label)
    assert read_labelled(write_tsv(tmp_path / "c.tsv", ROWS))[5][1] == '재미없음 "quoted" text'


def test_throughput_is_positive() -> None:
    scorer = get_scorer("lexicon")
    assert throughput(scorer.score_batch, ["PogChamp", "ㅋㅋㅋ"] * 50, batch_size=16, repeat=1) > 0
