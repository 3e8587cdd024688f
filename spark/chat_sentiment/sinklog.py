"""The job's Parquet tables and their commit log (``_spark_metadata``): read without Spark, and written.

Spark's file sink writes a batch's Parquet files first and then records them in ``<table>/_spark_metadata/<batch>``;
a batch that was killed half-way leaves files that are not in the log, and the restarted job writes that batch
again under new names. So a reader must take only the files in the log -- Spark's own reader does, a plain
``pyarrow.parquet.read_table(<dir>)`` does not and may count a row twice.

The log: one file per batch (``0``, ``1``, ...), every ``compactInterval`` batches (10 by default) a
``<batch>.compact`` file holding all entries up to that batch; older files may be deleted after a delay. Each
file is ``v1`` and then one JSON entry per line (``{"path": "file:///.../part-....parquet", "action": "add",
...}``).

The job writes its tables from one query's ``foreachBatch`` (one parse of each Kafka record feeds every table), so it
keeps this log itself in the same format (:func:`commit_batch`): Spark's own readers (the ``aggregates`` query reads
``messages/`` as a stream) and :func:`read_table` then see exactly the committed batches, as with Spark's file sink.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlparse

METADATA_DIR = "_spark_metadata"
_LOG_FILE = re.compile(r"(\d+)(\.compact)?")
#: Spark's ``spark.sql.streaming.fileSink.log.compactInterval`` default: batch ids 9, 19, ... are ``<id>.compact``.
COMPACT_INTERVAL = 10
#: Log files a compaction made redundant are deleted once this old (Spark's ``fileCleanupDelay`` default), so a
#: reader that listed them a moment before still finds them.
CLEANUP_DELAY_S = 600
#: What Spark's file sink writes for a local file (HDFS fields a local file does not have).
_BLOCK_SIZE = 33554432
#: Characters a Hadoop path keeps unescaped in its URI (``date=2024-05-01`` stays as it is).
_URI_SAFE = "/=-_.~:@+,;&$!*'()"


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


def _log_files(log_dir: Path) -> tuple[dict[int, Path], dict[int, Path]]:
    batches: dict[int, Path] = {}
    compacts: dict[int, Path] = {}
    for entry in log_dir.iterdir():
        match = _LOG_FILE.fullmatch(entry.name)
        if match:
            (compacts if match.group(2) else batches)[int(match.group(1))] = entry
    return batches, compacts


def _live_entries(log_dir: Path, upto: int | None = None) -> list[dict[str, Any]]:
    """The entries of the files added and not deleted by the batches up to ``upto`` (all when None)."""
    batches, compacts = _log_files(log_dir)
    if upto is not None:
        batches = {b: p for b, p in batches.items() if b <= upto}
        compacts = {b: p for b, p in compacts.items() if b <= upto}
    start = max(compacts) if compacts else -1
    ordered = [compacts[start]] if start >= 0 else []
    ordered += [batches[b] for b in sorted(batches) if b > start]
    live: dict[str, dict[str, Any]] = {}
    for log_file in ordered:
        for entry in _entries(log_file):
            if entry.get("action", "add") == "delete":
                live.pop(entry["path"], None)
            else:
                live[entry["path"]] = entry
    return list(live.values())


def committed_files(table_dir: str | Path) -> list[Path]:
    """The data files of every committed batch of a file sink's output directory, in commit order.

    Raises FileNotFoundError when ``table_dir`` has no ``_spark_metadata`` (not written by a streaming file sink);
    returns [] when no batch was committed yet.
    """
    log_dir = Path(table_dir) / METADATA_DIR
    if not log_dir.is_dir():
        raise FileNotFoundError(f"{log_dir} does not exist: {table_dir} is not a streaming file sink's output")
    return [_local_path(entry["path"]) for entry in _live_entries(log_dir)]


def latest_batch(table_dir: str | Path) -> int:
    """The newest batch id in the table's log; -1 when there is none (or no log)."""
    log_dir = Path(table_dir) / METADATA_DIR
    if not log_dir.is_dir():
        return -1
    batches, compacts = _log_files(log_dir)
    return max([*batches, *compacts], default=-1)


