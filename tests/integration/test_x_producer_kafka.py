"""The X producer end to end: the local X API v2 test server, a real ZooKeeper + Kafka 3.0.0, the producer process.

The producer runs as it is deployed (``python x_producer.py --config FILE``, the token in ``X_BEARER_TOKEN``).
Each test serves posts, disturbs the producer (SIGTERM, SIGKILL while it sends, a dropped stream, a 429) and then
checks the ``twitter`` topic: every post served exactly once (by id), each record a post with its author that
the job's parser reads. Both tests share the topic; each counts only the ids its own server made.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_sentiment import twitter
from chat_sentiment.records import ChatEvent
from kafka import KafkaConsumer

from scripts.x_api_server import XApiServer
from tests.integration.kafka_local import Cluster, create_topics, start_cluster, tail

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PRODUCER = REPO / "spark" / "chat_sentiment" / "x_producer.py"
KAFKA_VERSION = "3.0.0"
TOPIC = "twitter"
TOKEN = "integration-token"
WAIT_S = 120.0


class Collector:
    """Reads ``twitter`` from the start on a thread, for the whole module."""

    def __init__(self, bootstrap: str) -> None:
        self.records: list[tuple[str | None, dict[str, Any]]] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.consumer = KafkaConsumer(TOPIC, bootstrap_servers=bootstrap, group_id=None,
                                      auto_offset_reset="earliest", enable_auto_commit=False)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            for batch in self.consumer.poll(timeout_ms=500).values():
                with self.lock:
                    self.records += [(r.key.decode() if r.key else None, json.loads(r.value)) for r in batch]

    def counts(self, ids: set[str]) -> Counter[str]:
        with self.lock:
            return Counter(key for key, _ in self.records if key in ids)

    def values(self, ids: set[str]) -> list[dict[str, Any]]:
        with self.lock:
            return [value for key, value in self.records if key in ids]

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.consumer.close()


@pytest.fixture(scope="module")
def cluster(kafka_tarballs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with start_cluster(kafka_tarballs[KAFKA_VERSION], KAFKA_VERSION, tmp_path_factory.mktemp("kafka")) as running:
        create_topics(running, {TOPIC: 2})
        yield running


@pytest.fixture(scope="module")
def collector(cluster: Cluster) -> Iterator[Collector]:
    reader = Collector(cluster.bootstrap)
    yield reader
    reader.close()


class ProducerProcess:
    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "X_BEARER_TOKEN": TOKEN, "X_PRODUCER_LOG_LEVEL": "INFO"}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen([sys.executable, str(PRODUCER), "--config", str(self.config)],
                                            stdout=out, stderr=subprocess.STDOUT, env=env)

    def signal(self, signum: int) -> int:
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def alive(self) -> None:
        assert self.process is not None
        code = self.process.poll()
        if code is not None:
            pytest.fail(f"the producer exited with {code}:\n{tail(self.log, 60)}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGKILL)


def wait_for(check: Callable[[], bool], what: str, producer: ProducerProcess,
             detail: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        producer.alive()
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what} ({detail()}); producer log:\n{tail(producer.log, 60)}")
        time.sleep(0.2)


def write_config(path: Path, cluster: Cluster, server: XApiServer, **settings: Any) -> Path:
    config = {
        "bootstrap_servers": [cluster.bootstrap], "api_base": server.url, "topic": TOPIC,
        "state_file": str(path.parent / "state" / "last_id.json"), "max_results": 10, "interval_s": 0.5,
        "stream_read_timeout_s": 3.0,
        "backoff": {"network_step": 0.1, "network_max": 1.0, "http_initial": 0.2, "http_max": 2.0,
                    "rate_limit_initial": 0.5, "rate_limit_max": 5.0},
        **settings,
    }
    path.write_text(json.dumps(config))
    return path


def assert_exactly_once(collector: Collector, server: XApiServer, producer: ProducerProcess) -> None:
    order = [p["id"] for p in server.store.snapshot()]
    ids = set(order)

    def missing() -> str:
        gone = ids - set(collector.counts(ids))
        return f"{len(gone)} missing, at positions {sorted(order.index(i) for i in gone)[:50]} of {len(order)}"

    wait_for(lambda: set(collector.counts(ids)) == ids, f"all {len(ids)} posts on {TOPIC}", producer, missing)
    time.sleep(2)  # anything repeated late would show now
    counts = collector.counts(ids)
    repeated = {k: v for k, v in counts.items() if v > 1}
    assert not repeated, f"posts produced more than once: {repeated}"
    assert sum(counts.values()) == len(ids)
    for value in collector.values(ids):
        [event] = twitter.parse_record(json.dumps(value, ensure_ascii=False))
        assert isinstance(event, ChatEvent), event
        assert event.user and event.display_name and event.lang in ("ko", "en")


def test_search_mode_restarts_and_429_lose_and_repeat_nothing(cluster: Cluster, collector: Collector,
                                                              tmp_path: Path) -> None:
    with XApiServer(token=TOKEN) as server:
        server.add_posts(45)  # five pages before the first start
        config = write_config(tmp_path / "search.json", cluster, server, mode="search",
                              query="lang:ko OR lang:en")
        producer = ProducerProcess(config, tmp_path / "producer.log")
        try:
            producer.start()
            wait_for(lambda: len(collector.counts({p["id"] for p in server.store.snapshot()})) == 45,
                     "the first 45 posts", producer)
            # SIGTERM: a clean stop at a safe point, exit 0; posts served meanwhile come after the restart.
            assert producer.signal(signal.SIGTERM) == 0
            server.add_posts(25)
            producer.start()
            # SIGKILL while it sends: 300 posts in 30 pages, killed as soon as the first of them is in Kafka.
            before = {p["id"] for p in server.store.snapshot()}
            burst = {p["id"] for p in server.add_posts(300)}
            wait_for(lambda: bool(set(collector.counts(burst))), "the burst to start arriving", producer)
            producer.signal(signal.SIGKILL)
            server.add_posts(10)
            producer.start()
            wait_for(lambda: len(collector.counts(before | burst)) == len(before | burst), "the burst", producer)
            # A 429: the producer waits for x-rate-limit-reset, then catches up.
            server.exhaust("search", reset_in=3)
            server.add_posts(15)
            assert_exactly_once(collector, server, producer)
            limited = "429 Too Many Requests"
            assert limited in producer.log.read_text()
            assert TOKEN not in producer.log.read_text()
            assert producer.signal(signal.SIGTERM) == 0
        finally:
            producer.stop()


def test_stream_mode_reconnects_and_backfills_across_restarts(cluster: Cluster, collector: Collector,
                                                              tmp_path: Path) -> None:
    with XApiServer(token=TOKEN, keepalive_s=1.0) as server:
        server.change_rules({"add": [{"value": "from:nobody", "tag": "stale"}]}, dry_run=False)
        config = write_config(tmp_path / "stream.json", cluster, server, mode="stream",
                              rules=[{"value": "lang:ko", "tag": "korean"}, {"value": "lang:en", "tag": "english"}])
        producer = ProducerProcess(config, tmp_path / "producer.log")
        try:
            producer.start()
            wait_for(lambda: len(server.clients) == 1, "the stream connection", producer)
            assert sorted(r.tag or "" for r in server.rules.values()) == ["english", "korean"]
            server.add_posts(20)
            wait_for(lambda: len(collector.counts({p["id"] for p in server.store.snapshot()})) == 20,
                     "20 streamed posts", producer)
            # A dropped connection: posts served while it is down come from the backfill.
            server.drop_streams()
            server.add_posts(10)
            wait_for(lambda: len(collector.counts({p["id"] for p in server.store.snapshot()})) == 30,
                     "the backfill after a drop", producer)
            # SIGTERM, posts while stopped, restart; then SIGKILL during a burst, restart.
            assert producer.signal(signal.SIGTERM) == 0
            server.add_posts(12)
            producer.start()
            wait_for(lambda: len(server.clients) == 1, "the stream connection after a restart", producer)
            burst = {p["id"] for p in server.add_posts(200)}
            wait_for(lambda: bool(set(collector.counts(burst))), "the burst to start arriving", producer)
            producer.signal(signal.SIGKILL)
            server.drop_streams()  # the server has not noticed the dead client yet
            server.add_posts(8)
            producer.start()
            # A 429 on the stream endpoint and a drop: the producer waits for the reset and reconnects.
            so_far = {p["id"] for p in server.store.snapshot()}
            wait_for(lambda: len(collector.counts(so_far)) == len(so_far), "the backfill after SIGKILL", producer)
            server.exhaust("stream", reset_in=3)
            server.drop_streams()
            server.add_posts(9)
            assert_exactly_once(collector, server, producer)
            tags = Counter(v["matching_rules"][0]["tag"] for v in collector.values(
                {p["id"] for p in server.store.snapshot()}))
            assert set(tags) == {"korean", "english"}
            assert "429" in producer.log.read_text()
            assert TOKEN not in producer.log.read_text()
            assert producer.signal(signal.SIGTERM) == 0
        finally:
            producer.stop()
