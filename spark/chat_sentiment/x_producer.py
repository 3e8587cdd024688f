"""X API v2 -> Kafka producer: the Twitter source without Logstash (``chat-sentiment-x-producer``).

Two modes, one record shape. ``search`` polls recent search (``GET /2/tweets/search/recent``) every ``interval_s``
with ``since_id`` = the last post id produced; ``stream`` reconciles the filtered stream's rules with the ones
configured (adds the missing, deletes the extra), connects to ``GET /2/tweets/search/stream`` and, on every
(re)connection, backfills the gap since the last post id with recent search, per rule, de-duplicated by id.

Each post becomes one Kafka record: key = the post id, value = ``{"data": post, "includes": {"users": [author]},
"matching_rules": [...]}`` (the filtered stream's message shape, which ``chat_sentiment.twitter`` parses: the
author gives ``user``/``display_name``, the first rule's tag the channel). The last post id is persisted
atomically only after Kafka acknowledged the records (``acks=all``, flush), so a restart neither loses nor repeats
posts.

Rate limits: the ``x-rate-limit-*`` headers are honoured (no request before ``x-rate-limit-reset`` once
``remaining`` is 0; a 429 waits for the reset, else backs off exponentially from a minute). Reconnects follow X's
guidance: linear back-off for network errors (+250 ms, up to 16 s), exponential for HTTP errors (5 s doubling,
up to 320 s). The bearer token comes from the environment (``X_BEARER_TOKEN``, a systemd EnvironmentFile) and is
never logged.

The module uses the standard library and kafka-python only, and runs as a file too (the twitter_producer role
installs it alone into a virtualenv holding kafka-python):

    X_BEARER_TOKEN=... python x_producer.py --config /etc/twitter-producer/config.json
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import queue
import signal
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG = logging.getLogger("x_producer")
TOKEN_ENV = "X_BEARER_TOKEN"
EXIT_CONFIG = 78  # EX_CONFIG: a bad configuration or token; restarting does not help
SEARCH_PATH = "/2/tweets/search/recent"
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
STREAM_BATCH = 500  # stream messages produced (and acknowledged) together at most


# ------------------------------------------------------------------------------------------------ configuration
class ConfigError(Exception):
    """The configuration (or the token) is unusable; the message says which setting."""


@dataclass(frozen=True)
class StreamRule:
    value: str
    tag: str | None = None


@dataclass(frozen=True)
class BackoffPolicy:
    """X's reconnect guidance, in seconds (smaller in tests)."""

    network_step: float = 0.25
    network_max: float = 16.0
    http_initial: float = 5.0
    http_max: float = 320.0
    rate_limit_initial: float = 60.0
    rate_limit_max: float = 900.0


@dataclass(frozen=True)
class Config:
    mode: str
    bootstrap_servers: tuple[str, ...]
    state_file: Path
    api_base: str = "https://api.x.com"
    query: str = ""
    rules: tuple[StreamRule, ...] = ()
    manage_rules: bool = True
    tweet_fields: tuple[str, ...] = ("created_at", "author_id", "lang", "conversation_id", "referenced_tweets",
                                     "public_metrics")
    expansions: tuple[str, ...] = ("author_id",)
    user_fields: tuple[str, ...] = ("username", "name")
    max_results: int = 100
    max_pages: int = 100
    interval_s: float = 30.0
    topic: str = "twitter"
    request_timeout_s: float = 30.0
    stream_read_timeout_s: float = 30.0
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    kafka: dict[str, Any] = field(default_factory=dict)
    #: At start, the keys of the topic's last records (per partition) are read, so posts acknowledged by Kafka
    #: but not yet in the state file (a kill -9 between the two) are not sent again. 0 turns this off.
    recovery_depth: int = 10_000


