"""The Spark Structured Streaming job: chat records from Kafka -> scored messages, events, dead letters,
per-minute aggregates and a JSON snapshot.

    python -m chat_sentiment.stream --config /etc/chat-sentiment/job.toml
    chat-sentiment stream --config /etc/chat-sentiment/job.toml [--check]

Settings: :mod:`chat_sentiment.config` (a TOML file and/or ``CHAT_SENTIMENT_*`` environment variables). The logic
lives in pure modules (:mod:`~chat_sentiment.frames` parses and scores pandas frames, :mod:`~chat_sentiment.aggregate`
counts words and emotes, :mod:`~chat_sentiment.snapshot` writes the JSON file); this module only wires them into
Spark.

Queries (each with its own checkpoint ``<checkpoint_dir>/<name>``; tables under ``<output_dir>/<name>``):

============== ======================== =================================================================
query          reads                    writes
============== ======================== =================================================================
messages       Kafka (source topics)    each record parsed once, deduplicated, then from one batch
                                        (``foreachBatch``): ``messages/`` (chat messages and /me actions,
                                        scored; Parquet by ``date``), the topic ``kafka.scored_topic``
                                        (JSON, key = message id), ``events/`` (every other line kind: bans,
                                        subs, viewer stats...; by ``date``), ``dead_letters/`` (raw record +
                                        reason) and the topic ``kafka.dead_letter_topic`` (when set)
aggregates     ``messages/``            ``aggregates/``: per channel and window (Parquet, append)
snapshot       ``aggregates/``          ``snapshot_path`` (JSON, replaced atomically each batch)
============== ======================== =================================================================

One query reads Kafka, so each record is read, parsed, scored and deduplicated once and the scored rows reach Kafka
in the batch that scored them (no second trigger in between).

**No record stops the job.** The one Python step (``mapInArrow``: :func:`chat_sentiment.frames.process_batches`)
is total over any input: whatever bytes a record holds, it comes out as an event, a scored message or a dead letter
naming the reason (a parser's exception, a time Spark cannot store, text that is not valid Unicode, a scorer that
raises on that message: the scorer's batch call is split in halves down to the messages that fail it). The same
function runs behind ``chat-sentiment parse --as-job``, so an operator can check a suspicious record offline.
At start the job waits for Kafka (a log line a minute says so) instead of failing, and ``health.json`` beside the
snapshot records each batch (:mod:`chat_sentiment.health`).

Guarantees:

- **Parquet tables: exactly once.** The Kafka source records each batch's offset range in the checkpoint's
  write-ahead log before the batch runs, so a restarted job re-runs an unfinished batch over the same records (and
  the same dedup state). Each table keeps a commit log in Spark's file sink format (``<table>/_spark_metadata``,
  :mod:`chat_sentiment.sinklog`): a batch's files are written to ``<table>/_staging/``, moved into place, and then
  committed in one step; a batch already in the log is not written again. Readers must go through that log (Spark
  does; :mod:`chat_sentiment.sinklog` does without Spark) since a killed batch can leave uncommitted files behind.
  A table's log ids follow the query's batch ids at a fixed distance, recorded once in
  ``<checkpoint_dir>/messages/chat_sentiment_tables.json``.
- **Downstream queries** read the committed ``messages``/``aggregates`` tables (the file source follows the same
  log), so every output sees the same scores.
- **Kafka outputs: at least once.** A batch sends its scored messages (and dead letters) before it commits the
  table; a batch re-run after a crash sends them again. Each scored record's key is the message id, so a consumer
  drops repeats by key.
- **The snapshot** is merged by window key, so a replayed batch rewrites the same content.
- **Dedup**: every parsed row is deduplicated by ``(source, id)`` with ``dropDuplicatesWithinWatermark`` (a dead
  letter's id is its Kafka position, so it never repeats another). The watermark is on the batch's processing
  time (``current_timestamp()``, fixed per batch and replayed identically), not on the chat time: an id seen again
  within ``dedup_delay`` of its first copy is dropped (a Filebeat re-send after a restart keeps the line's id:
  path + offset + line), and no message is ever "late" there -- chat time can go backwards (replayed logs,
  time-only stamps, skewed partitions), and a stateful operator on event time drops rows older than its watermark.
- **Aggregates** use the chat time with ``watermark_delay``: a window is written once the watermark passes its
  end; a message later than that is still in ``messages`` but not in the window, and the progress line counts it
  (``late=``).

Upgrading from the job that ran one query per table (``events``, ``dead_letters``, ``scored_kafka``,
``dead_letters_kafka`` beside ``messages``): the ``messages`` checkpoint carries on (same offsets, same dedup
state, same table log), the other tables' logs continue after their last batch, and the other checkpoints are no
longer used (they may be deleted).

Stopping: SIGTERM or SIGINT stops each query once its running batch has finished (bounded by ``stop_timeout``),
then Spark, and exits 0; a second signal stops at once. Under systemd use ``KillMode=mixed`` so that only this
process gets SIGTERM (the JVM and Python workers are its children and end with it) and ``TimeoutStopSec`` above
``stop_timeout``. Exit status: 0 after a requested stop, 1 when a query failed (systemd's ``Restart=on-failure``
restarts it from the checkpoints), 2 for a configuration error (the message names the setting).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd
import pyspark
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.streaming import StreamingQuery, StreamingQueryListener
from pyspark.sql.types import (
    ArrayType,
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)
from pyspark.storagelevel import StorageLevel

from . import aggregate, config, frames, sinklog, snapshot
from .health import Health
from .progress import OUT_METRICS, format_progress
from .records import SCORED_KINDS

log = logging.getLogger("chat_sentiment.stream")

_STRINGS = ArrayType(StringType())
PARSED_SCHEMA = StructType([
    StructField("type", StringType()), StructField("id", StringType()), StructField("source", StringType()),
    StructField("channel", StringType()), StructField("ts", TimestampType()), StructField("kind", StringType()),
    StructField("user", StringType()), StructField("display_name", StringType()), StructField("text", StringType()),
    StructField("emotes", _STRINGS), StructField("badges", _STRINGS), StructField("lang", StringType()),
    StructField("attrs", StringType()), StructField("raw", StringType()), StructField("reason", StringType()),
    StructField("origin", StringType()), StructField("label", StringType()), StructField("score", DoubleType()),
    StructField("topic", StringType()), StructField("partition", LongType()),
    StructField("offset", LongType()), StructField("kafka_ts", TimestampType()),
])
SCORED_SCHEMA = StructType([PARSED_SCHEMA[name] for name in frames.SCORED_COLUMNS])
MESSAGES_SCHEMA = StructType([*SCORED_SCHEMA.fields, StructField("date", StringType())])
EVENT_COLUMNS = ("id", "source", "channel", "ts", "kind", "user", "display_name", "text", "emotes", "badges",
                 "lang", "attrs", "topic", "partition", "offset")
DEAD_LETTER_COLUMNS = ("raw", "reason", "source", "origin", "topic", "partition", "offset", "kafka_ts")
_COUNTS = ArrayType(StructType([StructField("item", StringType()), StructField("count", LongType())]))
AGGREGATES_SCHEMA = StructType([
    StructField("source", StringType()), StructField("channel", StringType()),
    StructField("window_start", TimestampType()), StructField("window_end", TimestampType()),
    StructField("messages", LongType()), StructField("positive", LongType()), StructField("neutral", LongType()),
    StructField("negative", LongType()), StructField("mean_score", DoubleType()),
    StructField("top_emotes", _COUNTS), StructField("top_words", _COUNTS),
])
DEAD_LETTERS_SCHEMA = StructType([
    *(PARSED_SCHEMA[name] for name in DEAD_LETTER_COLUMNS), StructField("received_at", TimestampType()),
])
#: Kafka JSON of a scored message (the ``messages`` row without the Kafka provenance).
KAFKA_MESSAGE_FIELDS = ("id", "source", "channel", "ts", "user", "kind", "text", "label", "score", "emotes")

FAULT_PAUSE_ENV_VAR = "CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT"
#: The health document's file name, beside the snapshot (see :mod:`chat_sentiment.health`).
HEALTH_FILE = "health.json"
#: Seconds between attempts to reach Kafka at start, and between the log lines that say the job is waiting.
KAFKA_RETRY_S = 5.0
KAFKA_LOG_EVERY_S = 60.0

#: Settings the job always applies (``spark.conf`` in the config may override any of them).
BASE_SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    # Parquet timestamps as UTC-adjusted TIMESTAMP_MICROS (not the legacy INT96) so pandas/pyarrow readers get UTC
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.adaptive.enabled": "false",  # not used by streaming; silences a warning per query
    "spark.scheduler.mode": "FAIR",  # the queries share the cores instead of queueing behind each other
    "spark.ui.showConsoleProgress": "false",  # no progress bars in the service's log
    "spark.sql.streaming.noDataMicroBatches.enabled": "true",  # emit closed windows without new input
    # Python workers fork from a daemon that has pandas, pyarrow, this package and the lexicon loaded already
    "spark.python.daemon.module": "chat_sentiment.worker_daemon",
}
#: Spark and Kafka loggers whose warnings repeat every batch without telling the operator anything: Kafka's
#: consumer warns on every task that feeds a Python UDF (KAFKA-1894: the job never interrupts its tasks but to stop),
#: the admin client about consumer settings it ignores, the FAIR scheduler about each query's pool.
QUIET_LOGGERS = (
    "org.apache.spark.sql.kafka010.consumer.KafkaDataConsumer",
    "org.apache.kafka.clients.admin.AdminClientConfig",
    "org.apache.spark.scheduler.FairSchedulableBuilder",
)


# --------------------------------------------------------------------------------------------- building blocks


def build_session(cfg: config.StreamConfig, jars: Sequence[Path]) -> SparkSession:
    """The SparkSession with the connector jars on ``spark.jars`` (never ``--packages``: nothing is downloaded)."""
    # Python workers run this interpreter (the job's virtualenv) unless the environment says otherwise.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName(cfg.spark.app_name).master(cfg.spark.master)
    settings = {**BASE_SPARK_CONF, "spark.sql.shuffle.partitions": str(cfg.spark.shuffle_partitions),
                **cfg.spark.conf, "spark.jars": ",".join(str(j) for j in jars)}
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(cfg.spark.log_level)
    quiet_loggers(spark, QUIET_LOGGERS)
    return spark


def quiet_loggers(spark: SparkSession, names: Sequence[str]) -> None:
    """Raise the given JVM loggers to ERROR (log4j 2, as Spark 3.5 uses); best effort."""
    try:
        jvm = spark.sparkContext._jvm  # log4j has no Python API
        configurator = jvm.org.apache.logging.log4j.core.config.Configurator
        for name in names:
            configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.ERROR)
    except Exception as exc:
        log.debug("cannot change the JVM log levels: %s", exc)


def read_kafka(spark: SparkSession, cfg: config.StreamConfig) -> DataFrame:
    """The source topics as ``value, topic, partition, offset, timestamp`` rows."""
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", cfg.kafka.bootstrap_servers)
              .option("subscribe", ",".join(cfg.topics()))
              .option("startingOffsets", cfg.kafka.starting_offsets)
              .option("failOnDataLoss", str(cfg.kafka.fail_on_data_loss).lower()))
    if cfg.kafka.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(cfg.kafka.max_offsets_per_trigger))
    for key, value in {**cfg.kafka.client_options(), **cfg.kafka.options}.items():  # TLS and SASL, then extras
        reader = reader.option(key, value)
    return reader.load().select(*frames.KAFKA_COLUMNS)


def parsed(spark: SparkSession, cfg: config.StreamConfig) -> DataFrame:
    """Kafka records parsed by their topic's source parser and chat scored, in one Python step per batch
    (``mapInArrow``: the scorer, e.g. a transformers model, is built once per Python worker and scores a batch's
    texts together): events and dead letters (``type`` column). The step is total: no record fails a batch
    (:mod:`chat_sentiment.frames`)."""
    process = functools.partial(frames.process_batches, source_by_topic=cfg.source_by_topic(),
                                scorer_name=cfg.scorer.name, model=cfg.scorer.model,
                                options_json=json.dumps(cfg.scorer.options(), sort_keys=True),
                                twitter_channel=cfg.twitter_channel)
    return read_kafka(spark, cfg).mapInArrow(process, PARSED_SCHEMA)


def check_schemas() -> None:
    """The worker's Arrow schema is the one Spark expects of PARSED_SCHEMA (a mismatch is a bug: fail at start)."""
    expected = to_arrow_schema(PARSED_SCHEMA)
    if not expected.equals(frames.ARROW_SCHEMA):
        raise RuntimeError(f"frames.ARROW_SCHEMA {frames.ARROW_SCHEMA} is not Spark's {expected}")


