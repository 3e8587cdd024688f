"""The job's Delta Lake tables without Spark: read them, query them with SQL, keep them compact and within
retention, and convert the Parquet tables of earlier releases.

The job (:mod:`chat_sentiment.stream`) writes ``messages``, ``events``, ``dead_letters`` and ``aggregates`` under
its ``output_dir`` as Delta tables with Spark. Everything else reads them through the table's transaction log with
``deltalake`` (delta-rs), so a batch the job was killed in the middle of is never seen, and nothing here starts a
JVM:

- :func:`read_table`: a table as a pandas frame (``chat-sentiment report``, the snapshot seeding, the tests);
- :func:`sql`: ``chat-sentiment sql "SELECT ..."`` over every table at once (DataFusion's SQL);
- :func:`maintain`: compaction (OPTIMIZE), retention (rows older than ``retention_days``, by their ``date``
  partition or their window) and VACUUM of files no version needs any longer; ``chat-sentiment maintain`` on the
  role's systemd timer. It may run while the job writes: compaction and vacuum only touch files the job no longer
  reads, and the job retries a batch's write that lost a race with it;
- :func:`convert_parquet_table`: a table written by Spark's file sink (``<table>/_spark_metadata``, releases before
  the Delta tables) becomes a Delta table holding exactly its committed rows; the old folder is kept aside.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger("chat_sentiment.tables")

#: Every table the job writes, and the column its rows are partitioned by ("" = none).
TABLES = {"messages": "date", "events": "date", "dead_letters": "date", "aggregates": ""}
DELTA_LOG = "_delta_log"
#: The commit log of Spark's file sink, which the tables of earlier releases had.
SPARK_SINK_LOG = "_spark_metadata"
#: Files VACUUM leaves for readers still on an older version (and for a job's batch in flight).
VACUUM_RETENTION_HOURS = 24


def is_delta(table_dir: str | Path) -> bool:
    return (Path(table_dir) / DELTA_LOG).is_dir()


def open_table(table_dir: str | Path) -> Any:
    from deltalake import DeltaTable  # noqa: PLC0415 - only the readers need delta-rs
    from deltalake.exceptions import TableNotFoundError  # noqa: PLC0415

    if not is_delta(table_dir):
        raise FileNotFoundError(f"{table_dir} is not a Delta table (no {DELTA_LOG}/ in it)")
    try:
        return DeltaTable(str(table_dir))
    except TableNotFoundError as error:  # being created: its first commit is not written yet
        raise FileNotFoundError(f"{table_dir}: no committed version yet ({error})") from error


def read_table(table_dir: str | Path, columns: Sequence[str] | None = None) -> Any:
    """The table's rows as of its latest version (pandas; timestamps in UTC). FileNotFoundError: no such table."""
    frame = open_table(table_dir).to_pandas(columns=list(columns) if columns else None)
    for name in frame.columns:
        if str(frame[name].dtype).startswith("datetime64") and getattr(frame[name].dt, "tz", None) is None:
            frame[name] = frame[name].dt.tz_localize("UTC")
    return frame


def sql(output_dir: str | Path, query: str) -> Any:
    """``query`` over the job's tables (each registered under its own name: ``messages``, ``events``, ...) as a
    pyarrow table. Tables not written yet are not registered."""
    import pyarrow as pa  # noqa: PLC0415
    from deltalake import QueryBuilder  # noqa: PLC0415

    builder = QueryBuilder()
    for name in TABLES:
        path = Path(output_dir) / name
        if is_delta(path):
            builder = builder.register(name, open_table(path))
    return pa.table(builder.execute(query).read_all())


def retention_predicate(table: str, cutoff: dt.date) -> str:
    """The rows of ``table`` that are older than ``cutoff`` (a whole day: they are removed together)."""
    if TABLES[table] == "date":
        return f"date < '{cutoff.isoformat()}'"
    return f"window_end <= '{cutoff.isoformat()}T00:00:00Z'"


