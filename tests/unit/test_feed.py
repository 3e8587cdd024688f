"""The read-only feed the web hosts proxy: two files of the job's output folder, nothing else, to allowed clients."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_sentiment import feed


def _serve(folder: Path, allow: list[str]) -> Iterator[tuple[str, int]]:
    server = feed.FeedServer("127.0.0.1", 0, feed.served_files(folder / "snapshot.json"), feed.networks(allow))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[:2]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def output(tmp_path: Path) -> Path:
    (tmp_path / "snapshot.json").write_text(json.dumps({"version": 1, "channels": [{"channel": "한국어"}]}),
                                            encoding="utf-8")
    for table in ("messages", "dead_letters"):
        (tmp_path / table / "_spark_metadata").mkdir(parents=True)
        (tmp_path / table / "_spark_metadata" / "0").write_text('{"path": "secret chat"}')
        (tmp_path / table / "part-0.parquet").write_bytes(b"PAR1")
    return tmp_path


def _get(address: tuple[str, int], path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=5)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_the_snapshot_is_served_as_json_and_health_is_no_content_until_written(output: Path) -> None:
    for address in _serve(output, ["127.0.0.1"]):
        status, headers, body = _get(address, "/snapshot.json?t=1")
        assert status == 200 and headers["content-type"].startswith("application/json")
        assert headers["cache-control"] == "no-store" and headers["x-content-type-options"] == "nosniff"
        assert json.loads(body)["channels"][0]["channel"] == "한국어"
        assert _get(address, "/health.json")[:3:2] == (204, b"")
        (output / "health.json").write_text('{"updated_at": "2026-01-01T00:00:00Z"}')
        assert json.loads(_get(address, "/health.json")[2])["updated_at"] == "2026-01-01T00:00:00Z"
        status, _, body = _get(address, "/snapshot.json", "HEAD")
        assert status == 200 and body == b""


@pytest.mark.parametrize("path", ["/", "/messages/", "/messages/_spark_metadata/0", "/dead_letters/part-0.parquet",
                                  "/../snapshot.json", "/./snapshot.json", "/snapshot.json/",
                                  "/%73napshot.json", "/sentiment/snapshot.json"])
def test_nothing_else_of_the_folder_is_reachable(output: Path, path: str) -> None:
    for address in _serve(output, ["127.0.0.1"]):
        status, _, body = _get(address, path)
        assert status == 404, path
        assert b"secret" not in body and b"PAR1" not in body


def test_writes_are_refused_and_other_clients_are_forbidden(output: Path) -> None:
    for address in _serve(output, ["127.0.0.1"]):
        status, headers, _ = _get(address, "/snapshot.json", "POST")
        assert status == 405 and headers["allow"] == "GET, HEAD"
    for address in _serve(output, ["10.213.0.0/24"]):
        assert _get(address, "/snapshot.json")[0] == 403


def test_allowed_clients_are_matched_by_network_and_bad_entries_named() -> None:
    allowed = feed.networks(["10.0.0.5", "192.168.0.0/16", "::1"])
    assert feed.client_allowed("10.0.0.5", allowed) and feed.client_allowed("192.168.3.4", allowed)
    assert feed.client_allowed("::ffff:10.0.0.5", allowed) and feed.client_allowed("::1", allowed)
    assert not feed.client_allowed("10.0.0.6", allowed) and not feed.client_allowed("junk", allowed)
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        feed.networks(["10.0.0.300"])
