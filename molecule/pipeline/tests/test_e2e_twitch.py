"""The Twitch pipeline end to end on p1, with faults mid-stream and a bad-input corpus.

While the bundled sample (three channels, Korean and English, ~3,100 lines) is replayed into the chat-log folder and
the real chat logger writes a live channel from the Twitch-dialect IRC test server, the broker is killed with
SIGKILL, then the job, and Filebeat is restarted; systemd brings each back. Beside it a bad-input corpus is written:
invalid UTF-8, a 300 kB line (Filebeat cuts it), a 1 MB line (Filebeat skips it, with a warning), truncated lines,
unknown line kinds, an empty file and a file rotated (renamed, as logrotate does) under Filebeat while it grows.
Afterwards every chat message of every file is a scored row exactly once (by the id the job derives from path and
offset), no other line is, bad lines are dead letters, the rotated file's messages are all there, and the
per-minute aggregates equal a recount of the rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import e2e

IRC_PORT = 16667  # vars/main.yml: chat_logger_server_port
IRC_CHANNEL = "irc_e2e"
IRC_EVENTS = 300
# Channels of their own on each run, so the checks can run again on the same host.
RUN = time.strftime("%H%M%S")
BAD = f"e2e_bad_{RUN}"
ROTATED = f"e2e_rot_{RUN}"
EMPTY = f"e2e_empty_{RUN}"
POISON = f"e2e_poison_{RUN}"
WAIT_S = 1200


def stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


def chat(user: str, text: str) -> bytes:
    return f"[{stamp()}] <{user}> {text}\n".encode()


def bad_corpus(host) -> dict[str, object]:
    """The bad lines, among good ones, each good one carrying a token to find it by."""
    good = [chat("bad_ok", f"fine line {n} tok-bad-{n}") for n in range(5)]
    lines = [
        good[0],
        f"[{stamp()}] <utf8_user> caf".encode() + b"\xc3\x28 broken \xff\xfe tok-utf8\n",
        good[1],
        f"[{stamp()}] <big_user> ".encode() + b"x" * (1024 * 1024) + b" tok-big\n",
        good[2],
        f"[{stamp()}] <long_user> ".encode() + "ㅋ".encode() * 100_000 + b" tok-long\n",
        f"[{stamp()[:13]}".encode() + b"\n",                       # truncated in its stamp
        f"[{stamp()}] <half_us".encode() + b"\n",                   # truncated in the name
        f"[{stamp()}] ~~~ some line kind nobody knows ~~~ tok-unknown\n".encode(),
        b"\x00\x01\x02 binary junk\n",
        good[3],
        b"\n",
        good[4],
    ]
    path = e2e.append(host, BAD, lines)
    empty = e2e.append(host, EMPTY, [])
    return {"path": path, "empty": empty, "good": 5}


def rotate_under_filebeat(host) -> list[str]:
    """Lines appended, the file renamed as logrotate does, more lines to the renamed file and to a new one."""
    tokens = [f"tok-rot-{n:03d}" for n in range(90)]
    current = f"{e2e.LOG_DIR}/#{ROTATED}.log"
    e2e.append(host, ROTATED, [chat("rot_user", f"before {t}") for t in tokens[:30]])
    e2e.run(host, f"mv {current!r} {current + '.1'!r}")
    e2e.append(host, ROTATED, [chat("rot_user", f"late {t}") for t in tokens[30:60]], name=f"#{ROTATED}.log.1")
    e2e.append(host, ROTATED, [chat("rot_user", f"after {t}") for t in tokens[60:]])
    return tokens


@pytest.fixture(scope="module")
def run(host) -> dict[str, object]:
    settings = e2e.job_settings(host)
    output = settings["output_dir"]
    bridge = host.ansible.get_variables()["testbed_gateway"]
    irc = subprocess.Popen(
        [sys.executable, str(e2e.REPO / "scripts" / "twitch_irc_server.py"), "--bind", bridge, "--port",
         str(IRC_PORT), "--channels", IRC_CHANNEL, "--generate", str(IRC_EVENTS), "--rate", "5",
         "--join-timeout", "600", "--seed", "11"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The logger has been backing off while no server listened: a restart joins at once.
        e2e.run(host, "systemctl restart chat-logger")
        replay = e2e.Replay(host, speed=8, tail=900)  # slow chat until stopped below
        replay.start()
        faults = []
        time.sleep(15)
        faults.append({"fault": "kafka killed", "mid_stream": replay.running(), **e2e.kill_and_wait(host, "kafka")})
        bad = bad_corpus(host)
        time.sleep(15)
        faults.append({"fault": "job killed", "mid_stream": replay.running(),
                       **e2e.kill_and_wait(host, "chat-sentiment")})
        tokens = rotate_under_filebeat(host)
        time.sleep(10)
        pid = e2e.run(host, "systemctl show -p MainPID --value filebeat").strip()
        e2e.run(host, "systemctl restart filebeat")
        faults.append({"fault": "filebeat restarted", "mid_stream": replay.running(), "pid": pid,
                       "pid_after": e2e.run(host, "systemctl show -p MainPID --value filebeat").strip()})
        summary = replay.stop()
        # The live channel: the server sends its events at 5 a second once the logger joins.
        irc_file = f"{e2e.LOG_DIR}/#{IRC_CHANNEL}.log"
        e2e.wait_for("the live channel's chat in its log file",
                     lambda: int(host.run(f"grep -c '> ' {irc_file}").stdout.strip() or 0) >= IRC_EVENTS // 2,
                     timeout=300)
        time.sleep(10)
    finally:
        irc.terminate()
        irc.wait(timeout=10)
    files = [f"{e2e.LOG_DIR}/#{ch}.log" for ch in e2e.Replay.channels()] + [irc_file]
    lines = e2e.expected(host, files)
    chat_ids = {i for i, _ in lines["chat"]}
    other_ids = {i for i, _ in lines["other"]}
    rows = e2e.wait_scored(host, output, chat_ids, WAIT_S)
    return {"output": output, "summary": summary, "lines": lines, "chat": chat_ids, "other": other_ids,
            "rows": rows, "bad": bad, "tokens": tokens, "faults": faults}


def test_the_replay_and_the_live_channel_wrote_chat(run):
    assert run["summary"]["messages"] > 2000, run["summary"]
    assert len(run["chat"]) > 2000 and len(run["other"]) > 50
    # each fault hit while chat was being replayed, and each service came back as a new process
    assert [f["fault"] for f in run["faults"]] == ["kafka killed", "job killed", "filebeat restarted"]
    for fault in run["faults"]:
        assert fault["mid_stream"] and fault["pid_after"] not in ("", "0", fault["pid"]), fault
        assert fault.get("restarts_after", 1) > fault.get("restarts", 0), fault


def test_every_chat_message_is_scored_exactly_once(run):
    e2e.channels_scored_once(run["rows"], set(e2e.Replay.channels()) | {IRC_CHANNEL}, run["chat"], run["other"])


def test_the_live_channel_went_through_the_real_logger(run):
    live = [r for r in run["rows"] if r["channel"] == IRC_CHANNEL]
    assert len(live) >= IRC_EVENTS // 2


def test_bad_input_is_dead_letters_and_the_good_lines_around_it_are_scored(host, run):
    def probe():
        got = e2e.tables(host, run["output"], "messages", "dead_letters", "events")
        got["bad_dead"] = [r for r in got["dead_letters"]
                           if (r.get("origin") or "").startswith(run["bad"]["path"] + ":")]
        good = [r for r in got["messages"] if r["channel"] == BAD]
        return got if len(good) >= run["bad"]["good"] and len(got["bad_dead"]) >= 2 else None

    got = e2e.wait_for("the bad file's good lines and dead letters", probe, timeout=300,
                       explain=lambda: f"the job's last batches:\n{e2e.job_journal(host, 'written|again|ERROR', 20)}")
    bad_rows = [r for r in got["messages"] if r["channel"] == BAD]
    texts = [r["text"] for r in bad_rows]
    assert sorted(t.split()[-1] for t in texts) == [f"tok-bad-{n}" for n in range(run["bad"]["good"])], texts
    dead = got["bad_dead"]
    reasons = " | ".join(r["reason"] for r in dead)
    # Invalid UTF-8 and the 300 kB line Filebeat cut to message_max_bytes are dead letters with their reason.
    assert "UTF-8" in reasons and "message_max_bytes" in reasons, reasons
    # The stamp cut short, the name cut short, the unknown kind and the binary junk: dead letters or other events,
    # never messages; the blank line is skipped by Filebeat itself.
    others = [r for r in got["events"] if r["channel"] == BAD]
    assert len(dead) + len(others) >= 6, (reasons, others)
    # The 1 MB line is more than Filebeat's line reader holds (4 x message_max_bytes): Filebeat skips it and says so.
    skipped = host.run("grep -h 'max bytes in line limit, skipped' /var/log/filebeat/filebeat*").stdout
    assert "skipped 1048" in skipped, skipped
    assert not [r for r in got["messages"] if r["channel"] == EMPTY]


# Records put straight on the topic, as a buggy shipper, a disk error or anyone who can write to it could: each of
# these once failed every batch it was in, so the job exited, restarted, failed again, and scored nothing more.
def poison_records() -> list[bytes]:
    path = f"{e2e.LOG_DIR}/#{POISON}.log"

    def event(message: str, **extra: object) -> bytes:
        body = {"@timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "message": message,
                "log": {"offset": 10_000_000 + len(message), "file": {"path": path}}, **extra}
        return json.dumps(body, ensure_ascii=True).encode()

    return [
        event(f"[9999-12-31 23:59:59] <poison_user> from the year 9999 tok-{POISON}-future"),
        event(f"[{stamp()}] <poison_user> a lone TOKSUR tok-{POISON}-surrogate").replace(b"TOKSUR", b"\\ud800"),
        event(f"<poison_user> no time, and an @timestamp in 9999 tok-{POISON}-ts", **{"@timestamp":
                                                                                     "9999-12-31T23:59:59Z"}),
    ]


def test_records_that_once_stopped_the_job_are_dead_letters_and_it_goes_on(host, run):
    show = "systemctl show -p MainPID -p NRestarts -p ActiveState chat-sentiment"
    before = e2e.run(host, show)
    records = poison_records()
    assert e2e.send_raw(host, "twitch-chat", records) == len(records)
    # then a good line through the shipper: scored only if the job is still going
    e2e.append(host, POISON, [chat("poison_ok", f"still scored after the poison tok-{POISON}-ok")])

    def probe():
        got = e2e.tables(host, run["output"], "messages", "dead_letters")
        dead = [r for r in got["dead_letters"] if f"tok-{POISON}-" in (r.get("raw") or "")]
        good = [r for r in got["messages"] if r["channel"] == POISON]
        return (dead, good) if len(dead) >= len(records) and good else None

    dead, good = e2e.wait_for("the poison records' dead letters and the good line after them", probe, timeout=300,
                              explain=lambda: f"the job's log:\n{e2e.job_journal(host, '.', 30)}")
    reasons = {r["raw"].split("tok-")[-1].split('"')[0]: r["reason"] for r in dead}
    assert len(dead) == len(records), reasons  # once each
    assert "outside the range the job stores" in reasons[f"{POISON}-future"], reasons
    assert "not valid Unicode" in reasons[f"{POISON}-surrogate"], reasons
    assert "outside the range the job stores" in reasons[f"{POISON}-ts"], reasons
    assert [r["text"].split()[-1] for r in good] == [f"tok-{POISON}-ok"]
    assert e2e.run(host, show) == before  # the same process all along: no failure, no restart


def test_a_file_rotated_under_filebeat_loses_and_repeats_nothing(host, run):
    def probe():
        rows = e2e.tables(host, run["output"], "messages")["messages"]
        mine = [r["text"].split()[-1] for r in rows if r["channel"] == ROTATED]
        return mine if len(mine) >= len(run["tokens"]) else None

    tokens = e2e.wait_for("the rotated file's messages", probe, timeout=300)
    assert sorted(tokens) == run["tokens"]


def test_aggregates_equal_the_rows(host, run):
    # Every replayed channel has windows, and every window equals a recount of its rows.
    report = e2e.closed_report(host, run["output"], set(e2e.Replay.channels()))
    assert report["mismatches"] == []
    assert report["duplicate_ids"] == 0
