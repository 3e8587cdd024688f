"""Filebeat on p1: runs as its own user, ships real-format Chatty lines to twitch-chat (at least once: a line sent
again after a restart keeps its position, so the job scores it once), keeps its registry across a restart.

Lines are appended (as the chat logger's user, files 0640) to two channel files; the topic is read back on the host
with Kafka's console consumer and every record of these checks (found by this run's marker: the topic also holds
the end-to-end test's lines, bad ones among them) goes through the job's own parser (``chat_sentiment.filebeat``),
so the checks are on what the job would make of the events: channel from ``log.file.path``, text, time.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "spark"))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))

import e2e
from chat_sentiment.filebeat import parse_event
from chat_sentiment.records import ChatEvent

RUN_CLASS = "/usr/local/bin/kafka-run-class"
LOG_DIR = "/var/lib/chat-logger/logs"
TOPIC = "twitch-chat"
# Every line these checks write carries it.
RUN = f"fb{uuid.uuid4().hex[:8]}"
# Real-format chat (shared/formats/chatty-log.md): status symbols, Localized (login) names, Korean and English.
CHANNELS = {
    "examplestreamer": [("~스트리머 (examplestreamer)", "안녕하세요 여러분"),
                        ("%시청자 (viewer_one)", "ㅋㅋㅋㅋㅋ KEKW"),
                        ("@%ModName", "채팅 규칙 지켜주세요"),
                        ("!$gamer_kim", "PogChamp that was insane")],
    "gamer_kim": [("viewer2", "gg wp"), ("+turbo_fan", "LUL LUL LUL"), ("%%팬클럽 (fan_club)", "오늘 방송 최고 ❤️")],
}


def bootstrap(host) -> str:
    return f"{host.ansible.get_variables()['ansible_host']}:9092"


def host_now(host) -> str:
    """The host's local wall-clock time, as the chat logger stamps lines."""
    return host.check_output("date '+%Y-%m-%d %H:%M:%S'")


def append(host, channel: str, lines: list[str]) -> None:
    path = f"{LOG_DIR}/#{channel}.log"
    command = "umask 027; printf '%%s\\n'" + " %s" * len(lines) + " | runuser -u chat-logger -- tee -a %s >/dev/null"
    result = host.run(command, *lines, path)
    assert result.rc == 0, result.stderr


def consume(host) -> list[str]:
    """Every value on the topic's one partition (no consumer group; it stops 10 s after the last record)."""
    admin = ["--consumer.config", e2e.KAFKA_ADMIN_CONFIG] if host.file(e2e.KAFKA_ADMIN_CONFIG).exists else []
    result = host.run(RUN_CLASS + " kafka.tools.ConsoleConsumer --bootstrap-server %s --topic %s --partition 0"
                      " --offset earliest --timeout-ms 10000" + " %s" * len(admin), bootstrap(host), TOPIC, *admin)
    # The console consumer ends on its timeout by logging a TimeoutException as an ERROR; anything else is one.
    errors = [line for line in result.stderr.splitlines()
              if "ERROR" in line and "terminating consumer process" not in line]
    assert not errors, result.stderr
    return [line for line in result.stdout.splitlines() if line.strip()]


def parsed(host, marker: str = RUN) -> list[tuple[dict, ChatEvent]]:
    """The records on the topic with the marker, decoded as JSON and parsed by the job's parser (which must accept
    them all)."""
    records = []
    for value in consume(host):
        if marker not in value:
            continue
        event = json.loads(value)
        record = parse_event(value)
        assert isinstance(record, ChatEvent), f"the job's parser rejected {value}: {record}"
        records.append((event, record))
    return records


def wait_for(host, marker: str, count: int, timeout: float = 120) -> list[tuple[dict, ChatEvent]]:
    """The records whose text has the marker, once at least ``count`` of them are on the topic."""
    deadline = time.monotonic() + timeout
    while True:
        mine = [(event, record) for event, record in parsed(host, marker) if marker in (record.text or "")]
        if len(mine) >= count or time.monotonic() > deadline:
            return mine
        time.sleep(2)


def test_service_runs_as_filebeat_with_the_log_readers_group(host):
    unit = host.service("filebeat")
    assert unit.is_enabled and unit.is_running
    pid = host.check_output("systemctl show -p MainPID --value filebeat")
    assert host.check_output(f"ps -o user= -p {pid}") == "filebeat"
    gid = host.group("chat-logger").gid
    groups = host.check_output(f"awk '/^Groups:/' /proc/{pid}/status").split()[1:]
    assert str(gid) in groups, "the service reads the chat logs through the chat-logger group"
    shown = host.check_output("systemctl show -p Restart -p ExecStart filebeat")
    assert "Restart=on-failure" in shown and "/opt/filebeat/7.17.29/filebeat" in shown
    assert host.file("/opt/filebeat/current").linked_to == "/opt/filebeat/7.17.29"
    account = host.user("filebeat")
    assert account.uid < 1000 and account.shell.endswith("nologin")


def test_config_and_registry_belong_to_the_service(host):
    config = host.file("/etc/filebeat/filebeat.yml")
    assert config.user == "root" and config.group == "filebeat" and config.mode == 0o640
    registry = host.file("/var/lib/filebeat")
    assert registry.user == "filebeat" and registry.mode == 0o750
    # Filebeat itself finds its configuration and the broker fine, run as its user (what the role checks).
    args = ("-c /etc/filebeat/filebeat.yml --path.home /opt/filebeat/7.17.29 --path.config /etc/filebeat"
            " --path.data /var/lib/filebeat --path.logs /var/log/filebeat")
    assert "Config OK" in host.check_output(f"runuser -u filebeat -- /opt/filebeat/7.17.29/filebeat test config {args}")
    tested = host.run(f"runuser -u filebeat -- /opt/filebeat/7.17.29/filebeat test output {args}")
    # Filebeat 7.17's Kafka output test resolves and dials each broker.
    assert tested.rc == 0 and "dial up... OK" in tested.stdout, tested.stdout + tested.stderr
    assert "permission denied" not in tested.stdout + tested.stderr


