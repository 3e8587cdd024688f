"""The Spark Structured Streaming job: chat records from Kafka -> scored messages, events, dead letters,
per-minute aggregates and a JSON snapshot.

    python -m chat_sentiment.stream --config /etc/chat-sentiment/job.toml
    chat-sentiment stream --config /etc/chat-sentiment/job.toml [--check]

Settings: :mod:`chat_sentiment.config` (a TOML file and/or ``CHAT_SENTIMENT_*`` environment variables). The logic
lives in pure modules (:mod:`~chat_sentiment.frames` parses and scores pandas frames, :mod:`~chat_sentiment.aggregate`
counts words and emotes, :mod:`~chat_sentiment.snapshot` writes the JSON file); this module only wires them into
Spark.

One query, ``ingest`` (checkpoint ``<checkpoint_dir>/ingest``), reads the source topics and, from one
``foreachBatch``, writes four Delta Lake tables under ``<output_dir>/<name>`` (read them without Spark with
:mod:`chat_sentiment.tables`: ``chat-sentiment report``, ``chat-sentiment sql``) and two topics:

============== ====================================================================================================
output         what
============== ====================================================================================================
messages       chat messages and /me actions, scored, each with the ``scorer`` that scored it (the lexicon scores
               the model's overflow when ``[scorer] fallback`` is set: :mod:`chat_sentiment.fallback`); partitioned
               by ``date``; also sent to ``kafka.scored_topic`` (JSON, key = message id)
events         every other line kind (bans, subs, viewer stats...); by ``date``
dead_letters   raw record + reason; by the ``date`` received; also to ``kafka.dead_letter_topic`` when set
aggregates     per source, channel and window: counts per label, mean score, top emotes and words, messages per
               scorer (``scored_by``)
snapshot       ``snapshot_path`` (JSON, replaced atomically each batch) with ``health.json`` beside it
============== ====================================================================================================

**No record stops the job.** The one Python step (``mapInArrow``: :func:`chat_sentiment.frames.process_batches`)
is total over any input: whatever bytes a record holds, it comes out as an event, a scored message or a dead letter
naming the reason (a parser's exception, a time Spark cannot store, text that is not valid Unicode, a scorer that
raises on that message: the scorer's batch call is split in halves down to the messages that fail it). The same
function runs behind ``chat-sentiment parse --as-job``, so an operator can check a suspicious record offline.
At start the job waits for Kafka (a log line a minute says so) instead of failing, and ``health.json`` beside the
snapshot records each batch (:mod:`chat_sentiment.health`).

Guarantees (what they cost: one anti-join per batch against the ``messages`` rows of the batch's dates and time
span, and one re-read of the windows the batch touched; no state in memory):

- **Each chat line is one row, whenever it comes.** A row is written only if the table holds no row with its
  ``(source, id)`` yet (a Filebeat re-send keeps the line's id: path + offset + line; an X post keeps its id), so a
  line re-sent a minute or a month later is dropped, and so are repeats inside a batch.
- **Crashes.** The Kafka source records each batch's offset range in the checkpoint before the batch runs, so a
  restarted job re-runs an unfinished batch over the same records. Every append carries Delta's transaction
  identifier (this checkpoint's query id, the batch id): a table that has the batch already skips it. A Delta
  commit is atomic, so no reader ever sees part of a batch.
- **Nothing is late.** There is no watermark: a line that arrives an hour late is scored and stored with its own
  time, and its window's aggregate is recomputed from the table (every window a batch's messages fall in is
  recomputed and merged into ``aggregates``, then into the snapshot). A shipper whose clock runs ahead, or a source
  with future times, cannot make the job drop anything.
- **Kafka outputs: at least once.** A batch sends its new scored messages (and dead letters) before it commits
  them; a batch re-run after a crash sends them again. Each scored record's key is the message id.

Upgrading from the release with Parquet tables (``_spark_metadata``): at start each such table is converted once to
a Delta table with exactly its committed rows (the old folder is kept as ``<table>.parquet-<time>``), and the new
``ingest`` checkpoint starts where the old ``messages`` checkpoint's last batch ended.

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
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
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

from . import aggregate, config, frames, snapshot, tables
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
    StructField("scorer", StringType()), StructField("topic", StringType()), StructField("partition", LongType()),
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
    # messages per scorer that scored them (the fallback's share: chat_sentiment.fallback); rows written before the
    # scorer column existed are in no entry
    StructField("scored_by", _COUNTS),
])
EVENTS_SCHEMA = StructType([*(PARSED_SCHEMA[name] for name in EVENT_COLUMNS), StructField("date", StringType())])
#: A dead letter's ``date`` is the day it was received (its record may have no time of its own).
DEAD_LETTERS_SCHEMA = StructType([
    *(PARSED_SCHEMA[name] for name in DEAD_LETTER_COLUMNS), StructField("received_at", TimestampType()),
    StructField("date", StringType()),
])
#: Kafka JSON of a scored message (the ``messages`` row without the Kafka provenance).
KAFKA_MESSAGE_FIELDS = ("id", "source", "channel", "ts", "user", "kind", "text", "label", "score", "scorer",
                        "emotes")

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
    # Delta Lake: the tables' format, and its SQL (MERGE INTO delta.`path`)
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.databricks.delta.snapshotPartitions": "2",  # a table's log is small: few tasks to replay it
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
                                twitter_channel=cfg.twitter_channel, fallback=cfg.scorer.fallback_scorer(),
                                fallback_budget=cfg.scorer.fallback_budget)
    return read_kafka(spark, cfg).mapInArrow(process, PARSED_SCHEMA)


def check_schemas() -> None:
    """The worker's Arrow schema is the one Spark expects of PARSED_SCHEMA (a mismatch is a bug: fail at start)."""
    expected = to_arrow_schema(PARSED_SCHEMA, timezone="UTC")
    if not expected.equals(frames.ARROW_SCHEMA):
        raise RuntimeError(f"frames.ARROW_SCHEMA {frames.ARROW_SCHEMA} is not Spark's {expected}")