def deduplicated(df: DataFrame, delay: str) -> DataFrame:
    """``df`` without repeats of a ``(source, id)`` seen within ``delay`` of processing time (see module doc)."""
    return (df.withColumn("_seen", F.current_timestamp())
            .withWatermark("_seen", delay)
            .dropDuplicatesWithinWatermark(["source", "id"])
            .drop("_seen"))


def _counted(df: DataFrame) -> DataFrame:
    """``df`` with a per-batch row count in the query's progress (``observedMetrics.out.rows``)."""
    return df.observe(OUT_METRICS, F.count(F.lit(1)).alias("rows"))


def _iso_utc(column: str) -> Column:
    return F.date_format(F.col(column), "yyyy-MM-dd'T'HH:mm:ss'Z'")


def aggregates(messages: DataFrame, cfg: config.StreamConfig) -> DataFrame:
    """Per (source, channel, window): counts per label, mean score, top emotes and words (append mode)."""
    top_n = cfg.top_n

    @F.pandas_udf(_STRINGS)  # type: ignore[call-overload]
    def words(text: pd.Series, emotes: pd.Series) -> pd.Series:
        return pd.Series([aggregate.words(t, list(e) if e is not None else ())
                          for t, e in zip(text, emotes, strict=True)], dtype=object)

    @F.udf(_COUNTS)
    def top(lists: list[list[str]] | None) -> list[tuple[str, int]]:
        return aggregate.top_counts(lists, top_n)

    label = F.col("label")
    grouped = (messages.select("source", "channel", "ts", "label", "score", "emotes",
                               words("text", "emotes").alias("words"))
               .withWatermark("ts", cfg.watermark_delay)
               .groupBy("source", "channel", F.window("ts", cfg.window).alias("window"))
               .agg(F.count(F.lit(1)).alias("messages"),
                    F.sum((label == "positive").cast("long")).alias("positive"),
                    F.sum((label == "neutral").cast("long")).alias("neutral"),
                    F.sum((label == "negative").cast("long")).alias("negative"),
                    F.avg("score").alias("mean_score"),
                    F.collect_list("emotes").alias("emote_lists"),
                    F.collect_list("words").alias("word_lists")))
    return grouped.select("source", "channel", F.col("window.start").alias("window_start"),
                          F.col("window.end").alias("window_end"), "messages", "positive", "neutral", "negative",
                          "mean_score", top("emote_lists").alias("top_emotes"),
                          top("word_lists").alias("top_words"))


