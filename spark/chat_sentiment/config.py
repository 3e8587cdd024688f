"""The streaming job's settings: defaults, a TOML file, then ``CHAT_SENTIMENT_*`` environment variables.

Precedence (lowest first): the defaults below, the file given by ``--config`` (or ``$CHAT_SENTIMENT_CONFIG``), then
the environment variables in :data:`ENV_VARS` (what a systemd ``EnvironmentFile`` sets). Every error names the key
or the variable that caused it. Pure Python: nothing here needs Spark.

A complete file, with the defaults::

    sources = ["twitch"]                      # twitch | twitter | both: ["twitch", "twitter"]
    output_dir = "/var/lib/chat-sentiment/output"
    checkpoint_dir = "/var/lib/chat-sentiment/checkpoints"
    snapshot_path = ""                         # "" = <output_dir>/snapshot.json
    snapshot_windows = 60                      # latest windows per channel kept in the snapshot
    trigger_interval = "5 seconds"             # how often the job reads Kafka (its latency)
    window = "1 minute"                        # aggregate window (tumbling)
    retention_days = 0                         # `chat-sentiment maintain` deletes older rows (0 = keep all)
    top_n = 5                                  # top emotes / words per window
    twitter_channel = "twitter"                # channel of X posts without a matching rule tag
    stop_timeout = 120                         # seconds a graceful stop waits for the running batches

    [kafka]
    bootstrap_servers = "localhost:9092"
    topics = { twitch = "twitch-chat", twitter = "twitter" }
    starting_offsets = "earliest"              # only on the first start; later the checkpoint decides
    fail_on_data_loss = true
    max_offsets_per_trigger = 20000            # 0 = no limit
    scored_topic = "chat-sentiment-scored"     # "" = no Kafka output of the scored messages
    dead_letter_topic = ""                     # "" = dead letters only to Parquet
    options = {}                               # more Kafka client options ("kafka.<client setting>" = "...")
    security_protocol = "PLAINTEXT"            # PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    sasl_mechanism = "SCRAM-SHA-512"           # SASL_*: SCRAM-SHA-512 | SCRAM-SHA-256 | PLAIN
    sasl_username = ""                         # SASL_*: the job's Kafka identity
    sasl_password_file = ""                    # SASL_*: a file holding only its password (read at start)
    ssl_truststore = ""                        # SSL, SASL_SSL: PEM file of the CA(s) the brokers' certificates chain to

    [scorer]
    name = "lexicon"                           # lexicon | transformers
    model = ""                                 # transformers: hub id or local path ("" = the default model)
    revision = ""                              # transformers: pinned hub revision
    quantize = false                           # transformers: int8 dynamic quantization
    batch_size = 32                            # transformers: texts per forward pass
    max_length = 128                           # transformers: tokens per text (longer texts are truncated)
    runtime = "torch"                          # transformers: torch | onnx (onnx/model.onnx, see onnxmodel.py)
    labels = []                                # transformers: each class index's sentiment, ["negative", "positive"]
    threads = 0                                # transformers: threads per Python worker (0 = the runtime's choice)
    fallback = ""                              # transformers: "" | lexicon: scores what the model has no time for
    fallback_budget = 3.0                      # transformers + fallback: model seconds per Spark task and batch

    [spark]
    master = "local[*]"
    app_name = "chat-sentiment"
    jars = ["/opt/chat-sentiment/jars"]        # jar files and/or directories holding them
    shuffle_partitions = 4                     # fixed in the checkpoint at the first start
    log_level = "WARN"                         # Spark's own log level
    conf = {}                                  # any other Spark setting, e.g. {"spark.driver.memory" = "2g"}

``aggregate_trigger_interval``, ``watermark_delay`` and ``dedup_delay`` (releases before the Delta tables) are
still accepted and ignored: ids are deduplicated against the whole ``messages`` table and no row is ever late.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .fallback import DEFAULT_BUDGET_S, FALLBACK_SCORERS, SLOW_MODEL_ENV_VAR

SOURCES = ("twitch", "twitter")
SCORERS = ("lexicon", "transformers")
MODEL_RUNTIMES = ("torch", "onnx")
SENTIMENTS = ("positive", "neutral", "negative")
DEFAULT_TOPICS = {"twitch": "twitch-chat", "twitter": "twitter"}

#: The Spark Kafka connector's jars (artifact id prefixes of ``<artifact>-<version>.jar``), and which of them
#: carries Spark's version.
CONNECTOR_ARTIFACTS = (
    "spark-sql-kafka-0-10_2.13",
    "spark-token-provider-kafka-0-10_2.13",
    "kafka-clients",
    "commons-pool2",
    "delta-spark_2.13",
    "delta-storage",
)
_VERSIONED_BY_SPARK = ("spark-sql-kafka-0-10_2.13", "spark-token-provider-kafka-0-10_2.13")
_DURATION = re.compile(r"\d+ (?:millisecond|second|minute|hour|day)s?")
_JAR_VERSION = re.compile(r"-(\d[\w.+-]*)\.jar")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names the key or environment variable."""


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str = "localhost:9092"
    topics: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    starting_offsets: str = "earliest"
    fail_on_data_loss: bool = True
    max_offsets_per_trigger: int = 20_000
    scored_topic: str = "chat-sentiment-scored"
    dead_letter_topic: str = ""
    options: dict[str, str] = field(default_factory=dict)
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password_file: str = ""
    ssl_truststore: str = ""

    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def client_options(self) -> dict[str, str]:
        """The Kafka client's security settings as Spark ``kafka.*`` options (the password read from its file now;
        nothing for PLAINTEXT). Raises ConfigError naming the file it cannot read."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        options = {"kafka.security.protocol": self.security_protocol}
        if self.uses_tls() and self.ssl_truststore:
            options |= {"kafka.ssl.truststore.type": "PEM", "kafka.ssl.truststore.location": self.ssl_truststore}
        if self.uses_sasl():
            module = ("org.apache.kafka.common.security.plain.PlainLoginModule" if self.sasl_mechanism == "PLAIN"
                      else "org.apache.kafka.common.security.scram.ScramLoginModule")
            options |= {"kafka.sasl.mechanism": self.sasl_mechanism,
                        "kafka.sasl.jaas.config": f'{module} required username="{_jaas_quote(self.sasl_username)}" '
                                                  f'password="{_jaas_quote(self.sasl_password())}";'}
        return options

    def sasl_password(self) -> str:
        """The password in ``sasl_password_file`` (surrounding whitespace stripped)."""
        try:
            password = Path(self.sasl_password_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"kafka.sasl_password_file: cannot read {self.sasl_password_file}: "
                              f"{exc.strerror or exc}") from None
        if not password:
            raise ConfigError(f"kafka.sasl_password_file: {self.sasl_password_file} is empty")
        return password


def _jaas_quote(text: str) -> str:
    """``text`` inside a double-quoted JAAS option value."""
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class ScorerSettings:
    name: str = "lexicon"
    model: str = ""
    revision: str = ""
    quantize: bool = False
    batch_size: int = 32
    max_length: int = 128
    runtime: str = "torch"
    labels: tuple[str, ...] = ()
    threads: int = 0
    fallback: str = ""
    fallback_budget: float = DEFAULT_BUDGET_S

    def fallback_scorer(self) -> str:
        """The scorer of the overflow (:mod:`chat_sentiment.fallback`), "" for none: the fallback applies to the
        transformers scorer only (the lexicon scorer has nothing to fall back from)."""
        return self.fallback if self.name == "transformers" else ""

    def options(self) -> dict[str, Any]:
        """Keyword arguments of :func:`chat_sentiment.scorers.get_scorer` (besides name and model)."""
        if self.name != "transformers":
            return {}
        options: dict[str, Any] = {"revision": self.revision or None, "quantize": self.quantize,
                                   "batch_size": self.batch_size, "max_length": self.max_length}
        # only when set, so the options of an unchanged configuration stay what they were
        if self.runtime != "torch":
            options["runtime"] = self.runtime
        if self.labels:
            options["labels"] = list(self.labels)
        if self.threads:
            options["threads"] = self.threads
        return options


@dataclass(frozen=True)
class SparkSettings:
    master: str = "local[*]"
    app_name: str = "chat-sentiment"
    jars: tuple[str, ...] = ("/opt/chat-sentiment/jars",)
    shuffle_partitions: int = 4
    log_level: str = "WARN"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamConfig:
    sources: tuple[str, ...] = ("twitch",)
    output_dir: str = "/var/lib/chat-sentiment/output"
    checkpoint_dir: str = "/var/lib/chat-sentiment/checkpoints"
    snapshot_path: str = ""
    snapshot_windows: int = 60
    trigger_interval: str = "5 seconds"
    aggregate_trigger_interval: str = "10 seconds"
    window: str = "1 minute"
    watermark_delay: str = "2 minutes"
    dedup_delay: str = "10 minutes"
    retention_days: int = 0
    top_n: int = 5
    twitter_channel: str = "twitter"
    stop_timeout: float = 120.0
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    scorer: ScorerSettings = field(default_factory=ScorerSettings)
    spark: SparkSettings = field(default_factory=SparkSettings)

    # -- derived paths (one directory per table and per query) --
    def table_dir(self, name: str) -> Path:
        """``<output_dir>/<name>``: messages, events, dead_letters, aggregates."""
        return Path(self.output_dir) / name

    def checkpoint(self, query: str) -> Path:
        """``<checkpoint_dir>/<query>``: each streaming query has its own checkpoint."""
        return Path(self.checkpoint_dir) / query

    def snapshot_file(self) -> Path:
        return Path(self.snapshot_path) if self.snapshot_path else Path(self.output_dir) / "snapshot.json"

    def topics(self) -> list[str]:
        """The Kafka topics of the selected sources, in source order."""
        return [self.kafka.topics[source] for source in self.sources]

    def source_by_topic(self) -> dict[str, str]:
        return {self.kafka.topics[source]: source for source in self.sources}


# ------------------------------------------------------------------------------------------------ parsing


def _as_str(value: Any, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    return str(value).strip()


def _as_int(value: Any, where: str, minimum: int = 0) -> int:
    try:
        number = int(str(value).strip()) if not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ConfigError(f"{where}: expected a whole number >= {minimum}, got {value!r}")
    return number


def _as_float(value: Any, where: str) -> float:
    try:
        number = float(str(value).strip()) if not isinstance(value, bool) else -1.0
    except ValueError:
        number = -1.0
    if number <= 0:
        raise ConfigError(f"{where}: expected a positive number of seconds, got {value!r}")
    return number


def _as_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{where}: expected true or false, got {value!r}")


def _as_list(value: Any, where: str) -> tuple[str, ...]:
    """A list from a TOML array or a comma-separated string (empty items dropped)."""
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = [_as_str(item, where) for item in value]
    else:
        raise ConfigError(f"{where}: expected a list or a comma-separated string, got {value!r}")
    return tuple(item.strip() for item in items if item.strip())


def _as_mapping(value: Any, where: str) -> dict[str, str]:
    """A string -> string mapping from a TOML table or a JSON object string."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{where}: expected a JSON object, got {value!r} ({exc})") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table / JSON object, got {value!r}")
    return {str(k): _as_str(v, f"{where}.{k}") if not isinstance(v, bool) else str(v).lower()
            for k, v in value.items()}