def _counted(df: DataFrame) -> DataFrame:
    """``df`` with a per-batch row count in the query's progress (``observedMetrics.out.rows``)."""
    return df.observe(OUT_METRICS, F.count(F.lit(1)).alias("rows"))


def _iso_utc(column: str) -> Column:
    return F.date_format(F.col(column), "yyyy-MM-dd'T'HH:mm:ss'Z'")


def window_aggregates(messages: DataFrame, cfg: config.StreamConfig) -> DataFrame:
    """Per (source, channel, window) of ``messages`` (a static frame): counts per label, mean score, top emotes
    and words."""
    top_n = cfg.top_n

    @F.pandas_udf(_STRINGS)  # type: ignore[call-overload]
    def words(text: pd.Series, emotes: pd.Series) -> pd.Series:
        return pd.Series([aggregate.words(t, list(e) if e is not None else ())
                          for t, e in zip(text, emotes, strict=True)], dtype=object)

    @F.udf(_COUNTS)
    def top(lists: list[list[str]] | None) -> list[tuple[str, int]]:
        return aggregate.top_counts(lists, top_n)

    label, scorer = F.col("label"), F.col("scorer")
    grouped = (messages.select("source", "channel", "ts", "label", "score", "scorer", "emotes",
                               words("text", "emotes").alias("words"))
               .groupBy("source", "channel", F.window("ts", cfg.window).alias("window"))
               .agg(F.count(F.lit(1)).alias("messages"),
                    F.sum((label == "positive").cast("long")).alias("positive"),
                    F.sum((label == "neutral").cast("long")).alias("neutral"),
                    F.sum((label == "negative").cast("long")).alias("negative"),
                    F.avg("score").alias("mean_score"),
                    F.collect_list("emotes").alias("emote_lists"),
                    F.collect_list("words").alias("word_lists"),
                    *(F.sum((scorer == name).cast("long")).alias(f"_by_{name}") for name in config.SCORERS)))
    # the scorers' counts as (item, count) pairs like the top lists, the scorers that scored nothing left out
    scored_by = F.filter(F.array(*(F.struct(F.lit(name).alias("item"), F.coalesce(F.col(f"_by_{name}"), F.lit(0))
                                            .alias("count")) for name in config.SCORERS)),
                         lambda entry: entry["count"] > 0)
    return grouped.select("source", "channel", F.col("window.start").alias("window_start"),
                          F.col("window.end").alias("window_end"), "messages", "positive", "neutral", "negative",
                          "mean_score", top("emote_lists").alias("top_emotes"),
                          top("word_lists").alias("top_words"), scored_by.cast(_COUNTS).alias("scored_by"))