def window_seconds(duration: str) -> int:
    """Whole seconds in a duration such as ``1 minute`` or ``30 seconds`` (as :mod:`config` accepts them)."""
    number, unit = duration.split()
    factor = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
    return int(int(number) * factor)


class TableWriter:
    """Writes a batch's rows into a table exactly once: Parquet files into ``<table>/_staging/<log id>``, moved
    into the table, then committed to the table's log (:func:`chat_sentiment.sinklog.commit_batch`). The log id of
    query batch ``n`` is ``n + base``; each table's base is chosen at its first batch (so that the log continues
    where it ends) and kept in the query's checkpoint, since a restarted query must find the same ids again."""

    BASES_FILE = "chat_sentiment_tables.json"

    def __init__(self, cfg: config.StreamConfig, query: str) -> None:
        self.cfg = cfg
        self.query = query
        self.bases_path = cfg.checkpoint(query) / self.BASES_FILE
        self.bases: dict[str, int] = (json.loads(self.bases_path.read_text(encoding="utf-8"))
                                      if self.bases_path.exists() else {})

    def log_id(self, table: str, batch_id: int) -> int:
        if table not in self.bases:
            latest = sinklog.latest_batch(self.cfg.table_dir(table))
            # The table named like the query was written by Spark's file sink under this checkpoint before: its
            # log ids are the batch ids, and the batch being run may be committed already.
            base = 0 if table == self.query and latest == batch_id else latest + 1 - batch_id
            self.bases[table] = base
            self.bases_path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.bases_path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self.bases, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self.bases_path)
            log.info("table %s: batch %d is log id %d (the log ended at %d)", table, batch_id, batch_id + base,
                     latest)
        return batch_id + self.bases[table]

    def write(self, df: DataFrame, table: str, batch_id: int, rows: int, *, partition_by: Sequence[str] = (),
              before_commit: Callable[[], None] | None = None) -> bool:
        """``df`` (``rows`` rows, 0 writes no file) as batch ``batch_id`` of ``table``; ``before_commit`` runs
        after the files are in place and before the commit. False when the batch was committed already."""
        table_dir = self.cfg.table_dir(table)
        log_id = self.log_id(table, batch_id)
        if sinklog.is_committed(table_dir, log_id):
            log.info("batch %d is in %s already (log id %d): not written again", batch_id, table, log_id)
            return False
        files: list[Path] = []
        staging = table_dir / "_staging" / str(log_id)
        if rows:
            shutil.rmtree(staging, ignore_errors=True)  # a killed run's leftovers
            writer = df.write.mode("overwrite")
            (writer.partitionBy(*partition_by) if partition_by else writer).parquet(str(staging))
            for part in sorted(staging.rglob("part-*.parquet")):
                target = table_dir / part.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(part, target)
                files.append(target)
        if before_commit is not None:
            before_commit()
        pause = fault_pause_before_commit()
        if pause and files and table == "messages":
            # tests only: hold the window a crash must not turn into loss or repeats (files in place, not committed)
            log.warning("fault injection: batch %d of %s (log id %d) has %d files in place, not committed; pausing "
                        "%.1fs before the commit", batch_id, table, log_id, len(files), pause)
            time.sleep(pause)
        sinklog.commit_batch(table_dir, log_id, files)
        shutil.rmtree(staging, ignore_errors=True)
        return True