def load_config(path: Path) -> Config:
    """The JSON configuration file -> Config; every problem names the setting."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the configuration must be a JSON object")
    known = set(Config.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown settings {unknown}")
    values = dict(raw)
    try:
        values["bootstrap_servers"] = tuple(raw.get("bootstrap_servers") or ())
        values["state_file"] = Path(raw["state_file"])
        values["rules"] = tuple(StreamRule(str(r["value"]), r.get("tag") or None) for r in raw.get("rules") or ())
        for name in ("tweet_fields", "expansions", "user_fields"):
            if name in raw:
                values[name] = tuple(raw[name])
        values["backoff"] = BackoffPolicy(**(raw.get("backoff") or {}))
        config = Config(**values)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {type(exc).__name__}: {exc}") from exc
    return validate(config)


def validate(config: Config) -> Config:
    if config.mode not in ("stream", "search"):
        raise ConfigError(f"mode must be 'stream' or 'search', not {config.mode!r}")
    if config.mode == "search" and not config.query.strip():
        raise ConfigError("search mode needs a non-empty 'query'")
    if config.mode == "stream" and config.manage_rules and not config.rules:
        raise ConfigError("stream mode with manage_rules needs at least one rule in 'rules'")
    if not config.bootstrap_servers:
        raise ConfigError("'bootstrap_servers' is empty: no Kafka broker to send to")
    if not 10 <= config.max_results <= 100:
        raise ConfigError(f"max_results must be 10..100 (the API's bounds), not {config.max_results}")
    if not config.topic:
        raise ConfigError("'topic' is empty")
    return config


# ------------------------------------------------------------------------------------------------ pure logic
def id_int(post_id: str | int) -> int:
    return int(post_id)


def newest(ids: Sequence[str | None]) -> str | None:
    """The greatest post id (ids are snowflakes, so the newest), or None."""
    present = [i for i in ids if i]
    return max(present, key=id_int) if present else None


def header_int(headers: Any, name: str) -> int | None:
    value = headers.get(name) if headers is not None else None
    try:
        return int(str(value).strip()) if value is not None else None
    except ValueError:
        return None


def rate_limit_pause(status: int, headers: Any, now: float) -> float | None:
    """Seconds to wait before this endpoint may be called again, from ``x-rate-limit-*``.

    0 when requests remain; the time to ``x-rate-limit-reset`` (plus a second of clock slack) when the response
    is a 429 or ``remaining`` is 0; None when it must wait but the headers do not say how long.
    """
    remaining = header_int(headers, "x-rate-limit-remaining")
    reset = header_int(headers, "x-rate-limit-reset")
    if status != 429 and (remaining is None or remaining > 0):
        return 0.0
    if reset is None:
        return None
    return max(reset - now, 0.0) + 1.0


class Backoff:
    """Reconnect/retry delays: linear for network errors, exponential for HTTP errors and for 429s."""

    def __init__(self, policy: BackoffPolicy) -> None:
        self.policy = policy
        self.network_attempts = 0
        self.http_attempts = 0
        self.rate_limit_attempts = 0

    def network(self) -> float:
        self.network_attempts += 1
        return min(self.policy.network_step * self.network_attempts, self.policy.network_max)

    def http(self) -> float:
        delay = min(self.policy.http_initial * 2 ** self.http_attempts, self.policy.http_max)
        self.http_attempts += 1
        return delay

    def rate_limited(self, headers: Any, now: float) -> float:
        delay = rate_limit_pause(429, headers, now)
        if delay is None:
            delay = min(self.policy.rate_limit_initial * 2 ** self.rate_limit_attempts, self.policy.rate_limit_max)
        self.rate_limit_attempts += 1
        return delay

    def reset(self) -> None:
        self.network_attempts = self.http_attempts = self.rate_limit_attempts = 0


def plan_rules(desired: Sequence[StreamRule], current: Sequence[dict[str, Any]]) -> tuple[list[StreamRule], list[str]]:
    """(rules to add, rule ids to delete) that turn the server's rules into the desired set (value and tag)."""
    wanted = {(r.value, r.tag or None) for r in desired}
    have: dict[tuple[str, str | None], str] = {}
    delete: list[str] = []
    for rule in current:
        key = (str(rule.get("value")), rule.get("tag") or None)
        if key in wanted and key not in have:
            have[key] = str(rule["id"])
        else:
            delete.append(str(rule["id"]))
    add = []
    for rule in desired:
        key = (rule.value, rule.tag or None)
        if key not in have and rule not in add:
            add.append(rule)
    return add, delete