def test_lines_arrive_once_as_events_the_job_parses(host):
    marker = f"{RUN}m"
    stamp = host_now(host)
    sent: dict[str, tuple[str, str, str]] = {}  # text -> (channel, login, line)
    for channel, chat in CHANNELS.items():
        lines = []
        for number in range(25):
            nick, message = chat[number % len(chat)]
            text = f"{message} {marker}-{channel}-{number}"
            line = f"[{stamp}] <{nick}> {text}"
            sent[text] = (channel, nick, line)
            lines.append(line)
        append(host, channel, lines)
    mine = wait_for(host, marker, len(sent))
    counts = Counter(record.text for _, record in mine)
    assert set(counts) == set(sent), f"missing: {sorted(set(sent) - set(counts))[:5]}"
    assert all(count == 1 for count in counts.values()), [text for text, n in counts.items() if n > 1]
    now = datetime.now(UTC)
    for event, record in mine:
        channel, _, line = sent[record.text]
        assert event["message"] == line
        assert event["log"]["file"]["path"] == f"{LOG_DIR}/#{channel}.log"
        assert event["fields"]["source"] == "twitch"
        assert record.channel == channel and record.kind == "message"
        # fields.tz is the host's zone, so the local stamp maps to the right instant.
        assert record.ts is not None and abs(record.ts - now) < timedelta(minutes=5), (record.ts, now)


def test_restart_mid_stream_loses_nothing_and_each_line_is_scored_once(host):
    marker = f"{RUN}r"
    total = 400
    path = f"{LOG_DIR}/#examplestreamer.log"
    # A writer appends a line every 10 ms (about 4 s in all) while Filebeat is restarted under it.
    writer = (
        f"umask 027; i=0; while [ $i -lt {total} ]; do "
        f"printf '[%s] <%%시청자 (viewer_one)> 와 대박 PogChamp {marker}-%d\\n' \"$(date '+%Y-%m-%d %H:%M:%S')\" $i "
        f">> '{path}'; i=$((i+1)); sleep 0.01; done"
    )
    started = host.run("systemd-run --unit fb-writer-%s --uid chat-logger --collect sh -c %s", marker, writer)
    assert started.rc == 0, started.stderr
    time.sleep(1)
    assert host.run("systemctl restart filebeat").rc == 0
    for _ in range(60):
        if host.run("systemctl is-active fb-writer-%s", marker).stdout.strip() not in ("active", "activating"):
            break
        time.sleep(1)
    assert int(host.check_output(f"grep -c {marker} '{path}'")) == total
    assert host.service("filebeat").is_running
    mine = wait_for(host, marker, total)
    ids: dict[str, set[str]] = {}
    for _, record in mine:
        ids.setdefault(record.text or "", set()).add(record.id)
    assert len(ids) == total, f"{total - len(ids)} lines lost across the restart"
    # Filebeat ships at least once: a line whose acknowledgement the restart cut short (or a produce request retried
    # on a loaded broker) comes again, as the same line at the same (path, offset), so with the same id...
    assert [text for text, found in ids.items() if len(found) > 1] == []
    positions: dict[tuple[str, int], set[str]] = {}
    for event, record in parsed(host):
        positions.setdefault((event["log"]["file"]["path"], event["log"]["offset"]), set()).add(record.text or "")
    assert [key for key, texts in positions.items() if len(texts) > 1] == [], "two lines at one position"
    # ... which the job drops: each line is one scored row.
    wanted = {next(iter(found)) for found in ids.values()}
    rows = e2e.wait_scored(host, e2e.job_settings(host)["output_dir"], wanted, timeout=600)
    e2e.exactly_once([r for r in rows if r["id"] in wanted], wanted, set())
    repeats = len(mine) - total
    print(f"{repeats} of {total} lines shipped twice across the restart, each scored once")

    # Whether or not this restart made Filebeat send lines again, re-sends do reach the job: every event of this
    # run goes onto the topic a second time (same path, offset and line, as Filebeat re-sends it), then a new line.
    values = [json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() for event, _ in mine]
    assert e2e.send_raw(host, TOPIC, values) == len(values)
    again = wait_for(host, marker, 2 * len(mine))
    assert len(again) >= 2 * len(mine), "the re-sends did not reach the topic"
    sentinel = f"{marker}-after-the-resends"
    append(host, "examplestreamer", [f"[{host_now(host)}] <viewer2> {sentinel}"])
    after = wait_for(host, sentinel, 1)
    assert len(after) == 1
    # the topic is one partition: once the line after the re-sends is scored, the re-sends were read too
    rows = e2e.wait_scored(host, e2e.job_settings(host)["output_dir"], wanted | {after[0][1].id}, timeout=600)
    e2e.exactly_once([r for r in rows if r["id"] in wanted], wanted, set())


@pytest.mark.parametrize("path", ["/var/lib/filebeat/registry/filebeat/log.json"])
def test_registry_holds_the_offsets(host, path):
    registry = host.file(path)
    assert registry.exists and registry.user == "filebeat"
    assert "#examplestreamer.log" in registry.content_string
