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
messages       Kafka (source topics)    ``messages/``: chat messages and /me actions, deduplicated, scored
                                        (Parquet, partitioned by ``date``)
events         Kafka                    ``events/``: every other line kind (bans, subs, viewer stats...),
                                        deduplicated, not scored (Parquet, ``kind`` column, by ``date``)
dead_letters   Kafka                    ``dead_letters/``: raw record + reason (Parquet)
scored_kafka   ``messages/``            the Kafka topic ``kafka.scored_topic`` (JSON, key = message id)
dead_letters_kafka ``dead_letters/``    the Kafka topic ``kafka.dead_letter_topic`` (when set)
aggregates     ``messages/``            ``aggregates/``: per channel and window (Parquet, append)
snapshot       ``aggregates/``          ``snapshot_path`` (JSON, replaced atomically each batch)
============== ======================== =================================================================

Guarantees:

- **Parquet tables: exactly once.** The Kafka source records each batch's offset range in the checkpoint's
  write-ahead log before the batch runs, so a restarted job re-runs an unfinished batch over the same records;
  the file sink commits a batch's files to ``<table>/_spark_metadata`` in one step and skips a batch id it has
  already committed. Readers must go through that log (Spark does; :mod:`chat_sentiment.sinklog` does without
  Spark) since a killed batch can leave uncommitted files behind.
- **Downstream queries** read the committed ``messages``/``aggregates`` tables (the file source follows the same
  log), so scoring runs once per message and every output sees the same scores.
- **Kafka outputs: at least once.** Kafka's sink is not transactional in Spark: a batch re-run after a crash is
  sent again. Each scored record's key is the message id, so a consumer drops repeats by key.
- **The snapshot** is merged by window key, so a replayed batch rewrites the same content.
- **Dedup**: messages and events are deduplicated by ``(source, id)`` with ``dropDuplicatesWithinWatermark``.
  The watermark is on the batch's processing time (``current_timestamp()``, fixed per batch and replayed
  identically), not on the chat time: an id seen again within ``dedup_delay`` of its first copy is dropped (a
  Filebeat re-send after a restart keeps the line's id: path + offset), and no message is ever "late" there --
  chat time can go backwards (replayed logs, time-only stamps, skewed partitions), and a stateful operator on
  event time drops rows older than its watermark.
- **Aggregates** use the chat time with ``watermark_delay``: a window is written once the watermark passes its
  end; a message later than that is still in ``messages`` but not in the window, and the progress line counts it
  (``late=``).

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
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import pandas as pd
import pyspark
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
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

from . import aggregate, config, frames, sinklog, snapshot
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
    StructField("origin", StringType()), StructField("topic", StringType()), StructField("partition", LongType()),
    StructField("offset", LongType()), StructField("kafka_ts", TimestampType()),
])
SCORED_SCHEMA = StructType([PARSED_SCHEMA[name] if name in PARSED_SCHEMA.fieldNames() else
                            StructField(name, StringType() if name == "label" else DoubleType())
                            for name in frames.SCORED_COLUMNS])
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
    for key, value in cfg.kafka.options.items():
        reader = reader.option(key, value)
    return reader.load().select(*frames.KAFKA_COLUMNS)


def parsed(spark: SparkSession, cfg: config.StreamConfig) -> DataFrame:
    """Kafka records parsed by their topic's source parser: events and dead letters (``type`` column)."""
    parse = functools.partial(frames.parse_frames, source_by_topic=cfg.source_by_topic(),
                              twitter_channel=cfg.twitter_channel)
    return read_kafka(spark, cfg).mapInPandas(parse, PARSED_SCHEMA)


def deduplicated(df: DataFrame, delay: str) -> DataFrame:
    """``df`` without repeats of a ``(source, id)`` seen within ``delay`` of processing time (see module doc)."""
    return (df.withColumn("_seen", F.current_timestamp())
            .withWatermark("_seen", delay)
            .dropDuplicatesWithinWatermark(["source", "id"])
            .drop("_seen"))


def _score_partition(batches: Iterator[pd.DataFrame], name: str, model: str,
                     options_json: str) -> Iterator[pd.DataFrame]:
    scorer = None
    for batch in batches:
        scorer = scorer or frames.cached_scorer(name, model, options_json)
        yield frames.score_frame(batch, scorer)


def scored(df: DataFrame, cfg: config.StreamConfig) -> DataFrame:
    """Chat rows with ``label`` and ``score``: an iterator ``mapInPandas``, so the scorer (a transformers model)
    is built once per Python worker and scores Arrow batches, not single rows."""
    score = functools.partial(_score_partition, name=cfg.scorer.name, model=cfg.scorer.model,
                              options_json=json.dumps(cfg.scorer.options(), sort_keys=True))
    return df.select(*[c for c in frames.SCORED_COLUMNS if c not in ("label", "score")]).mapInPandas(
        score, SCORED_SCHEMA)


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


# --------------------------------------------------------------------------------------------------- the job


