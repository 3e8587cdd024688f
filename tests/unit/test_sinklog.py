"""Reading a file sink's output through its commit log: uncommitted files of a killed batch are not read."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chat_sentiment import sinklog


def _write(path: Path, ids: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"id": ids}), path)
    return path


def _log(table: Path, name: str, files: list[Path], action: str = "add") -> None:
    log_dir = table / "_spark_metadata"
    log_dir.mkdir(parents=True, exist_ok=True)
    entries = [json.dumps({"path": f"file://{p}".replace(" ", "%20"), "size": 1, "isDir": False,
                           "modificationTime": 0, "blockReplication": 1, "blockSize": 1, "action": action})
               for p in files]
    (log_dir / name).write_text("\n".join(["v1", *entries]))


def test_only_committed_files_are_read(tmp_path: Path) -> None:
    table = tmp_path / "my table"
    a = _write(table / "date=2024-05-01" / "part-a.parquet", ["1", "2"])
    b = _write(table / "date=2024-05-02" / "part-b.parquet", ["3"])
    _write(table / "date=2024-05-02" / "part-orphan.parquet", ["2", "3"])  # a killed batch's file
    _log(table, "0", [a])
    _log(table, "1", [b])
    (table / "_spark_metadata" / ".2.tmp").write_text("v1\n")  # an unfinished log write
    assert sinklog.committed_files(table) == [a, b]
    frame = sinklog.read_table(table)
    assert frame.id.tolist() == ["1", "2", "3"]
    assert frame.date.tolist() == ["2024-05-01", "2024-05-01", "2024-05-02"]


def test_compacted_log_and_later_batches(tmp_path: Path) -> None:
    table = tmp_path / "t"
    files = [_write(table / f"part-{i}.parquet", [str(i)]) for i in range(4)]
    _log(table, "0", files[:1])  # superseded by the compact file (may have been cleaned up)
    _log(table, "9.compact", files[:3])
    _log(table, "10", files[3:])
    _log(table, "11", files[1:2], action="delete")
    assert sinklog.committed_files(table) == [files[0], files[2], files[3]]


def test_no_batch_yet_and_no_log(tmp_path: Path) -> None:
    (tmp_path / "t" / "_spark_metadata").mkdir(parents=True)
    assert sinklog.committed_files(tmp_path / "t") == []
    assert sinklog.read_table(tmp_path / "t").empty
    with pytest.raises(FileNotFoundError, match="not a streaming file sink's output"):
        sinklog.committed_files(tmp_path)


def test_remote_paths_are_refused(tmp_path: Path) -> None:
    log_dir = tmp_path / "_spark_metadata"
    log_dir.mkdir()
    (log_dir / "0").write_text('v1\n{"path": "hdfs://nn/x.parquet", "action": "add"}')
    with pytest.raises(ValueError, match="only local files"):
        sinklog.committed_files(tmp_path)


def test_committed_batches_are_read_back_and_compacted_like_sparks(tmp_path: Path) -> None:
    table = tmp_path / "messages"
    written: list[str] = []
    for batch in range(12):
        files = [] if batch == 4 else [_write(table / "date=2024-05-01" / f"part-{batch}.parquet", [f"id{batch}"])]
        written += [f"id{batch}"] if files else []
        assert not sinklog.is_committed(table, batch)
        assert sinklog.commit_batch(table, batch, files)
        assert sinklog.is_committed(table, batch)
        assert sinklog.latest_batch(table) == batch
    names = sorted(p.name for p in (table / "_spark_metadata").iterdir())
    assert names == sorted([*(str(b) for b in range(12) if b != 9), "9.compact"])  # no temporary file is left
    compact = (table / "_spark_metadata" / "9.compact").read_text().splitlines()
    assert compact[0] == "v1" and len(compact) == 1 + 9  # batches 0..9 but the empty one
    entry = json.loads(compact[1])
    assert entry["path"].startswith("file:///") and "/date=2024-05-01/" in entry["path"]
    assert entry["action"] == "add" and entry["size"] > 0 and entry["isDir"] is False
    assert (table / "_spark_metadata" / "4").read_text() == "v1"
    assert sinklog.read_table(table).id.tolist() == written
    # Without the batch files the compact file covers (Spark deletes them), the table reads the same.
    for batch in range(9):
        (table / "_spark_metadata" / str(batch)).unlink(missing_ok=True)
    assert sinklog.read_table(table).id.tolist() == written


def test_a_batch_is_committed_once(tmp_path: Path) -> None:
    table = tmp_path / "t"
    first = _write(table / "part-a.parquet", ["a"])
    again = _write(table / "part-b.parquet", ["a"])  # the same batch run again after a crash
    assert sinklog.commit_batch(table, 0, [first])
    assert not sinklog.commit_batch(table, 0, [again])
    assert sinklog.committed_files(table) == [first]
    assert sinklog.latest_batch(tmp_path / "none") == -1


def test_log_files_a_compaction_covers_are_deleted_once_old(tmp_path: Path) -> None:
    table = tmp_path / "t"
    log_dir = table / "_spark_metadata"
    files = [_write(table / f"part-{b}.parquet", [f"id{b}"]) for b in range(30)]
    for batch in range(20):
        sinklog.commit_batch(table, batch, [files[batch]])
    for path in log_dir.iterdir():  # the first 20 batches' log files are an hour old
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    for batch in range(20, 30):
        sinklog.commit_batch(table, batch, [files[batch]])
    # Writing 29.compact removed the old files 19.compact made redundant (0-18 and 9.compact); the newer stay.
    names = {p.name for p in log_dir.iterdir()}
    assert names == {*(str(b) for b in range(20, 29)), "19.compact", "29.compact"}
    assert sinklog.read_table(table).id.tolist() == [f"id{b}" for b in range(30)]