def _as_duration(value: Any, where: str) -> str:
    text = _as_str(value, where)
    if not _DURATION.fullmatch(text):
        raise ConfigError(f"{where}: expected a duration like '10 seconds' or '2 minutes', got {value!r}")
    return text


def _as_sources(value: Any, where: str) -> tuple[str, ...]:
    sources = tuple(dict.fromkeys(s.lower() for s in _as_list(value, where)))
    if not sources:
        raise ConfigError(f"{where}: choose at least one source of {', '.join(SOURCES)}")
    unknown = [s for s in sources if s not in SOURCES]
    if unknown:
        raise ConfigError(f"{where}: unknown source {unknown[0]!r}; choose from {', '.join(SOURCES)}")
    return sources


def _as_scorer(value: Any, where: str) -> str:
    name = _as_str(value, where).lower()
    if name not in SCORERS:
        raise ConfigError(f"{where}: unknown scorer {name!r}; choose lexicon or transformers")
    return name


def _as_runtime(value: Any, where: str) -> str:
    name = _as_str(value, where).lower()
    if name not in MODEL_RUNTIMES:
        raise ConfigError(f"{where}: unknown runtime {name!r}; choose {' or '.join(MODEL_RUNTIMES)}")
    return name


def _as_labels(value: Any, where: str) -> tuple[str, ...]:
    """A label map: one of positive/neutral/negative per class index of the model, at least two."""
    labels = tuple(label.lower() for label in _as_list(value, where))
    wrong = [label for label in labels if label not in SENTIMENTS]
    if wrong:
        raise ConfigError(f"{where}: {wrong[0]!r} is not a sentiment; give one of {', '.join(SENTIMENTS)} per class "
                          "index of the model, e.g. [\"negative\", \"positive\"]")
    if len(labels) == 1:
        raise ConfigError(f"{where}: a label map needs one entry per class of the model (at least two), got {value!r}")
    return labels