class ProgressLogger(StreamingQueryListener):
    """Logs one ``progress ...`` line per micro-batch (see :mod:`chat_sentiment.progress`)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def onQueryStarted(self, event: Any) -> None:
        self.names[str(event.id)] = event.name
        log.info("query running name=%s id=%s run=%s", event.name, event.id, event.runId)

    def onQueryProgress(self, event: Any) -> None:
        try:
            report = json.loads(event.progress.json)
            log.info("%s", format_progress(report))
            log.debug("progress durations query=%s batch=%s %s", report.get("name"), report.get("batchId"),
                      json.dumps(report.get("durationMs"), sort_keys=True))
        except Exception:  # a log line must never break the listener bus
            log.exception("cannot format a progress report")

    def onQueryIdle(self, event: Any) -> None:
        pass

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
        self._stop = threading.Event()
        self._signals = 0

    # ---- outputs
    def _start(self, name: str, df: DataFrame, sink: Callable[[Any], Any]) -> StreamingQuery:
        self.spark.sparkContext.setLocalProperty("spark.scheduler.pool", name)  # FAIR: one pool per query
        writer = (df.writeStream.queryName(name)
                  .option("checkpointLocation", str(self.cfg.checkpoint(name)))
                  .trigger(processingTime=self.cfg.trigger_interval))
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

    def _kafka(self, topic: str) -> Callable[[Any], StreamingQuery]:
        def start(writer: Any) -> StreamingQuery:
            writer = (writer.format("kafka").outputMode("append")
                      .option("kafka.bootstrap.servers", self.cfg.kafka.bootstrap_servers).option("topic", topic))
            for key, value in self.cfg.kafka.options.items():
                if key.startswith("kafka."):
                    writer = writer.option(key, value)
            return writer.start()
        return start

    def _table_stream(self, table: str, schema: StructType) -> DataFrame:
        return self.spark.readStream.schema(schema).parquet(str(self.cfg.table_dir(table)))

    def start(self) -> None:
        cfg = self.cfg
        for table in ("messages", "events", "dead_letters", "aggregates"):
            cfg.table_dir(table).mkdir(parents=True, exist_ok=True)
        Path(cfg.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        chat = F.col("kind").isin(sorted(SCORED_KINDS))
        is_event = F.col("type") == "event"

        # 1. Kafka -> parse -> dedup -> score -> messages/ (first: the downstream queries read its output)
        messages = deduplicated(parsed(self.spark, cfg).where(is_event & chat), cfg.dedup_delay)
        messages = scored(messages, cfg).withColumn("date", F.date_format("ts", "yyyy-MM-dd"))
        self._start("messages", _counted(messages), self._parquet("messages", ["date"]))

        # 2. the other line kinds, kept as events
        events = deduplicated(parsed(self.spark, cfg).where(is_event & ~chat), cfg.dedup_delay)
        events = events.select(*EVENT_COLUMNS).withColumn("date", F.date_format("ts", "yyyy-MM-dd"))
        self._start("events", _counted(events), self._parquet("events", ["date"]))

        # 3. dead letters: raw record + reason
        dead = parsed(self.spark, cfg).where(F.col("type") == "dead_letter").select(*DEAD_LETTER_COLUMNS)
        dead = dead.withColumn("received_at", F.current_timestamp())
        self._start("dead_letters", _counted(dead), self._parquet("dead_letters"))

        # 4. scored messages to Kafka (at least once; key = id)
        if cfg.kafka.scored_topic:
            out = self._table_stream("messages", MESSAGES_SCHEMA).select(
                F.col("id").alias("key"),
                F.to_json(F.struct(*KAFKA_MESSAGE_FIELDS)).alias("value"))
            self._start("scored_kafka", _counted(out), self._kafka(cfg.kafka.scored_topic))
        if cfg.kafka.dead_letter_topic:
            out = self._table_stream("dead_letters", DEAD_LETTERS_SCHEMA).select(
                F.to_json(F.struct(*DEAD_LETTERS_SCHEMA.fieldNames())).alias("value"))
            self._start("dead_letters_kafka", _counted(out), self._kafka(cfg.kafka.dead_letter_topic))

        # 5. per-minute aggregates from the committed messages
        windows = aggregates(self._table_stream("messages", MESSAGES_SCHEMA), cfg)
        self._start("aggregates", _counted(windows), self._parquet("aggregates"))

        # 6. the JSON snapshot, from the committed aggregates
        self._seed_snapshot()
        self._start("snapshot", _counted(self._table_stream("aggregates", AGGREGATES_SCHEMA)),
                    lambda writer: writer.foreachBatch(self._write_snapshot).start())
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

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if job is None:
            pending.append(signum)  # still starting: stop as soon as the queries exist
        else:
            job.request_stop(signum, frame)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    spark = build_session(cfg, jars)
    try:
        spark.streams.addListener(ProgressLogger())
        job = StreamJob(spark, cfg)
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