def fault_pause_before_commit() -> float:
    """Seconds to pause between a ``messages`` batch's files being in place and its commit (tests only:
    ``$CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT``; 0 = never)."""
    try:
        return max(0.0, float(os.environ.get(FAULT_PAUSE_ENV_VAR, "0") or 0))
    except ValueError:
        return 0.0


# --------------------------------------------------------------------------------------------------- the job


class ProgressLogger(StreamingQueryListener):
    """Logs one ``progress ...`` line per micro-batch (see :mod:`chat_sentiment.progress`) and, given a
    :class:`~chat_sentiment.health.Health`, records the batch there and rewrites ``health.json``."""

    def __init__(self, health: Health | None = None) -> None:
        self.names: dict[str, str] = {}
        self.health = health

    def onQueryStarted(self, event: Any) -> None:
        self.names[str(event.id)] = event.name
        log.info("query running name=%s id=%s run=%s", event.name, event.id, event.runId)

    def onQueryProgress(self, event: Any) -> None:
        try:
            report = json.loads(event.progress.json)
            log.info("%s", format_progress(report))
            log.debug("progress durations query=%s batch=%s %s", report.get("name"), report.get("batchId"),
                      json.dumps(report.get("durationMs"), sort_keys=True))
            if self.health is not None:
                self.health.progress(report)
                self.health.write()
        except Exception:  # a log line must never break the listener bus
            log.exception("cannot record a progress report")

    def onQueryIdle(self, event: Any) -> None:
        # Spark 3.5 reports an idle trigger here (every spark.sql.streaming.noDataProgressEventInterval), not as
        # progress: the job is alive, so health.json says so (a quiet chat must not look like a stopped job).
        try:
            if self.health is not None:
                self.health.write()
        except Exception:
            log.exception("cannot record an idle report")

    def onQueryTerminated(self, event: Any) -> None:
        name = self.names.get(str(event.id), event.id)
        if event.exception:
            log.error("query terminated name=%s with an error: %s", name, event.exception.splitlines()[0])
        else:
            log.info("query terminated name=%s", name)