def _as_fallback(value: Any, where: str) -> str:
    name = _as_str(value, where).lower()
    if name and name not in FALLBACK_SCORERS:
        raise ConfigError(f"{where}: unknown fallback scorer {name!r}; choose {' or '.join(FALLBACK_SCORERS)}, or "
                          "\"\" for none")
    return name


def _as_offsets(value: Any, where: str) -> str:
    text = _as_str(value, where)
    if text in ("earliest", "latest"):
        return text
    try:
        json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(f"{where}: expected earliest, latest or Spark's JSON offsets, got {value!r}") from None
    return text


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


def _one_of(choices: Sequence[str]) -> Converter:
    """A converter accepting one of ``choices`` (Kafka's upper-case names), in any case."""

    def convert(value: Any, where: str) -> str:
        text = _as_str(value, where).upper()
        if text not in choices:
            raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
        return text

    return convert


def _as_topics(value: Any, where: str) -> dict[str, str]:
    topics = dict(DEFAULT_TOPICS)
    for source, topic in _as_mapping(value, where).items():
        if source not in SOURCES:
            raise ConfigError(f"{where}: unknown source {source!r}; choose from {', '.join(SOURCES)}")
        if not topic:
            raise ConfigError(f"{where}.{source}: the topic name is empty")
        topics[source] = topic
    return topics