def records_from(message: dict[str, Any], matching_rules: list[dict[str, Any]] | None = None
                 ) -> list[tuple[str, dict[str, Any]]]:
    """A search page or a stream message -> (post id, record value) per post, oldest first.

    The value is the stream message shape with only this post's author in ``includes.users``.
    """
    data = message.get("data")
    posts = data if isinstance(data, list) else [data] if isinstance(data, dict) else []
    users = ((message.get("includes") or {}).get("users")) or []
    by_id = {str(u.get("id")): u for u in users if isinstance(u, dict)}
    rules = message.get("matching_rules", matching_rules)
    out = []
    for post in posts:
        if not isinstance(post, dict) or not str(post.get("id", "")).isdigit():
            continue
        value: dict[str, Any] = {"data": post}
        author = by_id.get(str(post.get("author_id")))
        if author is not None:
            value["includes"] = {"users": [author]}
        if rules:
            value["matching_rules"] = rules
        out.append((str(post["id"]), value))
    out.sort(key=lambda item: id_int(item[0]))
    return out


class SeenIds:
    """The ids produced lately (bounded), so a backfill overlapping the stream repeats nothing."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, post_id: object) -> bool:
        return post_id in self._ids

    def add(self, post_id: str) -> None:
        self._ids[post_id] = None
        self._ids.move_to_end(post_id)
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)


class StateFile:
    """The last produced post id, in a small JSON file replaced atomically (write, fsync, rename, fsync dir)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> str | None:
        try:
            raw = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            last_id = json.loads(raw)["last_id"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ConfigError(f"state file {self.path} is unreadable ({exc}); fix or remove it "
                              "(removing it restarts from the recent posts)") from exc
        if last_id is not None and not str(last_id).isdigit():
            raise ConfigError(f"state file {self.path}: last_id {last_id!r} is not a post id")
        return str(last_id) if last_id is not None else None

    def save(self, last_id: str) -> None:
        directory = self.path.parent
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump({"last_id": last_id, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                          handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


# ------------------------------------------------------------------------------------------------ HTTP
class ApiError(Exception):
    """A non-2xx answer of the API (the body is the API's error document)."""

    def __init__(self, status: int, headers: Any, body: str) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        super().__init__(f"HTTP {status}: {body[:300]}")


class NetworkError(Exception):
    """No answer: connection refused or reset, timeout, a truncated body."""


class StopRequested(Exception):
    """SIGTERM/SIGINT arrived while the producer waited."""


NETWORK_ERRORS = (OSError, http.client.HTTPException, urllib.error.URLError, TimeoutError)


@dataclass
class Response:
    status: int
    headers: Any
    body: Any


class XClient:
    """The API calls the producer makes, with the bearer token; no retries here."""

    def __init__(self, base: str, token: str, timeout_s: float) -> None:
        self.base = base.rstrip("/")
        self._token = token
        self.timeout_s = timeout_s

    def __repr__(self) -> str:  # the token stays out of every log line and traceback
        return f"XClient({self.base!r})"

    def _request(self, method: str, path: str, params: dict[str, str] | None = None,
                 body: Any = None, timeout_s: float | None = None) -> http.client.HTTPResponse:
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self._token}")
        request.add_header("User-Agent", "chat-sentiment-x-producer")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            return urllib.request.urlopen(request, timeout=timeout_s or self.timeout_s)
        except urllib.error.HTTPError as exc:
            text = exc.read().decode("utf-8", "replace")
            raise ApiError(exc.code, exc.headers, text) from None
        except NETWORK_ERRORS as exc:
            raise NetworkError(f"{method} {self.base}{path}: {exc}") from None

    def call(self, method: str, path: str, params: dict[str, str] | None = None, body: Any = None) -> Response:
        response = self._request(method, path, params, body)
        with response:
            try:
                raw = response.read()
            except NETWORK_ERRORS as exc:
                raise NetworkError(f"{method} {self.base}{path}: reading the body: {exc}") from None
        try:
            parsed = json.loads(raw or b"null")
        except json.JSONDecodeError as exc:
            raise ApiError(response.status, response.headers, f"not JSON ({exc}): {raw[:200]!r}") from None
        return Response(response.status, response.headers, parsed)

    def open_stream(self, params: dict[str, str], read_timeout_s: float) -> http.client.HTTPResponse:
        return self._request("GET", STREAM_PATH, params, timeout_s=read_timeout_s)


# ------------------------------------------------------------------------------------------------ Kafka
def encode_value(value: Any) -> bytes:
    """A record value as sent: JSON (UTF-8, compact) or, for a line that is not JSON, its bytes unchanged."""
    if isinstance(value, bytes):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


#: The environment variable holding the SASL password (the service's root-only EnvironmentFile), so the
#: configuration file holds no secret.
KAFKA_PASSWORD_ENV = "X_PRODUCER_KAFKA_PASSWORD"
_SECURITY_PREFIXES = ("security_", "sasl_", "ssl_")


def security_settings(kafka: dict[str, Any], environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The TLS and SASL settings of ``kafka`` (kafka-python's names), which the producer and the recovery consumer
    share, with the password from :data:`KAFKA_PASSWORD_ENV` when it is set."""
    environ = os.environ if environ is None else environ
    settings = {key: value for key, value in kafka.items() if key.startswith(_SECURITY_PREFIXES)}
    if environ.get(KAFKA_PASSWORD_ENV):
        settings["sasl_plain_password"] = environ[KAFKA_PASSWORD_ENV]
    return settings


class KafkaSink:
    """Sends records and returns only once every one is acknowledged by all in-sync replicas."""

    def __init__(self, config: Config) -> None:
        from kafka import KafkaProducer  # noqa: PLC0415 (kafka-python is only needed when producing)

        settings: dict[str, Any] = {
            "bootstrap_servers": list(config.bootstrap_servers),
            "acks": "all",
            "retries": 10,
            "enable_idempotence": True,
            "max_in_flight_requests_per_connection": 1,
            "client_id": "chat-sentiment-x-producer",
        }
        settings.update(config.kafka)
        self.security = security_settings(config.kafka)
        settings.update(self.security)
        self.topic = config.topic
        self.bootstrap = list(config.bootstrap_servers)
        self.producer = KafkaProducer(**settings)

    def send_all(self, records: Sequence[tuple[str | None, Any]]) -> None:
        futures = [self.producer.send(self.topic, key=key.encode() if key is not None else None,
                                      value=encode_value(value)) for key, value in records]
        self.producer.flush()
        for future in futures:
            future.get(timeout=60)  # raises the send's error

    def recent_keys(self, depth: int, timeout_s: float = 60.0) -> set[str]:
        """The keys of the last ``depth`` records of every partition of the topic (empty if it has none)."""
        from kafka import KafkaConsumer, TopicPartition  # noqa: PLC0415

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False,
                                 client_id="chat-sentiment-x-producer-recovery", **self.security)
        try:
            consumer.topics()
            partitions = [TopicPartition(self.topic, p) for p in consumer.partitions_for_topic(self.topic) or ()]
            if not partitions:
                return set()
            consumer.assign(partitions)
            ends = consumer.end_offsets(partitions)
            starts = consumer.beginning_offsets(partitions)
            pending = set()
            for tp in partitions:
                consumer.seek(tp, max(starts[tp], ends[tp] - depth))
                if ends[tp] > starts[tp]:
                    pending.add(tp)
            keys: set[str] = set()
            deadline = time.monotonic() + timeout_s
            while pending:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading the tail of {self.topic} took more than {timeout_s:.0f} s")
                for tp, records in consumer.poll(timeout_ms=1000).items():
                    for record in records:
                        if record.key:
                            keys.add(record.key.decode("utf-8", "replace"))
                        if record.offset >= ends[tp] - 1:
                            pending.discard(tp)
            return keys
        finally:
            consumer.close()

    def close(self) -> None:
        self.producer.close(timeout=30)


# ------------------------------------------------------------------------------------------------ the producer
class Stopper:
    """SIGTERM/SIGINT: stop at the next safe point; interrupt only waits (never a send or a state write)."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.interruptible = False

    def handle(self, signum: int, _frame: object) -> None:
        LOG.info("signal %d: stopping", signum)
        self.event.set()
        if self.interruptible:
            self.interruptible = False
            raise StopRequested

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        if self.event.is_set():
            raise StopRequested
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = False

    def sleep(self, seconds: float) -> None:
        if seconds > 0 and self.event.wait(seconds):
            raise StopRequested
        if self.event.is_set():
            raise StopRequested


class Producer:
    def __init__(self, config: Config, client: XClient, sink: Any, state: StateFile, *,
                 stopper: Stopper | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.client = client
        self.sink = sink
        self.state = state
        self.stopper = stopper or Stopper()
        self.clock = clock
        self.backoff = Backoff(config.backoff)
        self.last_id = state.load()
        self.seen = SeenIds()
        self.not_before: dict[str, float] = {}
        self.produced = 0
        if config.recovery_depth and hasattr(sink, "recent_keys"):
            recovered = sorted(k for k in sink.recent_keys(config.recovery_depth)
                               if k.isdigit() and (self.last_id is None or id_int(k) > id_int(self.last_id)))
            for key in recovered:
                self.seen.add(key)
            if recovered:
                LOG.warning("%d post(s) newer than the state's id %s are already in %s (stopped before saving "
                            "the state); they are not sent again", len(recovered), self.last_id, config.topic)

    # -- shared
    def fields(self) -> dict[str, str]:
        params = {}
        for name, values in (("tweet.fields", self.config.tweet_fields), ("expansions", self.config.expansions),
                             ("user.fields", self.config.user_fields)):
            if values:
                params[name] = ",".join(values)
        return params

    def emit(self, records: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Produce the records not produced yet, wait for Kafka's acks, then persist the newest id."""
        fresh, keys = [], set()
        for key, value in records:
            if key not in self.seen and key not in keys:
                fresh.append((key, value))
                keys.add(key)
        if not fresh:
            return 0
        self.sink.send_all(fresh)
        for key, _ in fresh:
            self.seen.add(key)
        top = newest([self.last_id, *keys])
        if top != self.last_id:
            self.state.save(top)  # type: ignore[arg-type]
            self.last_id = top
        self.produced += len(fresh)
        LOG.info("produced %d post(s) to %s, last id %s", len(fresh), self.config.topic, self.last_id)
        return len(fresh)

    def call(self, endpoint: str, method: str, path: str, params: dict[str, str] | None = None,
             body: Any = None) -> Response:
        """One API call, retried through rate limits, HTTP errors and network errors until it succeeds.

        401/403/400 are configuration problems: raised as ConfigError (the service stops; restarting would not
        fix a token or a query).
        """
        while True:
            self.stopper.sleep(self.not_before.get(endpoint, 0.0) - self.clock())
            try:
                with self.stopper.waiting():
                    response = self.client.call(method, path, params, body)
            except ApiError as exc:
                if exc.status == 429:
                    delay = self.backoff.rate_limited(exc.headers, self.clock())
                    LOG.warning("%s: 429 Too Many Requests, waiting %.1f s", endpoint, delay)
                elif exc.status in (400, 401, 403, 404):
                    raise ConfigError(f"{method} {path}: {exc} (check the token, query, rules and fields)") from None
                else:
                    delay = self.backoff.http()
                    LOG.warning("%s: %s, retrying in %.1f s", endpoint, exc, delay)
                self.stopper.sleep(delay)
                continue
            except NetworkError as exc:
                delay = self.backoff.network()
                LOG.warning("%s: %s, retrying in %.2f s", endpoint, exc, delay)
                self.stopper.sleep(delay)
                continue
            self.backoff.reset()
            pause = rate_limit_pause(response.status, response.headers, self.clock())
            if pause:
                LOG.info("%s: rate limit exhausted, next call in %.1f s (x-rate-limit-reset)", endpoint, pause)
                self.not_before[endpoint] = self.clock() + pause
            return response

    def search(self, query: str, since_id: str | None, matching_rules: list[dict[str, Any]] | None = None,
               until_id: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Every post matching ``query`` newer than ``since_id`` (and older than ``until_id``), oldest first.

        All pages are read (up to ``max_pages``) before anything is produced, so the watermark moves only over
        a complete result.
        """
        params = {"query": query, "max_results": str(self.config.max_results), **self.fields()}
        if since_id:
            params["since_id"] = since_id
        if until_id:
            params["until_id"] = until_id
        records: list[tuple[str, dict[str, Any]]] = []
        for page in range(self.config.max_pages):
            body = self.call("search", "GET", SEARCH_PATH, params).body
            if not isinstance(body, dict):
                raise ApiError(200, None, f"search answered a JSON {type(body).__name__}")
            for error in body.get("errors") or []:
                LOG.warning("search %r: partial error: %s", query, error)
            records += records_from(body, matching_rules)
            token = (body.get("meta") or {}).get("next_token")
            if not token:
                break
            params["next_token"] = token
            if page == self.config.max_pages - 1:
                LOG.error("search %r: more than %d pages since %s; older posts of this gap are skipped",
                          query, self.config.max_pages, since_id)
        records.sort(key=lambda item: id_int(item[0]))
        return records

    # -- search mode
    def poll_once(self) -> int:
        return self.emit(self.search(self.config.query, self.last_id))

    def run_search(self) -> None:
        LOG.info("search mode: %r every %.0f s since id %s", self.config.query, self.config.interval_s, self.last_id)
        while True:
            self.poll_once()
            self.stopper.sleep(self.config.interval_s)

    # -- stream mode
    def sync_rules(self) -> list[dict[str, Any]]:
        """Make the server's rules the configured ones; returns the server's rules afterwards."""
        current = self.call("rules", "GET", RULES_PATH).body.get("data") or []
        if not self.config.manage_rules:
            return current
        add, delete = plan_rules(self.config.rules, current)
        payload = [{"value": r.value, **({"tag": r.tag} if r.tag else {})} for r in add]
        if add:
            checked = self.call("rules", "POST", RULES_PATH, {"dry_run": "true"}, {"add": payload}).body
            invalid = [e for e in checked.get("errors") or [] if e.get("title") != "DuplicateRule"]
            if invalid:
                raise ConfigError(f"the API rejects stream rules: {invalid}")
        if delete:
            self.call("rules", "POST", RULES_PATH, body={"delete": {"ids": delete}})
            LOG.info("deleted %d stream rule(s) not configured: %s", len(delete), delete)
        if add:
            result = self.call("rules", "POST", RULES_PATH, body={"add": payload}).body
            LOG.info("added %d stream rule(s): %s", len(add), [r.get("value") for r in result.get("data") or []])
        return self.call("rules", "GET", RULES_PATH).body.get("data") or []

    def backfill(self, rules: list[dict[str, Any]]) -> int:
        """Posts the stream may have missed since the last produced id, rule by rule (recent search).

        One id is the watermark for every rule, so a post of an early rule that appears while a later rule is
        searched must not end up below it: a second pass searches each rule again between its own newest post
        and the newest of all (``until_id``); newer posts arrive on the open stream or in the next backfill.
        """
        if not self.last_id:
            return 0
        since = self.last_id
        tags = [{"id": str(rule["id"]), **({"tag": rule["tag"]} if rule.get("tag") else {})} for rule in rules]
        found = [self.search(str(rule["value"]), since, [tag]) for rule, tag in zip(rules, tags, strict=True)]
        records = [record for rule_records in found for record in rule_records]
        top = newest([key for key, _ in records])
        if top and len(rules) > 1:
            for rule, tag, rule_records in zip(rules, tags, found, strict=True):
                own = newest([key for key, _ in rule_records]) or since
                if own != top:
                    records += self.search(str(rule["value"]), own, [tag], until_id=top)
        records.sort(key=lambda item: id_int(item[0]))
        count = self.emit(records)
        LOG.info("backfill since %s: %d post(s)", since, count)
        return count

    def read_stream(self, response: http.client.HTTPResponse) -> None:
        """Produce every message of one connection until it ends (raises NetworkError when it breaks).

        A thread reads lines (the socket's timeout bounds the silence between keep-alives); this thread takes
        whatever has arrived, up to ``STREAM_BATCH`` messages, and produces it as one acknowledged batch.
        """
        lines: queue.Queue[bytes | Exception] = queue.Queue(maxsize=4 * STREAM_BATCH)

        def reader() -> None:
            try:
                while True:
                    line = response.readline()
                    lines.put(line)
                    if not line:
                        return
            except Exception as exc:  # the connection broke (or was closed by the main thread)
                lines.put(exc)

        threading.Thread(target=reader, name="x-stream-reader", daemon=True).start()
        while True:
            batch: list[bytes | Exception] = []
            while not batch:
                with self.stopper.waiting(), contextlib.suppress(queue.Empty):
                    batch.append(lines.get(timeout=1.0))
            while len(batch) < STREAM_BATCH:
                try:
                    batch.append(lines.get_nowait())
                except queue.Empty:
                    break
            records: list[tuple[str, dict[str, Any]]] = []
            ended: str | None = None
            for item in batch:
                if isinstance(item, Exception):
                    ended = f"stream: {type(item).__name__}: {item}"
                    break
                if not item:
                    ended = "stream: the server closed the connection"
                    break
                self.backoff.reset()
                line = item.strip()
                if not line:
                    continue  # keep-alive
                try:
                    message = json.loads(line)
                except json.JSONDecodeError as exc:
                    LOG.error("stream: a line is not JSON (%s); sent as is for the job's dead letters", exc)
                    self.emit(records)
                    records = []
                    self.sink.send_all([(None, line)])
                    continue
                if isinstance(message, dict) and message.get("data") is not None:
                    records += records_from(message)
                else:
                    LOG.warning("stream: message without data: %s", line[:500].decode("utf-8", "replace"))
            self.emit(records)
            if ended:
                raise NetworkError(ended)

    def run_stream(self) -> None:
        rules = self.sync_rules()
        LOG.info("stream mode: %d rule(s), last id %s", len(rules), self.last_id)
        while True:
            try:
                self.stopper.sleep(self.not_before.get("stream", 0.0) - self.clock())
                with self.stopper.waiting():
                    response = self.client.open_stream(self.fields(), self.config.stream_read_timeout_s)
            except ApiError as exc:
                if exc.status == 429:
                    delay = self.backoff.rate_limited(exc.headers, self.clock())
                elif exc.status in (400, 401, 403):
                    raise ConfigError(f"stream: {exc}") from None
                else:
                    delay = self.backoff.http()
                LOG.warning("stream: %s, reconnecting in %.1f s", exc, delay)
                self.stopper.sleep(delay)
                continue
            except NetworkError as exc:
                delay = self.backoff.network()
                LOG.warning("stream: %s, reconnecting in %.2f s", exc, delay)
                self.stopper.sleep(delay)
                continue
            pause = rate_limit_pause(response.status, response.headers, self.clock())
            if pause:
                self.not_before["stream"] = self.clock() + pause
            try:
                LOG.info("stream: connected")
                self.backfill(rules)  # the connection is open, so nothing after the backfill is missed
                self.read_stream(response)
            except NetworkError as exc:
                delay = self.backoff.network()
                LOG.warning("%s, reconnecting in %.2f s", exc, delay)
                self.stopper.sleep(delay)
            finally:
                with contextlib.suppress(*NETWORK_ERRORS):
                    response.close()

    def run(self) -> None:
        if self.config.mode == "stream":
            self.run_stream()
        else:
            self.run_search()


# ------------------------------------------------------------------------------------------------ entry point
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chat-sentiment-x-producer", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, required=True, help="the JSON configuration file")
    parser.add_argument("--log-level", default=os.environ.get("X_PRODUCER_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)
    stopper = Stopper()
    signal.signal(signal.SIGTERM, stopper.handle)
    signal.signal(signal.SIGINT, stopper.handle)
    sink = None
    try:
        config = load_config(args.config)
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise ConfigError(f"the bearer token is missing: set {TOKEN_ENV} in the environment")
        state = StateFile(config.state_file)
        client = XClient(config.api_base, token, config.request_timeout_s)
        sink = KafkaSink(config)
        producer = Producer(config, client, sink, state, stopper=stopper)
        producer.run()
    except StopRequested:
        LOG.info("stopped")
        return 0
    except ConfigError as exc:
        LOG.error("%s", exc)
        return EXIT_CONFIG
    finally:
        if sink is not None:
            sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
