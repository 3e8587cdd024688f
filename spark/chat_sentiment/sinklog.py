"""Reading the job's Parquet tables without Spark, through the file sink's commit log (``_spark_metadata``).

Spark's file sink writes a batch's Parquet files first and then records them in ``<table>/_spark_metadata/<batch>``;
a batch that was killed half-way leaves files that are not in the log, and the restarted job writes that batch
again under new names. So a reader must take only the files in the log -- Spark's own reader does, a plain
``pyarrow.parquet.read_table(<dir>)`` does not and may count a row twice.

The log: one file per batch (``0``, ``1``, ...), every ``compactInterval`` batches (10 by default) a
``<batch>.compact`` file holding all entries up to that batch; older files may be deleted after a delay. Each
file is ``v1`` and then one JSON entry per line (``{"path": "file:///.../part-....parquet", "action": "add",
...}``).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

METADATA_DIR = "_spark_metadata"
_LOG_FILE = re.compile(r"(\d+)(\.compact)?")


def _entries(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines or not lines[0].startswith("v"):
        raise ValueError(f"{path}: not a file sink log file (no version line)")
    return [json.loads(line) for line in lines[1:] if line.strip()]


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"{uri}: only local files can be read here")
    return Path(unquote(parsed.path))


def committed_files(table_dir: str | Path) -> list[Path]:
    """The data files of every committed batch of a file sink's output directory, in commit order.

    Raises FileNotFoundError when ``table_dir`` has no ``_spark_metadata`` (not written by a streaming file sink);
    returns [] when no batch was committed yet.
    """
    log_dir = Path(table_dir) / METADATA_DIR
    if not log_dir.is_dir():
        raise FileNotFoundError(f"{log_dir} does not exist: {table_dir} is not a streaming file sink's output")
    batches: dict[int, Path] = {}
    compacts: dict[int, Path] = {}
    for entry in log_dir.iterdir():
        match = _LOG_FILE.fullmatch(entry.name)
        if match:
            (compacts if match.group(2) else batches)[int(match.group(1))] = entry
    if not batches and not compacts:
        return []
    start = max(compacts) if compacts else -1
    ordered = [compacts[start]] if start >= 0 else []
    ordered += [batches[b] for b in sorted(batches) if b > start]
    files: dict[Path, None] = {}
    for log_file in ordered:
        for entry in _entries(log_file):
            path = _local_path(entry["path"])
            if entry.get("action", "add") == "delete":
                files.pop(path, None)
            else:
                files[path] = None
    return list(files)


def read_table(table_dir: str | Path, columns: list[str] | None = None) -> Any:
    """The committed rows of a file sink's Parquet output as a pandas DataFrame (needs pyarrow). Partition columns
    (``key=value`` directories, e.g. ``date=2024-05-01``) are added as strings."""
    import pandas as pd  # noqa: PLC0415 - optional dependencies of this reader
    import pyarrow.parquet as pq  # noqa: PLC0415

    frames = []
    root = Path(table_dir).resolve()
    for path in committed_files(table_dir):
        frame = pq.read_table(path).to_pandas()
        for part in path.resolve().relative_to(root).parts[:-1]:
            key, sep, value = part.partition("=")
            if sep:
                frame[key] = unquote(value)
        frames.append(frame if columns is None else frame[columns])
    if not frames:
        return pd.DataFrame(columns=columns or [])
    return pd.concat(frames, ignore_index=True)