def _log_name(batch_id: int, compact_interval: int) -> str:
    return f"{batch_id}.compact" if (batch_id + 1) % compact_interval == 0 else str(batch_id)


def is_committed(table_dir: str | Path, batch_id: int, compact_interval: int = COMPACT_INTERVAL) -> bool:
    return (Path(table_dir) / METADATA_DIR / _log_name(batch_id, compact_interval)).exists()


def _entry(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"path": "file://" + quote(str(path.resolve()), safe=_URI_SAFE), "size": stat.st_size, "isDir": False,
            "modificationTime": stat.st_mtime_ns // 1_000_000, "blockReplication": 1, "blockSize": _BLOCK_SIZE,
            "action": "add"}


def commit_batch(table_dir: str | Path, batch_id: int, files: list[Path],
                 compact_interval: int = COMPACT_INTERVAL) -> bool:
    """Record ``files`` (already in place under ``table_dir``) as batch ``batch_id`` of the table's log, as Spark's
    file sink does: one file per batch, written to a hidden temporary name and linked into place in one step (a
    reader sees the whole batch or none of it), every ``compact_interval``-th one a ``.compact`` file holding every
    live entry so far. The batch ids must follow each other (Spark's readers refuse a gap): an empty batch is
    committed too. A compaction deletes the log files that the one before it covered, once they are
    :data:`CLEANUP_DELAY_S` old. False, and nothing written, when the batch is committed already (a batch run
    again)."""
    log_dir = Path(table_dir) / METADATA_DIR
    log_dir.mkdir(parents=True, exist_ok=True)
    final = log_dir / _log_name(batch_id, compact_interval)
    if final.exists():
        return False
    entries = [_entry(f) for f in files]
    if final.suffix == ".compact":
        entries = _live_entries(log_dir, upto=batch_id - 1) + entries
    temporary = log_dir / f".{batch_id}.{uuid.uuid4().hex}.tmp"
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write("\n".join(["v1", *(json.dumps(e, separators=(",", ":")) for e in entries)]))
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(temporary, final)  # fails if it exists: never overwrites a committed batch
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    if final.suffix == ".compact":
        _delete_expired(log_dir, batch_id - compact_interval)
    return True


def _delete_expired(log_dir: Path, before: int) -> None:
    """Remove the log files of batches before ``before`` (an older compaction's id) once they are old: the newer
    ``.compact`` file holds their entries, and readers start at the newest one (as Spark's file sink does)."""
    batches, compacts = _log_files(log_dir)
    deadline = time.time() - CLEANUP_DELAY_S
    for batch_id, path in [*batches.items(), *compacts.items()]:
        if batch_id < before:
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_mtime < deadline:
                    path.unlink()


def partition_values(path: Path, root: Path) -> list[tuple[str, str]]:
    """The ``key=value`` folders between ``root`` and the data file ``path``: its partition columns, unquoted."""
    pairs = []
    for part in path.resolve().relative_to(root).parts[:-1]:
        key, sep, value = part.partition("=")
        if sep:
            pairs.append((key, unquote(value)))
    return pairs


def read_table(table_dir: str | Path, columns: list[str] | None = None) -> Any:
    """The committed rows of a file sink's Parquet output as a pandas DataFrame (needs pyarrow). Partition columns
    (``key=value`` directories, e.g. ``date=2024-05-01``) are added as strings."""
    import pandas as pd  # noqa: PLC0415 - optional dependencies of this reader
    import pyarrow.parquet as pq  # noqa: PLC0415

    frames = []
    root = Path(table_dir).resolve()
    for path in committed_files(table_dir):
        frame = pq.read_table(path).to_pandas()
        for key, value in partition_values(path, root):
            frame[key] = value
        frames.append(frame if columns is None else frame[columns])
    if not frames:
        return pd.DataFrame(columns=columns or [])
    return pd.concat(frames, ignore_index=True)
