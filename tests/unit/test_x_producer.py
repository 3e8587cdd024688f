"""The X producer's logic: rate limits, back-off, rules reconciliation, record shape, state, de-duplication.

The API side is the local X API v2 test server (scripts/x_api_server.py) in-process; Kafka is replaced by a list
that records what would be sent (the integration test uses a real broker).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from chat_sentiment import twitter
from chat_sentiment.records import ChatEvent
from chat_sentiment.x_producer import (
    Backoff,
    BackoffPolicy,
    Config,
    ConfigError,
    Producer,
    StateFile,
    Stopper,
    StopRequested,
    StreamRule,
    XClient,
    load_config,
    plan_rules,
    rate_limit_pause,
    records_from,
)

from scripts.x_api_server import XApiServer

FAST = BackoffPolicy(network_step=0.01, network_max=0.05, http_initial=0.01, http_max=0.05,
                     rate_limit_initial=0.05, rate_limit_max=0.2)


class ListSink:
    def __init__(self, fail_after: int | None = None) -> None:
        self.records: list[tuple[str | None, Any]] = []
        self.fail_after = fail_after

    def send_all(self, records: list[tuple[str | None, Any]]) -> None:
        if self.fail_after is not None and len(self.records) + len(records) > self.fail_after:
            raise RuntimeError("broker unavailable")
        self.records += records

    def ids(self) -> list[str | None]:
        return [key for key, _ in self.records]


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {"mode": "search", "bootstrap_servers": ("127.0.0.1:9092",),
                              "state_file": tmp_path / "state.json", "query": "lang:ko OR lang:en",
                              "interval_s": 0.05, "backoff": FAST, "max_results": 10}
    values.update(overrides)
    return Config(**values)


@pytest.fixture
def server() -> Any:
    with XApiServer(token="t0ken", keepalive_s=0.2) as running:
        yield running


# ------------------------------------------------------------------------------------------------ pure logic
def test_rate_limit_pause_follows_the_headers() -> None:
    now = 1_000.0
    assert rate_limit_pause(200, {"x-rate-limit-remaining": "3", "x-rate-limit-reset": "1900"}, now) == 0.0
    assert rate_limit_pause(200, {}, now) == 0.0
    assert rate_limit_pause(200, {"x-rate-limit-remaining": "0", "x-rate-limit-reset": "1010"}, now) == 11.0
    assert rate_limit_pause(429, {"x-rate-limit-remaining": "5", "x-rate-limit-reset": "1004"}, now) == 5.0
    assert rate_limit_pause(429, {"x-rate-limit-reset": "900"}, now) == 1.0  # reset in the past: a second
    assert rate_limit_pause(429, {}, now) is None
    assert rate_limit_pause(429, {"x-rate-limit-reset": "soon"}, now) is None


def test_backoff_is_linear_for_network_and_exponential_for_http_errors() -> None:
    backoff = Backoff(BackoffPolicy())
    assert [backoff.network() for _ in range(3)] == [0.25, 0.5, 0.75]
    assert max(backoff.network() for _ in range(100)) == 16.0
    assert [backoff.http() for _ in range(8)] == [5, 10, 20, 40, 80, 160, 320, 320]
    assert [backoff.rate_limited({}, 0.0) for _ in range(3)] == [60, 120, 240]
    assert backoff.rate_limited({"x-rate-limit-reset": "100"}, 40.0) == 61.0  # the reset wins when known
    backoff.reset()
    assert (backoff.network(), backoff.http()) == (0.25, 5)


def test_plan_rules_adds_the_missing_and_deletes_the_extra() -> None:
    desired = [StreamRule("lang:ko", "korean"), StreamRule("#stream", None), StreamRule("#stream", None)]
    current = [
        {"id": "1", "value": "lang:ko", "tag": "korean"},
        {"id": "2", "value": "lang:ko", "tag": "korean"},  # a duplicate on the server
        {"id": "3", "value": "#stream", "tag": "old-tag"},  # same value, other tag
        {"id": "4", "value": "from:someone"},
    ]
    add, delete = plan_rules(desired, current)
    assert add == [StreamRule("#stream", None)]
    assert delete == ["2", "3", "4"]
    assert plan_rules(desired, [{"id": "9", "value": "lang:ko", "tag": "korean"},
                                {"id": "8", "value": "#stream"}]) == ([], [])


def test_records_are_one_post_each_with_only_its_author_and_parse_as_the_job_expects() -> None:
    page = {
        "data": [{"id": "1700000000000000012", "text": "너무 재밌어요", "author_id": "u1", "lang": "ko"},
                 {"id": "1700000000000000011", "text": "so boring", "author_id": "u2", "lang": "en"}],
        "includes": {"users": [{"id": "u1", "username": "Kim", "name": "김"},
                               {"id": "u2", "username": "b", "name": "B"}]},
        "meta": {"result_count": 2},
    }
    records = records_from(page, [{"id": "77", "tag": "korean"}])
    assert [key for key, _ in records] == ["1700000000000000011", "1700000000000000012"]  # oldest first
    key, value = records[1]
    assert value == {"data": page["data"][0], "includes": {"users": [page["includes"]["users"][0]]},
                     "matching_rules": [{"id": "77", "tag": "korean"}]}
    [event] = twitter.parse_record(json.dumps(value, ensure_ascii=False))
    assert isinstance(event, ChatEvent)
    assert (event.id, event.user, event.display_name, event.channel, event.lang) == (key, "kim", "김", "korean", "ko")
    # A stream message keeps its own matching_rules; posts without an id are not records.
    message = {"data": {"id": "5", "text": "x"}, "matching_rules": [{"id": "1", "tag": "t"}]}
    assert records_from(message, [{"id": "2"}]) == [("5", {"data": {"id": "5", "text": "x"},
                                                          "matching_rules": [{"id": "1", "tag": "t"}]})]
    assert records_from({"data": [{"text": "no id"}], "meta": {}}) == []
    assert records_from({"meta": {"result_count": 0}}) == []


def test_state_file_is_replaced_atomically_and_a_corrupt_one_is_a_clear_error(tmp_path: Path) -> None:
    state = StateFile(tmp_path / "sub" / "state.json")
    assert state.load() is None
    state.save("1700000000000000001")
    state.save("1700000000000000002")
    assert state.load() == "1700000000000000002"
    assert sorted(os.listdir(tmp_path / "sub")) == ["state.json"]  # no temporary file left behind
    (tmp_path / "sub" / "state.json").write_text('{"last_id": "oops"}')
    with pytest.raises(ConfigError, match="not a post id"):
        state.load()
    (tmp_path / "sub" / "state.json").write_text("{trunc")
    with pytest.raises(ConfigError, match="unreadable"):
        state.load()


def test_config_file_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    base = {"mode": "stream", "bootstrap_servers": ["k1:9092"], "state_file": str(tmp_path / "s.json"),
            "rules": [{"value": "lang:ko", "tag": "korean"}], "backoff": {"http_initial": 1}}
    path.write_text(json.dumps(base))
    config = load_config(path)
    assert config.rules == (StreamRule("lang:ko", "korean"),) and config.backoff.http_initial == 1
    for change, message in [({"mode": "firehose"}, "mode must be"), ({"rules": []}, "at least one rule"),
                            ({"bootstrap_servers": []}, "bootstrap_servers"), ({"max_results": 500}, "10..100"),
                            ({"mode": "search"}, "non-empty 'query'"), ({"colour": "red"}, "unknown settings")]:
        path.write_text(json.dumps({**base, **change}))
        with pytest.raises(ConfigError, match=message):
            load_config(path)


def test_stopper_interrupts_waits_only() -> None:
    stopper = Stopper()
    stopper.handle(15, None)  # outside a wait: only flags
    with pytest.raises(StopRequested):
        stopper.sleep(10)
    with pytest.raises(StopRequested), stopper.waiting():
        pass


# ------------------------------------------------------------------------------------------------ against the server
def test_search_follows_pages_then_polls_since_the_persisted_id(tmp_path: Path, server: XApiServer) -> None:
    server.add_posts(35)
    config = make_config(tmp_path)
    sink = ListSink()
    producer = Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file))
    assert producer.poll_once() == 35
    expected = [p["id"] for p in server.store.snapshot()]
    assert sink.ids() == expected  # every post once, oldest first, over 4 pages of 10
    assert StateFile(config.state_file).load() == expected[-1]
    assert producer.poll_once() == 0
    server.add_posts(3)
    # A new process starts from the persisted id: only the 3 new posts.
    restarted = Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file))
    assert restarted.poll_once() == 3
    assert sink.ids() == [p["id"] for p in server.store.snapshot()]
    searches = [path for method, path in server.requests if "search/recent" in path]
    assert sum("next_token=" in p for p in searches) == 3
    assert f"since_id={expected[-1]}" in searches[-1]


def test_state_is_not_advanced_when_kafka_fails(tmp_path: Path, server: XApiServer) -> None:
    server.add_posts(12)
    config = make_config(tmp_path)
    producer = Producer(config, XClient(server.url, "t0ken", 5), ListSink(fail_after=5), StateFile(config.state_file))
    with pytest.raises(RuntimeError, match="broker unavailable"):
        producer.poll_once()
    assert StateFile(config.state_file).load() is None
    sink = ListSink()
    assert Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file)).poll_once() == 12


def test_a_429_waits_for_the_reset_then_succeeds(tmp_path: Path, server: XApiServer) -> None:
    server.add_posts(4)
    server.exhaust("search", reset_in=1.5)
    config = make_config(tmp_path)
    sink = ListSink()
    producer = Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file))
    started = time.monotonic()
    assert producer.poll_once() == 4
    assert time.monotonic() - started >= 1.0  # waited for x-rate-limit-reset, not the 0.05 s back-off
    rejected = [p for m, p in server.requests if "search/recent" in p]
    assert len(rejected) == 2  # the 429 and the retry after the reset


def test_remaining_zero_defers_the_next_call_until_the_reset(tmp_path: Path, server: XApiServer) -> None:
    server.add_posts(2)
    server.exhaust("search", reset_in=1.5, remaining=1)  # this call is allowed, the next is not
    config = make_config(tmp_path)
    producer = Producer(config, XClient(server.url, "t0ken", 5), ListSink(), StateFile(config.state_file))
    producer.poll_once()
    assert producer.not_before["search"] > time.time()
    started = time.monotonic()
    producer.poll_once()
    assert time.monotonic() - started >= 1.0
    assert len([p for m, p in server.requests if "search/recent" in p]) == 2


def test_a_wrong_token_is_a_configuration_error_that_does_not_leak_it(tmp_path: Path, server: XApiServer) -> None:
    config = make_config(tmp_path)
    producer = Producer(config, XClient(server.url, "wrong-secret", 5), ListSink(), StateFile(config.state_file))
    with pytest.raises(ConfigError, match="401") as info:
        producer.poll_once()
    assert "wrong-secret" not in str(info.value) and "wrong-secret" not in repr(producer.client)


def test_rules_are_reconciled_with_dry_run_first(tmp_path: Path, server: XApiServer) -> None:
    server.change_rules({"add": [{"value": "from:nobody"}, {"value": "lang:ko", "tag": "korean"}]}, dry_run=False)
    config = make_config(tmp_path, mode="stream", rules=(StreamRule("lang:ko", "korean"), StreamRule("#stream")))
    producer = Producer(config, XClient(server.url, "t0ken", 5), ListSink(), StateFile(config.state_file))
    rules = producer.sync_rules()
    assert sorted((r["value"], r.get("tag")) for r in rules) == [("#stream", None), ("lang:ko", "korean")]
    posts = [(m, p) for m, p in server.requests if p.startswith("/2/tweets/search/stream/rules") and m == "POST"]
    assert "dry_run=true" in posts[0][1]
    before = len(server.requests)
    producer.sync_rules()  # nothing to change: only the two listings
    assert [m for m, _ in server.requests[before:]] == ["GET", "GET"]
    bad = make_config(tmp_path, mode="stream", rules=(StreamRule("   "),))
    with pytest.raises(ConfigError, match="rejects stream rules"):
        Producer(bad, XClient(server.url, "t0ken", 5), ListSink(), StateFile(bad.state_file)).sync_rules()


def test_stream_backfills_the_gap_and_repeats_nothing(tmp_path: Path, server: XApiServer) -> None:
    config = make_config(tmp_path, mode="stream", rules=(StreamRule("lang:ko", "korean"), StreamRule("lang:en", "en")),
                         stream_read_timeout_s=2.0)
    sink = ListSink()
    first = server.add_posts(3)
    StateFile(config.state_file).save(first[0]["id"])  # as if the first was produced before a restart
    producer = Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file))
    rules = producer.sync_rules()
    response = producer.client.open_stream(producer.fields(), 2.0)
    assert producer.backfill(rules) == 2
    later = server.add_posts(4)
    server.drop_streams()
    with pytest.raises(Exception, match="closed"):
        producer.read_stream(response)
    assert sink.ids() == [p["id"] for p in first[1:] + later]
    assert all(v["matching_rules"][0]["tag"] in ("korean", "en") for _, v in sink.records)
    assert all("includes" in v for _, v in sink.records)


def test_a_post_appearing_between_two_rules_searches_is_not_skipped(tmp_path: Path, server: XApiServer) -> None:
    config = make_config(tmp_path, mode="stream", rules=(StreamRule("lang:ko", "korean"), StreamRule("lang:en", "en")))
    sink = ListSink()
    StateFile(config.state_file).save(server.add_posts(1)[0]["id"])
    producer = Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file))
    rules = producer.sync_rules()
    searched = producer.search
    late: list[dict[str, Any]] = []

    def search_then_post(*args: Any, **kwargs: Any) -> Any:
        result = searched(*args, **kwargs)
        if not late:  # right after the first rule's search: a Korean post, then an English one
            late.extend(server.add_posts(1, lang="ko") + server.add_posts(1, lang="en"))
        return result

    producer.search = search_then_post  # type: ignore[method-assign]
    producer.backfill(rules)
    assert [p["id"] for p in late] == sink.ids()[-2:]  # without the second pass the Korean one is lost


def test_posts_already_in_kafka_beyond_the_state_are_not_sent_again(tmp_path: Path, server: XApiServer) -> None:
    posts = server.add_posts(12)
    config = make_config(tmp_path)
    StateFile(config.state_file).save(posts[3]["id"])

    class TopicSink(ListSink):
        def recent_keys(self, depth: int) -> set[str]:  # what a kill -9 after Kafka's ack leaves behind
            return {p["id"] for p in posts[:8]}

    sink = TopicSink()
    assert Producer(config, XClient(server.url, "t0ken", 5), sink, StateFile(config.state_file)).poll_once() == 4
    assert sink.ids() == [p["id"] for p in posts[8:]]