Converter = Callable[[Any, str], Any]

#: (section or "", key) -> how to read the value.
_KEYS: dict[tuple[str, str], Converter] = {
    ("", "sources"): _as_sources,
    ("", "output_dir"): _as_str,
    ("", "checkpoint_dir"): _as_str,
    ("", "snapshot_path"): _as_str,
    ("", "snapshot_windows"): lambda v, w: _as_int(v, w, 1),
    ("", "trigger_interval"): _as_duration,
    ("", "aggregate_trigger_interval"): _as_duration,
    ("", "window"): _as_duration,
    ("", "watermark_delay"): _as_duration,
    ("", "dedup_delay"): _as_duration,
    ("", "top_n"): lambda v, w: _as_int(v, w, 1),
    ("", "retention_days"): _as_int,
    ("", "twitter_channel"): _as_str,
    ("", "stop_timeout"): _as_float,
    ("kafka", "bootstrap_servers"): _as_str,
    ("kafka", "topics"): _as_topics,
    ("kafka", "starting_offsets"): _as_offsets,
    ("kafka", "fail_on_data_loss"): _as_bool,
    ("kafka", "max_offsets_per_trigger"): _as_int,
    ("kafka", "scored_topic"): _as_str,
    ("kafka", "dead_letter_topic"): _as_str,
    ("kafka", "options"): _as_mapping,
    ("kafka", "security_protocol"): _one_of(SECURITY_PROTOCOLS),
    ("kafka", "sasl_mechanism"): _one_of(SASL_MECHANISMS),
    ("kafka", "sasl_username"): _as_str,
    ("kafka", "sasl_password_file"): _as_str,
    ("kafka", "ssl_truststore"): _as_str,
    ("scorer", "name"): _as_scorer,
    ("scorer", "model"): _as_str,
    ("scorer", "revision"): _as_str,
    ("scorer", "quantize"): _as_bool,
    ("scorer", "batch_size"): lambda v, w: _as_int(v, w, 1),
    ("scorer", "max_length"): lambda v, w: _as_int(v, w, 8),
    ("scorer", "runtime"): _as_runtime,
    ("scorer", "labels"): _as_labels,
    ("scorer", "threads"): _as_int,
    ("scorer", "fallback"): _as_fallback,
    ("scorer", "fallback_budget"): _as_float,
    ("spark", "master"): _as_str,
    ("spark", "app_name"): _as_str,
    ("spark", "jars"): _as_list,
    ("spark", "shuffle_partitions"): lambda v, w: _as_int(v, w, 1),
    ("spark", "log_level"): _as_str,
    ("spark", "conf"): _as_mapping,
}