class StreamJob:
    """Starts the queries, watches them, and stops them gracefully on request."""

    def __init__(self, spark: SparkSession, cfg: config.StreamConfig) -> None:
        self.spark = spark
        self.cfg = cfg
        self.queries: list[StreamingQuery] = []
        self.tables = TableWriter(cfg, "messages")
        self.health = Health(cfg.snapshot_file().parent / HEALTH_FILE, cfg.scorer.name)
        self._stop = threading.Event()
        self._signals = 0

    # ---- outputs
    def _start(self, name: str, df: DataFrame, sink: Callable[[Any], Any], trigger: str) -> StreamingQuery:
        self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", name)  # FAIR: one pool per query
        writer = (df.writeStream.queryName(name)
                  .option("checkpointLocation", str(self.cfg.checkpoint(name)))
                  .trigger(processingTime=trigger))
        query = sink(writer)
        self.queries.append(query)
        log.info("started query=%s checkpoint=%s", name, self.cfg.checkpoint(name))
        return query

    def _parquet(self, table: str, partition_by: Sequence[str] = ()) -> Callable[[Any], StreamingQuery]:
        path = str(self.cfg.table_dir(table))

        def start(writer: Any) -> StreamingQuery:
            writer = writer.format("parquet").outputMode("append").option("path", path)
            return (writer.partitionBy(*partition_by) if partition_by else writer).start()
        return start

    def _table_stream(self, table: str, schema: StructType) -> DataFrame:
        return self.spark.readStream.schema(schema).parquet(str(self.cfg.table_dir(table)))

    def _send(self, df: DataFrame, topic: str) -> None:
        """A batch's rows (``value`` and maybe ``key``) to a Kafka topic."""
        writer = (df.write.format("kafka")
                  .option("kafka.bootstrap.servers", self.cfg.kafka.bootstrap_servers).option("topic", topic))
        for key, value in {**self.cfg.kafka.client_options(), **self.cfg.kafka.options}.items():
            if key.startswith("kafka."):
                writer = writer.option(key, value)
        writer.save()

    def _write_table(self, df: DataFrame, table: str, batch_id: int, counts: dict[str, int], *, topic: str = "",
                     value: Column | None = None, key: Column | None = None, partition_by: Sequence[str] = ()) -> None:
        """``df`` into ``table`` and, when ``topic`` is set and the batch has such rows, its ``key``/``value`` to the
        topic before the commit, from one computation of ``df`` (the same scores and ``received_at`` in both)."""
        rows = counts.get(table, 0)
        if not (topic and rows and value is not None):
            self.tables.write(df, table, batch_id, rows, partition_by=partition_by)
            return
        columns = [value.alias("value")] if key is None else [key.alias("key"), value.alias("value")]
        df.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            self.tables.write(df, table, batch_id, rows, partition_by=partition_by,
                              before_commit=lambda: self._send(df.select(*columns), topic))
        finally:
            df.unpersist()

    def _write_batch(self, df: DataFrame, batch_id: int) -> None:
        """One batch of parsed, deduplicated rows into every table and topic (the body of ``foreachBatch``)."""
        cfg = self.cfg
        chat = F.col("kind").isin(sorted(SCORED_KINDS))
        df = df.withColumn("_table", F.when(F.col("type") != "event", "dead_letters").when(chat, "messages")
                           .otherwise("events"))
        df.persist(StorageLevel.MEMORY_AND_DISK)  # the Kafka records are read and parsed once for every output
        try:
            counts = {row[0]: row[1] for row in df.groupBy("_table").count().collect()}

            def rows_of(table: str) -> DataFrame:
                return df.where(F.col("_table") == table)

            # Events and dead letters first: a reader that sees a batch's messages sees the rest of it too.
            events = rows_of("events").select(*EVENT_COLUMNS).withColumn("date", F.date_format("ts", "yyyy-MM-dd"))
            self._write_table(events, "events", batch_id, counts, partition_by=["date"])
            dead = rows_of("dead_letters").select(*DEAD_LETTER_COLUMNS).withColumn("received_at", F.current_timestamp())
            self._write_table(dead, "dead_letters", batch_id, counts, topic=cfg.kafka.dead_letter_topic,
                              value=F.to_json(F.struct(*DEAD_LETTERS_SCHEMA.fieldNames())))
            messages = (rows_of("messages").select(*frames.SCORED_COLUMNS)
                        .withColumn("date", F.date_format("ts", "yyyy-MM-dd")))
            self._write_table(messages, "messages", batch_id, counts, topic=cfg.kafka.scored_topic,
                              value=F.to_json(F.struct(*KAFKA_MESSAGE_FIELDS)), key=F.col("id"),
                              partition_by=["date"])
            if counts:
                log.info("batch %d written: %s", batch_id, " ".join(f"{k}={v}" for k, v in sorted(counts.items())))
            self.health.dead_letters_written(counts.get("dead_letters", 0))
        finally:
            df.unpersist()

    def start(self) -> None:
        cfg = self.cfg
        for table in ("messages", "events", "dead_letters", "aggregates"):
            cfg.table_dir(table).mkdir(parents=True, exist_ok=True)
        for table in ("messages", "events", "dead_letters"):
            # The log's folder exists before the first data file does (as Spark's file sink makes it at start): a
            # file source that finds data files and no log reads the folder's listing for good, committed or not.
            (cfg.table_dir(table) / sinklog.METADATA_DIR).mkdir(exist_ok=True)
        Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)

        # 1. Kafka -> parse -> dedup -> messages/ (scored) + scored topic, events/, dead_letters/ + their topic
        rows = deduplicated(parsed(self.spark, cfg), cfg.dedup_delay)
        self._start("messages", _counted(rows), lambda writer: writer.foreachBatch(self._write_batch).start(),
                    cfg.trigger_interval)

        # 2. per-minute aggregates from the committed messages, on a slower trigger: a window closes once a minute,
        # and the CPU goes to the messages query, whose batches are the pipeline's latency
        windows = aggregates(self._table_stream("messages", MESSAGES_SCHEMA), cfg)
        self._start("aggregates", _counted(windows), self._parquet("aggregates"), cfg.aggregate_trigger_interval)

        # 3. the JSON snapshot, from the committed aggregates
        self._seed_snapshot()
        self._start("snapshot", _counted(self._table_stream("aggregates", AGGREGATES_SCHEMA)),
                    lambda writer: writer.foreachBatch(self._write_snapshot).start(), cfg.aggregate_trigger_interval)
        log.info("running %d queries: %s", len(self.queries), " ".join(q.name for q in self.queries))

    # ---- the snapshot
    def _snapshot_rows(self, df: DataFrame) -> list[dict[str, Any]]:
        rows = df.select("source", "channel", _iso_utc("window_start").alias("window_start"),
                         _iso_utc("window_end").alias("window_end"), "messages", "positive", "neutral",
                         "negative", "mean_score", "top_emotes", "top_words").collect()
        return [row.asDict(recursive=True) for row in rows]

    def _merge_snapshot(self, rows: list[dict[str, Any]]) -> None:
        path = self.cfg.snapshot_file()
        merged = snapshot.merge_windows(snapshot.load_snapshot(path), rows, keep=self.cfg.snapshot_windows,
                                        window_seconds=window_seconds(self.cfg.window))
        snapshot.write_json_atomic(path, merged)

    def _seed_snapshot(self) -> None:
        """Without a snapshot file (first start, or deleted), build it from the aggregates committed so far (read
        through the sink's log with pyarrow: no Spark job at start-up)."""
        path = self.cfg.snapshot_file()
        if snapshot.load_snapshot(path) is not None:
            return
        try:
            frame = sinklog.read_table(self.cfg.table_dir("aggregates"))
        except FileNotFoundError:
            return
        if frame.empty:
            return
        self._merge_snapshot(frame.to_dict("records"))
        log.info("snapshot seeded path=%s windows=%d", path, len(frame))

    def _write_snapshot(self, df: DataFrame, batch_id: int) -> None:
        rows = self._snapshot_rows(df)
        if rows or not self.cfg.snapshot_file().exists():
            self._merge_snapshot(rows)
            log.info("snapshot written path=%s batch=%d new_windows=%d", self.cfg.snapshot_file(), batch_id,
                     len(rows))

    # ---- running and stopping
    def request_stop(self, signum: int, _frame: FrameType | None = None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            log.info("%s received: stopping after the running batches (at most %.0fs)", name,
                     self.cfg.stop_timeout)
        else:
            log.warning("%s received again: stopping now", name)
        self._stop.set()

    def run(self) -> int:
        """Wait until a signal asks to stop (-> 0) or a query fails (-> 1)."""
        while not self._stop.wait(0.5):
            for query in self.queries:
                if not query.isActive:
                    error = query.exception()
                    log.error("query %s stopped%s", query.name, f": {str(error).splitlines()[0]}" if error else "")
                    self.stop(graceful=False)
                    return 1
        started = time.monotonic()
        waited_out = self.stop(graceful=self._signals < 2)
        log.info("stopped %s in %.1fs", "gracefully" if not waited_out else "(batches interrupted)",
                 time.monotonic() - started)
        return 0

    def stop(self, graceful: bool = True) -> bool:
        """Stop every query (upstream first); when ``graceful``, each once its running batch has finished (an
        interrupted batch is re-run from the checkpoint at the next start). True if a batch had to be interrupted
        (``stop_timeout`` passed, or a second signal)."""
        deadline = time.monotonic() + self.cfg.stop_timeout
        interrupted = False
        for query in self.queries:
            if not query.isActive:
                continue
            while graceful:
                try:
                    if not query.status["isTriggerActive"]:
                        break
                except Exception:  # the query ended meanwhile
                    break
                if self._signals > 1 or time.monotonic() > deadline:
                    log.warning("query %s is still in a batch: interrupting it", query.name)
                    interrupted = True
                    break
                time.sleep(0.1)
            try:
                query.stop()
                log.info("stopped query=%s", query.name)
            except Exception as exc:
                log.warning("query %s did not stop cleanly: %s", query.name, exc)
        return interrupted


# ---------------------------------------------------------------------------------------------------- main


def _servers(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for entry in bootstrap.split(","):
        host, _, port = entry.strip().rpartition(":")
        if host and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


def kafka_reachable(bootstrap: str, timeout: float = 5.0, cafile: str = "") -> str | None:
    """None if a TCP connection to one of the bootstrap servers succeeds (and, with ``cafile``, a TLS handshake
    whose certificate chains to that CA and names the host), else what went wrong with each."""
    problems = []
    tls = ssl.create_default_context(cafile=cafile) if cafile else None
    for host, port in _servers(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout) as sock:
                if tls is not None:
                    with tls.wrap_socket(sock, server_hostname=host):
                        pass
                return None
        except (OSError, ssl.SSLError) as exc:
            problems.append(f"{host}:{port}: {getattr(exc, 'strerror', None) or exc}")
    return "; ".join(problems) or f"no host:port in {bootstrap!r}"


def wait_for_kafka(bootstrap: str, stopping: threading.Event, retry: float = KAFKA_RETRY_S,
                   log_every: float = KAFKA_LOG_EVERY_S, cafile: str = "") -> bool:
    """Wait until Kafka accepts connections (True), saying so in the log while it does not, or until ``stopping``
    is set (False). A job started while Kafka is down waits instead of failing, so systemd never sees a crash loop
    for it."""
    started = time.monotonic()
    last_log = -log_every
    while True:
        problem = kafka_reachable(bootstrap, cafile=cafile)
        if problem is None:
            if time.monotonic() - started > retry:
                log.info("Kafka is reachable at %s after %.0fs: starting", bootstrap, time.monotonic() - started)
            return True
        if time.monotonic() - last_log >= log_every:
            log.warning("waiting for Kafka: cannot connect to %s (%s); retrying every %.0fs", bootstrap, problem,
                        retry)
            last_log = time.monotonic()
        if stopping.wait(retry):
            return False


def setup_logging(level: str | None) -> None:
    logging.basicConfig(
        level=(level or os.environ.get(config.LOG_LEVEL_ENV_VAR) or "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)


def run(args: argparse.Namespace) -> int:
    """Run the job with parsed arguments ``config``, ``check`` and ``log_level`` (also ``chat-sentiment stream``)."""
    setup_logging(args.log_level)
    check_schemas()
    try:
        cfg = config.load(args.config)
        jars = config.resolve_jars(cfg.spark.jars)
        config.check_connector_jars(jars, pyspark.__version__)
    except config.ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    if args.check:
        json.dump({"config": config.describe(cfg), "jars": [str(j) for j in jars]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    log.info("settings %s", json.dumps(config.describe(cfg), sort_keys=True))

    job: StreamJob | None = None
    pending: list[int] = []
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        if job is None:
            pending.append(signum)  # still starting: stop as soon as the queries exist
        else:
            job.request_stop(signum, frame)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not wait_for_kafka(cfg.kafka.bootstrap_servers, stopping,
                          cafile=cfg.kafka.ssl_truststore if cfg.kafka.uses_tls() else ""):
        log.info("stopped while waiting for Kafka")
        return 0
    spark = build_session(cfg, jars)
    try:
        job = StreamJob(spark, cfg)
        spark.streams.addListener(ProgressLogger(job.health))
        job.start()
        for signum in pending:
            job.request_stop(signum)
        return job.run()
    except Exception:
        log.exception("the job failed")
        if job is not None:
            job.stop(graceful=False)
        return 1
    finally:
        spark.stop()
        log.info("spark stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_sentiment.stream", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None,
                        help=f"TOML settings file (or ${config.CONFIG_ENV_VAR}); CHAT_SENTIMENT_* variables override")
    parser.add_argument("--check", action="store_true",
                        help="check the settings and the connector jars, print them, and exit")
    parser.add_argument("--log-level", default=None, help=f"the job's log level (or ${config.LOG_LEVEL_ENV_VAR})")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
