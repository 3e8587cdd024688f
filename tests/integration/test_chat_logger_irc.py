"""The chat logger process against the Twitch-dialect test server over TLS: a few hundred events on three
channels, through a dropped connection, a RECONNECT, a dead (silent) connection and a log rotation (SIGHUP);
then SIGTERM. The files, read back with the job's parser, hold exactly the events sent, in order, once each."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_sentiment.chatty import ChattyLogReader
from chat_sentiment.records import ChatEvent

from scripts.twitch_irc_server import ScriptedEvent, ServerThread, generate_events, make_self_signed

pytestmark = pytest.mark.integration

PROGRAM_DIR = Path(__file__).resolve().parents[2] / "ansible" / "roles" / "chat_logger" / "files"
CHANNELS = ["examplestreamer", "koreanchat", "speedrun"]
# The format document's symbol per badge: one of the first group, then each of the rest, in this order.
RANKS = [("broadcaster", "broadcaster"), ("staff", "staff"), ("admin", "staff"), ("moderator", "moderator")]
MORE = [("vip", "vip"), ("subscriber", "subscriber"), ("founder", "subscriber"), ("bits", "bits"),
        ("turbo", "turbo"), ("bot-badge", "bot")]
ORDER = ["broadcaster", "staff", "moderator", "vip", "subscriber", "bits", "turbo", "bot"]


def expected_roles(badges: str) -> list[str]:
    names = {b.split("/", 1)[0] for b in badges.split(",") if b}
    roles = {next((role for name, role in RANKS if name in names), None)}
    roles |= {role for name, role in MORE if name in names}
    return [r for r in ORDER if r in roles]


def expected_records(event: ScriptedEvent) -> list[tuple[Any, ...]]:
    """(kind, user, display_name, badges, text, extra) for each line the event must become."""
    display = event.display_name or event.login
    if event.kind in ("message", "action", "cheer"):
        chat = ("action" if event.kind == "action" else "message", event.login, display,
                expected_roles(event.badges), event.text, None)
        return [("bits", event.login, None, [], None, event.bits), chat] if event.kind == "cheer" else [chat]
    if event.kind in ("sub", "resub", "subgift", "raid"):
        return [("notification", None, None, [], event.text or None, event.system_msg())]
    if event.kind in ("timeout", "ban"):
        return [("ban", event.login, None, [], None, event.duration if event.kind == "timeout" else None)]
    if event.kind == "delete":
        return [("deleted", event.login, None, [], event.text, None)]
    raise AssertionError(f"no expectation for {event.kind}")


def observed(record: ChatEvent) -> tuple[Any, ...]:
    extra: Any = None
    user = record.user
    if record.kind == "bits":
        extra = record.attrs["bits"]
    elif record.kind == "notification":
        extra, user = record.attrs["system_text"], None
    elif record.kind == "ban":
        extra = record.attrs["bans"][0]["duration_s"]
    return (record.kind, user, record.display_name, record.badges, record.text, extra)


def read_channel(log_dir: Path, channel: str) -> tuple[list[ChatEvent], list[str]]:
    """Every record of the channel's files (a rotated ``.1`` first), and the header events in order."""
    records: list[ChatEvent] = []
    headers: list[str] = []
    for path in (log_dir / f"#{channel}.log.1", log_dir / f"#{channel}.log"):
        if not path.exists():
            continue
        reader = ChattyLogReader.for_path(str(log_dir / f"#{channel}.log"))
        for line in path.read_bytes().splitlines(keepends=True):
            record = reader.feed(line)
            assert isinstance(record, ChatEvent), f"{path.name}: {line!r} -> {record}"
            assert record.channel == channel
            if record.kind == "header":
                headers.append(record.attrs["event"])
            else:
                records.append(record)
    return records, headers


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[ServerThread, Path]]:
    cert, key = make_self_signed(tmp_path / "tls", ["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with ServerThread(host="127.0.0.1", port=0, ssl_context=context, ping_interval=1.0) as bed:
        yield bed, cert


def test_logger_writes_every_event_once_through_reconnects(server: tuple[ServerThread, Path], tmp_path: Path) -> None:
    bed, cert = server
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    settings = {"channels": CHANNELS, "log_dir": str(log_dir), "host": "127.0.0.1", "port": bed.port,
                "tls": True, "tls_ca_file": str(cert), "idle_timeout_s": 1.5, "pong_timeout_s": 1.5,
                "backoff_initial_s": 0.2, "backoff_max_s": 2}
    config = tmp_path / "config.json"
    config.write_text(json.dumps(settings), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(PROGRAM_DIR), "PYTHONDONTWRITEBYTECODE": "1", "TZ": "Asia/Seoul"}
    stderr = (tmp_path / "logger.err").open("w")
    logger = subprocess.Popen([sys.executable, "-m", "chat_logger", "--config", str(config)],
                              env=env, cwd=tmp_path, stderr=stderr)
    events = generate_events(400, CHANNELS, seed=11)
    batches = [events[i:i + 100] for i in range(0, 400, 100)]
    expected: dict[str, list[tuple[Any, ...]]] = {c: [] for c in CHANNELS}

    def send(batch: list[ScriptedEvent]) -> None:
        bed.wait_joined(CHANNELS, timeout=30)
        assert bed.deliver(batch) == [1] * len(batch)  # each event reached the one logger
        for event in batch:
            expected[event.channel].extend(expected_records(event))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(len(read_channel(log_dir, c)[0]) >= len(expected[c]) for c in CHANNELS):
                return
            time.sleep(0.1)
        counts = {c: (len(read_channel(log_dir, c)[0]), len(expected[c])) for c in CHANNELS}
        raise AssertionError(f"the logs did not catch up within 30 s (written, sent): {counts}")

    try:
        assert {e.kind for e in events} >= {"message", "action", "cheer", "resub", "timeout", "ban", "delete"}
        send(batches[0])
        connections = bed.server.connections
        assert bed.call(bed.server.drop_all) == 1
        send(batches[1])
        (log_dir / "#koreanchat.log").rename(log_dir / "#koreanchat.log.1")
        logger.send_signal(signal.SIGHUP)
        assert bed.call(bed.server.send_reconnect) == 1
        send(batches[2])
        assert bed.call(bed.server.silence_all) == 1  # the link goes quiet: the logger's PING gets no answer
        send(batches[3])
        assert bed.server.connections == connections + 3
        logger.send_signal(signal.SIGTERM)
        assert logger.wait(20) == 0
    finally:
        if logger.poll() is None:
            logger.kill()
        stderr.close()
    messages = (tmp_path / "logger.err").read_text()
    for reason in ("connection ended (closed", "connection ended (reconnect", "connection ended (dead",
                   "reopened 3 log file(s)"):
        assert reason in messages, f"the logger's log does not say {reason!r}:\n{messages}"

    for channel in CHANNELS:
        records, headers = read_channel(log_dir, channel)
        assert [observed(r) for r in records] == expected[channel], channel
        # SIGHUP closed every file and opened its path again (the rotated one anew); reconnects did not.
        assert headers == ["started", "closed", "separator"] * 2, channel
        assert all(r.ts is not None and r.ts.utcoffset() is not None for r in records)
    for name in ("#koreanchat.log.1", "#koreanchat.log", "#speedrun.log"):
        first = (log_dir / name).read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Log started: ") and first.endswith(" +0900"), first
    korean = [r for c in CHANNELS for r in read_channel(log_dir, c)[0] if r.display_name and r.display_name != r.user
              and not r.display_name.isascii()]
    assert korean, "no Korean display name was logged as 'Localized (login)'"
    assert sum(len(v) for v in expected.values()) > 400