#: The environment variables a systemd EnvironmentFile may set, and the setting each one overrides. Lists are
#: comma-separated; ``*_OPTIONS`` / ``*_CONF`` take a JSON object; booleans take true/false.
ENV_VARS: dict[str, tuple[str, str]] = {
    "CHAT_SENTIMENT_SOURCES": ("", "sources"),
    "CHAT_SENTIMENT_OUTPUT_DIR": ("", "output_dir"),
    "CHAT_SENTIMENT_CHECKPOINT_DIR": ("", "checkpoint_dir"),
    "CHAT_SENTIMENT_SNAPSHOT_PATH": ("", "snapshot_path"),
    "CHAT_SENTIMENT_SNAPSHOT_WINDOWS": ("", "snapshot_windows"),
    "CHAT_SENTIMENT_TRIGGER_INTERVAL": ("", "trigger_interval"),
    "CHAT_SENTIMENT_AGGREGATE_TRIGGER_INTERVAL": ("", "aggregate_trigger_interval"),
    "CHAT_SENTIMENT_WINDOW": ("", "window"),
    "CHAT_SENTIMENT_WATERMARK_DELAY": ("", "watermark_delay"),
    "CHAT_SENTIMENT_DEDUP_DELAY": ("", "dedup_delay"),
    "CHAT_SENTIMENT_TOP_N": ("", "top_n"),
    "CHAT_SENTIMENT_RETENTION_DAYS": ("", "retention_days"),
    "CHAT_SENTIMENT_TWITTER_CHANNEL": ("", "twitter_channel"),
    "CHAT_SENTIMENT_STOP_TIMEOUT": ("", "stop_timeout"),
    "CHAT_SENTIMENT_KAFKA_BOOTSTRAP_SERVERS": ("kafka", "bootstrap_servers"),
    "CHAT_SENTIMENT_KAFKA_TOPICS": ("kafka", "topics"),
    "CHAT_SENTIMENT_KAFKA_STARTING_OFFSETS": ("kafka", "starting_offsets"),
    "CHAT_SENTIMENT_KAFKA_FAIL_ON_DATA_LOSS": ("kafka", "fail_on_data_loss"),
    "CHAT_SENTIMENT_KAFKA_MAX_OFFSETS_PER_TRIGGER": ("kafka", "max_offsets_per_trigger"),
    "CHAT_SENTIMENT_KAFKA_SCORED_TOPIC": ("kafka", "scored_topic"),
    "CHAT_SENTIMENT_KAFKA_DEAD_LETTER_TOPIC": ("kafka", "dead_letter_topic"),
    "CHAT_SENTIMENT_KAFKA_OPTIONS": ("kafka", "options"),
    "CHAT_SENTIMENT_KAFKA_SECURITY_PROTOCOL": ("kafka", "security_protocol"),
    "CHAT_SENTIMENT_KAFKA_SASL_MECHANISM": ("kafka", "sasl_mechanism"),
    "CHAT_SENTIMENT_KAFKA_SASL_USERNAME": ("kafka", "sasl_username"),
    "CHAT_SENTIMENT_KAFKA_SASL_PASSWORD_FILE": ("kafka", "sasl_password_file"),
    "CHAT_SENTIMENT_KAFKA_SSL_TRUSTSTORE": ("kafka", "ssl_truststore"),
    "CHAT_SENTIMENT_SCORER": ("scorer", "name"),
    "CHAT_SENTIMENT_MODEL": ("scorer", "model"),
    "CHAT_SENTIMENT_MODEL_REVISION": ("scorer", "revision"),
    "CHAT_SENTIMENT_QUANTIZE": ("scorer", "quantize"),
    "CHAT_SENTIMENT_BATCH_SIZE": ("scorer", "batch_size"),
    "CHAT_SENTIMENT_MAX_LENGTH": ("scorer", "max_length"),
    "CHAT_SENTIMENT_MODEL_RUNTIME": ("scorer", "runtime"),
    "CHAT_SENTIMENT_MODEL_LABELS": ("scorer", "labels"),
    "CHAT_SENTIMENT_MODEL_THREADS": ("scorer", "threads"),
    "CHAT_SENTIMENT_FALLBACK_SCORER": ("scorer", "fallback"),
    "CHAT_SENTIMENT_FALLBACK_BUDGET": ("scorer", "fallback_budget"),
    "CHAT_SENTIMENT_SPARK_MASTER": ("spark", "master"),
    "CHAT_SENTIMENT_SPARK_APP_NAME": ("spark", "app_name"),
    "CHAT_SENTIMENT_JARS": ("spark", "jars"),
    "CHAT_SENTIMENT_SHUFFLE_PARTITIONS": ("spark", "shuffle_partitions"),
    "CHAT_SENTIMENT_SPARK_LOG_LEVEL": ("spark", "log_level"),
    "CHAT_SENTIMENT_SPARK_CONF": ("spark", "conf"),
}
#: Names the job's config file (same as ``--config``).
CONFIG_ENV_VAR = "CHAT_SENTIMENT_CONFIG"
#: The job's own log level (DEBUG, INFO, WARNING); read by :mod:`chat_sentiment.stream`, not part of the config.
LOG_LEVEL_ENV_VAR = "CHAT_SENTIMENT_LOG_LEVEL"