def window_seconds(duration: str) -> int:
    """Whole seconds in a duration such as ``1 minute`` or ``30 seconds`` (as :mod:`config` accepts them)."""
    number, unit = duration.split()
    factor = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}[unit.rstrip("s")]
    return int(int(number) * factor)


def _is_concurrent_write(error: BaseException) -> bool:
    """A Delta commit that lost a race with another writer (``chat-sentiment maintain``): retrying is safe."""
    text = f"{type(error).__name__} {error}"
    return "Concurrent" in text or "ProtocolChangedException" in text or "MetadataChangedException" in text


class DeltaTables:
    """The job's four Delta tables under ``output_dir``: created empty at start, then written batch by batch.

    Appends carry Delta's transaction identifier (``txnAppId`` = this checkpoint's query id, ``txnVersion`` = the
    batch id): a batch re-run after a crash writes nothing twice. New rows are those whose ``(source, id)`` the
    table does not hold yet (an anti-join against the table, pruned to the batch's dates and time span), so a line
    re-sent at any later time is not a second row. A commit that loses a race with ``chat-sentiment maintain`` is
    retried."""

    RETRIES = 5

    def __init__(self, spark: SparkSession, cfg: config.StreamConfig) -> None:
        self.spark = spark
        self.cfg = cfg
        self.app_id = ""  # set once the query runs (its id survives restarts from the same checkpoint)

    def path(self, table: str) -> str:
        return str(self.cfg.table_dir(table))

    def create(self) -> None:
        """Every table exists (empty at first), so readers and the first batch find them; a table of an earlier
        release gets the columns added since (:meth:`add_new_columns`)."""
        schemas = {"messages": MESSAGES_SCHEMA, "events": EVENTS_SCHEMA, "dead_letters": DEAD_LETTERS_SCHEMA,
                   "aggregates": AGGREGATES_SCHEMA}
        for table, schema in schemas.items():
            if tables.is_delta(self.path(table)):
                self.add_new_columns(table, schema)
                continue
            converted = tables.convert_parquet_table(self.path(table), tables.TABLES[table])
            if converted is not None and tables.is_delta(self.path(table)):
                log.info("table %s: converted from the Parquet table of an earlier release (kept in %s)", table,
                         converted)
                self.add_new_columns(table, schema)
                continue
            partition = tables.TABLES[table]
            writer = self.spark.createDataFrame([], schema).write.format("delta").mode("ignore")
            (writer.partitionBy(partition) if partition else writer).save(self.path(table))
            log.info("table %s created at %s", table, self.path(table))

    def add_new_columns(self, table: str, schema: StructType) -> list[str]:
        """Columns of ``schema`` that ``table`` lacks are added to it (``ALTER TABLE ... ADD COLUMNS``: a change of
        the table's metadata only; its rows read them as null), so a table written by an earlier release takes this
        release's rows. Columns are only ever added, never changed or dropped; the names added are returned."""
        have = {name.lower() for name in self.read(table).schema.fieldNames()}
        missing = [field for field in schema.fields if field.name.lower() not in have]
        if missing:
            columns = ", ".join(f"`{field.name}` {field.dataType.simpleString()}" for field in missing)
            self._retrying(f"adding columns to {table}", lambda: self.spark.sql(
                f"ALTER TABLE delta.`{self.path(table)}` ADD COLUMNS ({columns})").collect())
            log.info("table %s: added the column(s) %s of this release (earlier rows hold null there)", table,
                     columns)
        return [field.name for field in missing]

    def read(self, table: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.path(table))

    def _retrying(self, what: str, action: Callable[[], None]) -> None:
        for attempt in range(1, self.RETRIES + 1):
            try:
                action()
                return
            except Exception as error:
                if attempt == self.RETRIES or not _is_concurrent_write(error):
                    raise
                log.warning("%s lost a race with another writer (%s): retrying (%d/%d)", what,
                            str(error).splitlines()[0][:200], attempt, self.RETRIES - 1)
                time.sleep(0.5 * attempt)

    def append(self, df: DataFrame, table: str, batch_id: int) -> None:
        """``df`` appended to ``table`` as batch ``batch_id`` of this query (a second time: nothing is written)."""
        partition = tables.TABLES[table]

        def write() -> None:
            writer = (df.write.format("delta").mode("append").option("txnAppId", self.app_id)
                      .option("txnVersion", batch_id))
            (writer.partitionBy(partition) if partition else writer).save(self.path(table))
        self._retrying(f"batch {batch_id} of {table}", write)

    def new_rows(self, df: DataFrame, table: str) -> DataFrame:
        """The rows of ``df`` (with ``date``, ``ts``, ``source``, ``id``) whose ``(source, id)`` is not in ``table``
        yet, each once. The table is read only where such rows could be: the batch's dates and time span."""
        df = df.dropDuplicates(["source", "id"])
        span = df.agg(F.collect_set("date").alias("dates"), F.min("ts").alias("low"), F.max("ts").alias("high"))
        dates, low, high = span.first() or (None, None, None)
        if not dates:
            return df
        existing = self.read(table).where(F.col("date").isin(sorted(dates)))
        if low is not None and high is not None:
            existing = existing.where(F.col("ts").between(F.lit(low), F.lit(high)))
        keys = existing.select("source", "id")
        return df.join(keys, ["source", "id"], "left_anti")

    def recompute_windows(self, touched: DataFrame) -> DataFrame:
        """The aggregates of the windows in ``touched`` (``source, channel, window_start``), from every row the
        ``messages`` table holds for them now: late rows land in their own window, which is corrected."""
        wanted = touched.distinct()
        end = F.col("window_start") + F.expr(f"INTERVAL {window_seconds(self.cfg.window)} SECONDS")
        span = wanted.agg(
            F.array_union(F.collect_set(F.date_format("window_start", "yyyy-MM-dd")),
                          F.collect_set(F.date_format(end, "yyyy-MM-dd"))).alias("dates"),
            F.min("window_start").alias("low"), F.max(end).alias("high")).first()
        if span is None or not span["dates"]:
            return self.spark.createDataFrame([], AGGREGATES_SCHEMA)
        rows = (self.read("messages").where(F.col("date").isin(sorted(span["dates"])))
                .where((F.col("ts") >= F.lit(span["low"])) & (F.col("ts") < F.lit(span["high"])))
                .withColumn("window_start", F.window("ts", self.cfg.window).start)
                .join(F.broadcast(wanted), ["source", "channel", "window_start"], "left_semi")
                .drop("window_start"))
        return window_aggregates(rows, self.cfg)

    def merge_aggregates(self, fresh: DataFrame, batch_id: int) -> None:
        """``fresh`` windows replace the table's rows of the same window (or are inserted)."""
        view = f"chat_sentiment_windows_{batch_id}"
        fresh.createOrReplaceTempView(view)
        statement = (f"MERGE INTO delta.`{self.path('aggregates')}` AS t USING {view} AS s "
                     "ON t.source <=> s.source AND t.channel <=> s.channel AND t.window_start = s.window_start "
                     "WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
        try:
            self._retrying(f"batch {batch_id} of aggregates", lambda: self.spark.sql(statement).collect())
        finally:
            self.spark.catalog.dropTempView(view)


def fault_pause_before_commit() -> float:
    """Seconds to pause after a batch's ``messages`` are committed to the table and before the batch's aggregates
    and its checkpoint commit (tests only: ``$CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT``; 0 = never): the window in
    which a crash must turn into neither loss nor repeats."""
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
    """Starts the query, watches it, and stops it gracefully on request."""

    QUERY = "ingest"
    #: The query of releases before the Delta tables, whose checkpoint tells where the new query starts.
    OLD_QUERY = "messages"

    def __init__(self, spark: SparkSession, cfg: config.StreamConfig) -> None:
        self.spark = spark
        self.cfg = cfg
        self.queries: list[StreamingQuery] = []
        self.tables = DeltaTables(spark, cfg)
        self.health = Health(cfg.snapshot_file().parent / HEALTH_FILE, cfg.scorer.name, main_query=self.QUERY,
                             fallback=cfg.scorer.fallback_scorer(), fallback_budget=cfg.scorer.fallback_budget)
        self._stop = threading.Event()
        self._signals = 0

    # ---- outputs
    def _send(self, df: DataFrame, topic: str) -> None:
        """A batch's rows (``value`` and maybe ``key``) to a Kafka topic."""
        writer = (df.write.format("kafka")
                  .option("kafka.bootstrap.servers", self.cfg.kafka.bootstrap_servers).option("topic", topic))
        for key, value in {**self.cfg.kafka.client_options(), **self.cfg.kafka.options}.items():
            if key.startswith("kafka."):
                writer = writer.option(key, value)
        writer.save()

    def _write_batch(self, df: DataFrame, batch_id: int) -> None:
        """One batch of parsed rows into every table and topic (the body of ``foreachBatch``)."""
        cfg = self.cfg
        chat = F.col("kind").isin(sorted(SCORED_KINDS))
        df = (df.withColumn("_table", F.when(F.col("type") != "event", "dead_letters").when(chat, "messages")
                            .otherwise("events"))
              .withColumn("date", F.date_format("ts", "yyyy-MM-dd")))
        df.persist(StorageLevel.MEMORY_AND_DISK)  # the Kafka records are read and parsed once for every output
        held: list[DataFrame] = [df]
        try:
            counts: dict[str, int] = {}
            scored_by: dict[str, int] = {}  # the batch's chat messages per scorer that scored them
            for table, scorer, count in df.groupBy("_table", "scorer").count().collect():
                counts[table] = counts.get(table, 0) + count
                if table == "messages" and scorer:
                    scored_by[scorer] = scored_by.get(scorer, 0) + count

            def rows_of(table: str) -> DataFrame:
                return df.where(F.col("_table") == table)

            def kept(frame: DataFrame) -> DataFrame:
                frame.persist(StorageLevel.MEMORY_AND_DISK)
                held.append(frame)
                return frame

            written: dict[str, int] = {}
            # Events and dead letters first: a reader that sees a batch's messages sees the rest of it too.
            if counts.get("events"):
                events = kept(self.tables.new_rows(rows_of("events").select(*EVENT_COLUMNS, "date"), "events"))
                written["events"] = events.count()
                self.tables.append(events, "events", batch_id)
            if counts.get("dead_letters"):
                dead = kept(rows_of("dead_letters").select(*DEAD_LETTER_COLUMNS)
                            .withColumn("received_at", F.current_timestamp())
                            .withColumn("date", F.date_format("received_at", "yyyy-MM-dd")))
                written["dead_letters"] = counts["dead_letters"]
                if cfg.kafka.dead_letter_topic:
                    self._send(dead.select(F.to_json(F.struct(*DEAD_LETTERS_SCHEMA.fieldNames()[:-1]))
                                           .alias("value")), cfg.kafka.dead_letter_topic)
                self.tables.append(dead, "dead_letters", batch_id)
            if counts.get("messages"):
                batch = rows_of("messages").select(*frames.SCORED_COLUMNS, "date")
                new = kept(self.tables.new_rows(batch, "messages"))
                written["messages"] = new.count()
                if cfg.kafka.scored_topic and written["messages"]:
                    # before the commit: a batch re-run after a crash sends its new rows again (at least once)
                    self._send(new.select(F.col("id").alias("key"),
                                          F.to_json(F.struct(*KAFKA_MESSAGE_FIELDS)).alias("value")),
                               cfg.kafka.scored_topic)
                self.tables.append(new, "messages", batch_id)
                written["duplicates"] = counts["messages"] - written["messages"]
                pause = fault_pause_before_commit()
                if pause:
                    # tests only: hold the window a crash must not turn into loss or repeats
                    log.warning("fault injection: batch %d of messages is committed to the table, its aggregates "
                                "and checkpoint are not; pausing %.1fs", batch_id, pause)
                    time.sleep(pause)
                # Every window the batch's messages fall in (new or not: a re-run after a crash must redo the
                # windows its first run committed rows for) is recomputed from the table.
                touched = batch.select("source", "channel", F.window("ts", cfg.window).start.alias("window_start"))
                fresh = kept(self.tables.recompute_windows(touched))
                self.tables.merge_aggregates(fresh, batch_id)
                self._merge_snapshot(self._snapshot_rows(fresh))
            if counts:
                log.info("batch %d written: %s (received: %s%s)", batch_id,
                         " ".join(f"{k}={v}" for k, v in sorted(written.items())),
                         " ".join(f"{k}={v}" for k, v in sorted(counts.items())),
                         "".join(f" scored_by_{k}={v}" for k, v in sorted(scored_by.items())))
            self._report_fallback(batch_id, scored_by)
            self.health.dead_letters_written(counts.get("dead_letters", 0))
        finally:
            for frame in held:
                frame.unpersist()

    def _report_fallback(self, batch_id: int, scored_by: dict[str, int]) -> None:
        """Say when the model could not keep up: the batch's messages the fallback scored, in the log and in
        ``health.json``."""
        fallback = self.cfg.scorer.fallback_scorer()
        overflow = scored_by.get(fallback, 0) if fallback else 0
        if overflow:
            log.warning("batch %d: the model scored %d message(s) within its budget of %.1fs per task, the %s "
                        "fallback %d (the model does not keep up with the chat)", batch_id,
                        sum(scored_by.values()) - overflow, self.cfg.scorer.fallback_budget, fallback, overflow)
        self.health.fallback_scored(overflow)

    def starting_offsets(self) -> str:
        """Where a new ``ingest`` checkpoint starts: after the last batch the earlier release's ``messages``
        query committed, when its checkpoint covers every topic read now; else ``kafka.starting_offsets``. Reading
        a record twice is harmless (its id is in the table already)."""
        old = self.cfg.checkpoint(self.OLD_QUERY)
        if self.cfg.checkpoint(self.QUERY).exists() or not (old / "commits").is_dir():
            return self.cfg.kafka.starting_offsets
        committed = sorted((int(p.name) for p in (old / "commits").iterdir() if p.name.isdigit()), reverse=True)
        for batch in committed:
            offsets = old / "offsets" / str(batch)
            if not offsets.is_file():
                continue
            lines = offsets.read_text(encoding="utf-8").splitlines()
            try:
                positions = json.loads(lines[2])
            except (IndexError, ValueError):
                break
            if isinstance(positions, dict) and set(self.cfg.topics()) <= set(positions):
                chosen = {topic: positions[topic] for topic in self.cfg.topics()}
                log.info("new checkpoint %s starts where %s ended (batch %d): %s", self.QUERY, old, batch,
                         json.dumps(chosen, sort_keys=True))
                return json.dumps(chosen, sort_keys=True)
            break
        return self.cfg.kafka.starting_offsets

    def start(self) -> None:
        cfg = self.cfg
        Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
        Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        self.tables.create()
        self._seed_snapshot()
        starting = self.starting_offsets()
        rows = _counted(parsed(self.spark, replace(cfg, kafka=replace(cfg.kafka, starting_offsets=starting))))
        writer = (rows.writeStream.queryName(self.QUERY)
                  .option("checkpointLocation", str(cfg.checkpoint(self.QUERY)))
                  .trigger(processingTime=cfg.trigger_interval)
                  .foreachBatch(self._write_batch))
        query = writer.start()
        self.tables.app_id = f"chat-sentiment-{query.id}"
        self.queries.append(query)
        log.info("started query=%s id=%s checkpoint=%s", self.QUERY, query.id, cfg.checkpoint(self.QUERY))

    # ---- the snapshot
    def _snapshot_rows(self, df: DataFrame) -> list[dict[str, Any]]:
        rows = df.select("source", "channel", _iso_utc("window_start").alias("window_start"),
                         _iso_utc("window_end").alias("window_end"), "messages", "positive", "neutral",
                         "negative", "mean_score", "top_emotes", "top_words", "scored_by").collect()
        return [row.asDict(recursive=True) for row in rows]

    def _merge_snapshot(self, rows: list[dict[str, Any]]) -> None:
        path = self.cfg.snapshot_file()
        if not rows and path.exists():
            return
        merged = snapshot.merge_windows(snapshot.load_snapshot(path), rows, keep=self.cfg.snapshot_windows,
                                        window_seconds=window_seconds(self.cfg.window))
        snapshot.write_json_atomic(path, merged)

    def _seed_snapshot(self) -> None:
        """Without a snapshot file (first start, or deleted), build it from the aggregates table (read with
        delta-rs: no Spark job at start-up)."""
        path = self.cfg.snapshot_file()
        if snapshot.load_snapshot(path) is not None:
            return
        try:
            frame = tables.read_table(self.cfg.table_dir("aggregates"))
        except FileNotFoundError:
            return
        if frame.empty:
            return
        for column in ("window_start", "window_end"):
            frame[column] = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        self._merge_snapshot(frame.to_dict("records"))
        log.info("snapshot seeded path=%s windows=%d", path, len(frame))

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
