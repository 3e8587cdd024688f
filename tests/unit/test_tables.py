"""The Delta tables without Spark: conversion of the old Parquet tables, retention/compaction/vacuum, SQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chat_sentiment import cli, tables
from deltalake import write_deltalake


def _old_sink(table: Path, batches: dict[str, list[str]], orphan: list[str]) -> None:
    """A table of Spark's file sink: committed batches, and a file a killed batch left behind (not in the log)."""
    (table / "_spark_metadata").mkdir(parents=True)
    for name, ids in [*batches.items(), ("orphan", orphan)]:
        path = table / f"part-{name}.parquet"
        pq.write_table(pa.table({"id": ids, "source": ["twitch"] * len(ids),
                                 "ts": pa.array([dt.datetime(2026, 12, 1, 10, 0)] * len(ids), pa.timestamp("us"))}),
                       path)
        if name != "orphan":
            (table / "_spark_metadata" / name).write_text("v1\n" + json.dumps({"path": f"file://{path}",
                                                                               "action": "add"}))


def test_an_old_table_becomes_a_delta_table_with_exactly_its_committed_rows(tmp_path: Path) -> None:
    table = tmp_path / "messages"
    _old_sink(table, {"0": ["a", "b"], "1": ["c"]}, orphan=["x"])
    kept = tables.convert_parquet_table(table, "date", stamp="T")
    assert kept == tmp_path / "messages.parquet-T" and (kept / "_spark_metadata").is_dir()
    frame = tables.read_table(table)
    assert sorted(frame.id) == ["a", "b", "c"]  # the orphan of a killed batch is not a row
    assert set(frame.date) == {"2026-12-01"}
    assert tables.convert_parquet_table(table, "date") is None  # once only
    assert not (tmp_path / "messages.delta-tmp").exists()


def test_a_converted_table_keeps_the_types_spark_wrote_even_of_columns_null_in_every_row(tmp_path: Path) -> None:
    """Through pandas, a column null in every row became Arrow's null type, stored as void: the job's first write
    to the converted events table then failed with DELTA_METADATA_MISMATCH (seen on an upgraded test-bed host)."""
    from deltalake import DeltaTable  # noqa: PLC0415

    table = tmp_path / "events"
    (table / "_spark_metadata").mkdir(parents=True)
    part = table / "date=2026-12-01" / "part-0.parquet"
    part.parent.mkdir()
    pq.write_table(pa.table({
        "id": ["a", "b"], "display_name": pa.array([None, None], pa.string()),
        "badges": pa.array([[], []], pa.list_(pa.string())), "partition": pa.array([0, 1], pa.int64()),
        "ts": pa.array([dt.datetime(2026, 12, 1, 10, 0)] * 2, pa.timestamp("us", tz="UTC"))}), part)
    (table / "_spark_metadata" / "0").write_text("v1\n" + json.dumps({"path": f"file://{part}", "action": "add"}))
    tables.convert_parquet_table(table, "date", stamp="T")
    schema = {field.name: str(field.type) for field in DeltaTable(str(table)).schema().fields}
    assert schema["display_name"] == "PrimitiveType(\"string\")", schema
    assert schema["badges"] == "ArrayType(PrimitiveType(\"string\"), contains_null=True)", schema
    assert schema["ts"] == "PrimitiveType(\"timestamp\")", schema
    assert schema["partition"] == "PrimitiveType(\"long\")", schema
    frame = tables.read_table(table)
    assert sorted(frame.id) == ["a", "b"] and set(frame.date) == {"2026-12-01"}


def test_an_old_table_with_no_committed_file_is_put_aside_for_an_empty_one(tmp_path: Path) -> None:
    """Dead letters of a deployment that never had one: a sink log, no file. Delta cannot make a table without
    columns (the conversion failed there and the job restarted in a loop on the test bed); the folder is put aside
    and the job creates the empty table with its schema."""
    table = tmp_path / "dead_letters"
    (table / "_spark_metadata").mkdir(parents=True)
    kept = tables.convert_parquet_table(table, "date", stamp="T")
    assert kept == tmp_path / "dead_letters.parquet-T" and (kept / "_spark_metadata").is_dir()
    assert not table.exists() and not tables.is_delta(table)
    assert not (tmp_path / "dead_letters.delta-tmp").exists()


def _day(table: Path, day: str, ids: list[str]) -> None:
    write_deltalake(str(table), pa.table({"id": ids, "date": [day] * len(ids), "score": [0.5] * len(ids)}),
                    partition_by=["date"], mode="append")


def test_maintain_deletes_past_retention_and_compacts(tmp_path: Path) -> None:
    out = tmp_path / "out"
    for batch in range(4):
        _day(out / "messages", "2026-11-01", [f"old{batch}"])
        _day(out / "messages", "2026-12-06", [f"new{batch}"])
    summary = tables.maintain(out, retention_days=7, today=dt.date(2026, 12, 7), vacuum_hours=0)
    done = summary["messages"]
    assert done["rows_deleted"] == 4
    assert done["files_compacted"] == 4 and done["files_written"] == 1
    assert done["files_vacuumed"] >= 8  # the deleted day's files and the compacted ones
    assert sorted(tables.read_table(out / "messages").id) == [f"new{b}" for b in range(4)]
    assert len(list((out / "messages").rglob("*.parquet"))) == 1


def test_maintain_with_no_retention_keeps_every_row(tmp_path: Path) -> None:
    _day(tmp_path / "messages", "2000-01-01", ["a"])
    assert tables.maintain(tmp_path, retention_days=0)["messages"].get("rows_deleted") is None
    assert list(tables.read_table(tmp_path / "messages").id) == ["a"]


def test_sql_over_the_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _day(tmp_path / "messages", "2026-12-06", ["a", "b"])
    query = "SELECT date, count(*) AS n FROM messages GROUP BY date"
    assert tables.sql(tmp_path, query).to_pylist() == [{"date": "2026-12-06", "n": 2}]
    assert cli.main(["sql", "--output-dir", str(tmp_path), "--json", query]) == 0
    assert json.loads(capsys.readouterr().out) == {"date": "2026-12-06", "n": 2}
    assert cli.main(["sql", "--output-dir", str(tmp_path), "SELECT * FROM nowhere"]) == 1
    assert "nowhere" in capsys.readouterr().err
