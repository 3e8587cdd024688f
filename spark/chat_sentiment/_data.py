"""Reading the package's data files (``chat_sentiment/data/*.tsv``)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources


def read_tsv(name: str) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(line number, columns)`` of a data file, skipping blank lines and ``#`` comments.

    A line whose first column itself starts with ``#`` cannot be expressed; no entry needs one.
    """
    text = resources.files("chat_sentiment").joinpath("data").joinpath(name).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        yield number, line.split("\t")


def read_valence_table(name: str, min_columns: int = 2) -> Iterator[tuple[list[str], float]]:
    """Yield ``(columns, valence)`` for a table whose second column is a number; errors name the file and line."""
    for number, cols in read_tsv(name):
        if len(cols) < min_columns:
            raise ValueError(f"{name}:{number}: expected at least {min_columns} tab-separated columns, got {cols!r}")
        try:
            valence = float(cols[1])
        except ValueError:
            raise ValueError(f"{name}:{number}: valence {cols[1]!r} is not a number") from None
        yield cols, valence