def _apply(values: dict[tuple[str, str], Any], config: StreamConfig) -> StreamConfig:
    sections: dict[str, dict[str, Any]] = {"": {}, "kafka": {}, "scorer": {}, "spark": {}}
    for (section, key), value in values.items():
        sections[section][key] = value
    return replace(
        config,
        **sections[""],
        kafka=replace(config.kafka, **sections["kafka"]),
        scorer=replace(config.scorer, **sections["scorer"]),
        spark=replace(config.spark, **sections["spark"]),
    )


def from_mapping(data: Mapping[str, Any], where: str = "config", base: StreamConfig | None = None) -> StreamConfig:
    """Settings from a parsed TOML document (top-level keys and the kafka/scorer/spark tables)."""
    values: dict[tuple[str, str], Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and key in ("kafka", "scorer", "spark"):
            for sub, sub_value in value.items():
                convert = _KEYS.get((key, sub))
                if convert is None:
                    raise ConfigError(f"{where}: unknown key [{key}] {sub!r}")
                values[(key, sub)] = convert(sub_value, f"{where}: [{key}] {sub}")
            continue
        convert = _KEYS.get(("", key))
        if convert is None:
            raise ConfigError(f"{where}: unknown key {key!r}")
        values[("", key)] = convert(value, f"{where}: {key}")
    return _apply(values, base or StreamConfig())


def from_env(environ: Mapping[str, str], base: StreamConfig | None = None) -> StreamConfig:
    """``base`` with the ``CHAT_SENTIMENT_*`` variables of ``environ`` applied (unset variables change nothing)."""
    values: dict[tuple[str, str], Any] = {}
    for name, (section, key) in ENV_VARS.items():
        if name in environ:
            values[(section, key)] = _KEYS[(section, key)](environ[name], name)
    unknown = sorted(n for n in environ if n.startswith("CHAT_SENTIMENT_") and n not in ENV_VARS
                     and n not in (CONFIG_ENV_VAR, LOG_LEVEL_ENV_VAR, "CHAT_SENTIMENT_CACHE",
                                   "CHAT_SENTIMENT_FAULT_MARKER", "CHAT_SENTIMENT_FAULT_PAUSE_BEFORE_COMMIT",
                                   SLOW_MODEL_ENV_VAR))
    if unknown:
        raise ConfigError(f"unknown environment variable {unknown[0]} (known: {', '.join(sorted(ENV_VARS))})")
    return _apply(values, base or StreamConfig())


def load(path: str | Path | None = None, environ: Mapping[str, str] | None = None) -> StreamConfig:
    """Defaults, then the TOML file (``path`` or ``$CHAT_SENTIMENT_CONFIG``), then the environment."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(CONFIG_ENV_VAR) or None
    config = StreamConfig()
    if path:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        config = from_mapping(data, str(path), config)
    config = from_env(environ, config)
    validate(config)
    return config


def validate(config: StreamConfig) -> None:
    """Checks across settings (each setting alone was checked while reading it)."""
    if not config.kafka.bootstrap_servers:
        raise ConfigError("kafka.bootstrap_servers (CHAT_SENTIMENT_KAFKA_BOOTSTRAP_SERVERS) is empty")
    for name in ("output_dir", "checkpoint_dir"):
        if not getattr(config, name):
            raise ConfigError(f"{name} (CHAT_SENTIMENT_{name.upper()}) is empty")
    topics = config.topics()
    if len(set(topics)) != len(topics):
        raise ConfigError(f"the sources {list(config.sources)} read the same topic ({topics}); give each its own")
    outputs = {config.kafka.scored_topic, config.kafka.dead_letter_topic} - {""}
    if outputs & set(topics):
        raise ConfigError(f"an output topic is also an input topic: {sorted(outputs & set(topics))}")
    if not config.spark.jars:
        raise ConfigError("spark.jars (CHAT_SENTIMENT_JARS) is empty: the Kafka connector jars are needed")
    kafka = config.kafka
    if kafka.uses_sasl() and not (kafka.sasl_username and kafka.sasl_password_file):
        raise ConfigError(f"kafka.security_protocol {kafka.security_protocol} needs kafka.sasl_username and "
                          "kafka.sasl_password_file (CHAT_SENTIMENT_KAFKA_SASL_USERNAME, ..._SASL_PASSWORD_FILE)")
    if kafka.uses_sasl():
        kafka.sasl_password()  # readable and not empty, or a ConfigError naming the file


def describe(config: StreamConfig) -> dict[str, Any]:
    """The settings as a JSON-ready dict for the start-up log (Kafka options' values are hidden: secrets)."""

    def plain(obj: Any) -> Any:
        if hasattr(obj, "__dataclass_fields__"):
            return {f.name: plain(getattr(obj, f.name)) for f in fields(obj)}
        if isinstance(obj, tuple):
            return list(obj)
        return obj

    out = plain(config)
    out["kafka"]["options"] = dict.fromkeys(config.kafka.options, "***")
    return out


# ------------------------------------------------------------------------------------------------ jars


def resolve_jars(entries: Sequence[str]) -> list[Path]:
    """The jar files named by ``entries``: each a ``.jar`` file or a directory whose ``*.jar`` files are taken
    (not recursive). Raises ConfigError naming an entry that does not exist or holds no jar."""
    jars: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.glob("*.jar") if p.is_file())
            if not found:
                raise ConfigError(f"spark.jars: the directory {path} holds no .jar file")
            jars.extend(found)
        elif path.is_file() and path.suffix == ".jar":
            jars.append(path)
        elif path.exists():
            raise ConfigError(f"spark.jars: {path} is neither a .jar file nor a directory")
        else:
            raise ConfigError(f"spark.jars: {path} does not exist")
    return list(dict.fromkeys(p.resolve() for p in jars))


def check_connector_jars(jars: Sequence[Path], spark_version: str | None = None) -> dict[str, Path]:
    """The connector jar of each artifact in :data:`CONNECTOR_ARTIFACTS`, found by file name among ``jars``.

    Raises ConfigError naming each missing jar (``spark-sql-kafka-0-10_2.13-<version>.jar``...), a second copy
    of one, or -- when ``spark_version`` is given -- a Spark connector built for another Spark version.
    """
    found: dict[str, list[Path]] = {artifact: [] for artifact in CONNECTOR_ARTIFACTS}
    for jar in jars:
        for artifact in CONNECTOR_ARTIFACTS:
            match = _JAR_VERSION.fullmatch(jar.name[len(artifact):]) if jar.name.startswith(artifact) else None
            if match:
                found[artifact].append(jar)
    missing = [artifact for artifact, paths in found.items() if not paths]
    if missing:
        version = spark_version or "<spark version>"
        names = ", ".join(f"{a}-{version if a in _VERSIONED_BY_SPARK else '<version>'}.jar" for a in missing)
        searched = ", ".join(sorted({str(j.parent) for j in jars})) or "nothing"
        raise ConfigError(f"missing Kafka connector jar(s): {names} (searched: {searched}); "
                          "stage them from the mirror or Maven Central and list them in spark.jars")
    for artifact, paths in found.items():
        if len(paths) > 1:
            raise ConfigError(f"more than one {artifact} jar: {', '.join(map(str, paths))}; keep one")
    if spark_version:
        for artifact in _VERSIONED_BY_SPARK:
            jar = found[artifact][0]
            version = _JAR_VERSION.fullmatch(jar.name[len(artifact):]).group(1)  # type: ignore[union-attr]
            if version != spark_version:
                raise ConfigError(f"{jar.name} is for Spark {version}, but this is Spark {spark_version}: "
                                  f"stage {artifact}-{spark_version}.jar")
    return {artifact: paths[0] for artifact, paths in found.items()}