def maintain(output_dir: str | Path, retention_days: int, *, today: dt.date | None = None,
             vacuum_hours: int = VACUUM_RETENTION_HOURS) -> dict[str, dict[str, Any]]:
    """Retention, compaction and vacuum of every Delta table under ``output_dir``; a summary per table.
    ``retention_days`` <= 0 keeps every row."""
    today = today or dt.datetime.now(dt.UTC).date()
    summary: dict[str, dict[str, Any]] = {}
    for name in TABLES:
        path = Path(output_dir) / name
        if not is_delta(path):
            continue
        table = open_table(path)
        done: dict[str, Any] = {"version_before": table.version()}
        if retention_days > 0:
            cutoff = today - dt.timedelta(days=retention_days)
            deleted = table.delete(retention_predicate(name, cutoff))
            done["rows_deleted"] = int(deleted.get("num_deleted_rows", 0) or 0)
        compacted = table.optimize.compact()
        done["files_compacted"] = int(compacted.get("numFilesRemoved", 0) or 0)
        done["files_written"] = int(compacted.get("numFilesAdded", 0) or 0)
        removed = table.vacuum(retention_hours=vacuum_hours, dry_run=False, enforce_retention_duration=False)
        done["files_vacuumed"] = len(removed)
        table.cleanup_metadata()
        done["version_after"] = table.version()
        summary[name] = done
        log.info("maintained table=%s %s", name, " ".join(f"{k}={v}" for k, v in done.items()))
    return summary


def convert_parquet_table(table_dir: str | Path, partition_by: str = "", *,
                          stamp: str | None = None) -> Path | None:
    """Turn a table of Spark's file sink into a Delta table with the same committed rows; the old folder is kept as
    ``<table>.parquet-<stamp>`` beside it. None when there is nothing to convert (already Delta, or no sink log).
    A sink log without a single committed file is only put aside: no table is left at ``table_dir`` then, and the
    caller creates it empty with its own schema. Safe to re-run after a crash: the Delta table is built in
    ``<table>.delta-tmp`` and moved in at the end.

    The rows are read with the types their Parquet files declare (Spark wrote them), not through pandas: a column
    that is null in every row (a display name nobody set) would otherwise become Arrow's null type, which Delta
    stores as ``void`` and the job's next write refuses as a schema mismatch. Timestamps become UTC instants in
    microseconds, Delta's ``timestamp``, as the job writes them."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415
    from deltalake import write_deltalake  # noqa: PLC0415

    from . import sinklog  # noqa: PLC0415 - the reader of the old format

    table_dir = Path(table_dir)
    if is_delta(table_dir) or not (table_dir / SPARK_SINK_LOG).is_dir():
        return None
    stamp = stamp or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    kept = table_dir.with_name(f"{table_dir.name}.parquet-{stamp}")
    building = table_dir.with_name(table_dir.name + ".delta-tmp")
    shutil.rmtree(building, ignore_errors=True)
    files = sinklog.committed_files(table_dir)
    if not files:
        # A table nothing was ever written to (dead letters, say): no schema to carry over, and Delta cannot
        # create a table without columns. The old folder is put aside all the same.
        os.replace(table_dir, kept)
        log.info("table %s had no committed rows; the Parquet table is kept in %s", table_dir, kept)
        return kept
    root = table_dir.resolve()
    pieces = []
    for path in files:
        piece = pq.ParquetFile(path).read()  # the file alone: read_table would add key=value folders itself
        for key, value in sinklog.partition_values(path, root):
            if key not in piece.column_names:
                piece = piece.append_column(key, pa.array([value] * len(piece), pa.string()))
        pieces.append(piece)
    data = pa.concat_tables(pieces, promote_options="permissive")
    utc = [field.with_type(pa.timestamp("us", tz="UTC")) if pa.types.is_timestamp(field.type) else field
           for field in data.schema]
    data = data.cast(pa.schema(utc))
    if partition_by and partition_by not in data.column_names and "ts" in data.column_names:
        data = data.append_column(partition_by, pc.strftime(data["ts"], format="%Y-%m-%d"))
    write_deltalake(str(building), data, partition_by=[partition_by] if partition_by else None, mode="overwrite")
    os.replace(table_dir, kept)
    os.replace(building, table_dir)
    log.info("converted table %s: %d rows into Delta (the Parquet table is kept in %s)", table_dir, data.num_rows,
             kept)
    return kept
