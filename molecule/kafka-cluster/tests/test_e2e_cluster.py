"""The Twitch pipeline end to end across the cluster, with the broker leading twitch-chat stopped mid-stream.

On kc3 (the shipper) the bundled sample (three channels, Korean and English, ~3,100 lines) is replayed into the
chat-log folder while the real chat logger writes a live channel from the Twitch-dialect IRC test server on the
bridge address; Filebeat ships both to the three brokers. Mid-stream the broker that leads twitch-chat's partition is
stopped (``systemctl stop kafka``) until the job on kc2 has scored new rows through the other two, then started
again: with replication factor 3 and min.insync.replicas 2, Filebeat's acks=all writes go on to the other two, and
the job follows the new leader.
Afterwards every chat message of every file is a scored row on kc2 exactly once (by the id the job derives from path
and offset), no other line is, the per-minute aggregates equal a recount of the rows, and the stopped broker is back
in the in-sync replicas. Everything is driven from the shipper host; the other hosts skip these tests.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
import e2e

RUN_CLASS = "/usr/local/bin/kafka-run-class"
TOPIC = "twitch-chat"
IRC_PORT = 16668  # extra_vars/main.yml: chat_logger_server_port
IRC_CHANNEL = "irc_cluster"  # extra_vars/main.yml: chat_logger_channels
IRC_EVENTS = 200
WAIT_S = 1200


@functools.cache
def node(name: str):
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={os.environ['MOLECULE_INVENTORY_FILE']}")


@functools.cache
def address(name: str) -> str:
    return node(name).ansible.get_variables()["ansible_host"]


def bootstrap(names: list[str]) -> str:
    return ",".join(f"{address(name)}:9092" for name in names)


def partition(alive: list[str]) -> dict[str, str]:
    """Partition 0 of twitch-chat as an alive broker describes it: Leader, Replicas, Isr (broker ids)."""
    args = ["kafka.admin.TopicCommand", "--bootstrap-server", bootstrap(alive), "--describe", "--topic", TOPIC]
    if node(alive[0]).file(e2e.KAFKA_ADMIN_CONFIG).exists:
        args += ["--command-config", e2e.KAFKA_ADMIN_CONFIG]
    described = node(alive[0]).run(RUN_CLASS + " %s" * len(args), *args)
    for line in described.stdout.splitlines():
        fields = {k.strip(): v.strip() for k, v in (p.split(":", 1) for p in line.strip().split("\t") if ":" in p)}
        if fields.get("Partition") == "0":
            return fields
    raise AssertionError(f"no partition 0 of {TOPIC} in: {described.stdout}{described.stderr}")


def isr(brokers: list[str], alive: list[str]) -> list[str]:
    """The in-sync replicas of twitch-chat's partition, by host name (broker.id is the 1-based group position)."""
    return sorted(brokers[int(i) - 1] for i in partition(alive)["Isr"].split(","))


def isr_when(brokers: list[str], alive: list[str], condition) -> list[str] | None:
    """The ISR (host names) once it meets the condition, else None (a probe for e2e.wait_for)."""
    now = isr(brokers, alive)
    return now if condition(now) else None


def scored(job, output: str) -> int:
    """Rows committed to the job's messages table so far."""
    return len(e2e.tables(job, output, "messages")["messages"])


def main_pid(host, service: str) -> str:
    return host.check_output("systemctl show -p MainPID --value %s", service)


@pytest.fixture(scope="module")
def run(host) -> dict[str, Any]:
    variables = host.ansible.get_variables()
    groups = variables["groups"]
    if variables["inventory_hostname"] != groups["shipper"][0]:
        pytest.skip("drives the whole pipeline from the shipper host")
    shipper, job = host, node(groups["spark"][0])
    brokers = list(groups["kafka"])
    settings = e2e.job_settings(job)
    output = settings["output_dir"]
    pids = {"chat-sentiment": main_pid(job, "chat-sentiment"), "filebeat": main_pid(shipper, "filebeat")}
    irc = subprocess.Popen(
        [sys.executable, str(e2e.REPO / "scripts" / "twitch_irc_server.py"), "--bind", variables["testbed_gateway"],
         "--port", str(IRC_PORT), "--channels", IRC_CHANNEL, "--generate", str(IRC_EVENTS), "--rate", "5",
         "--join-timeout", "600", "--seed", "13"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    fault: dict[str, Any] = {}
    irc_file = f"{e2e.LOG_DIR}/#{IRC_CHANNEL}.log"
    try:
        # The logger has been backing off while no server listened: a restart joins at once.
        e2e.run(shipper, "systemctl restart chat-logger")
        replay = e2e.Replay(shipper, speed=8, tail=30)
        replay.start()
        time.sleep(20)
        # The broker the writes and reads of twitch-chat go to; the other two carry on without it.
        stopped = brokers[int(partition(brokers)["Leader"]) - 1]
        alive = [name for name in brokers if name != stopped]
        fault.update(stopped=stopped, alive=alive)
        fault["scored_at_stop"] = scored(job, output)
        node(stopped).check_output("systemctl stop kafka")
        stopped_at = time.monotonic()
        try:
            fault["replay_running_at_stop"] = replay.running()
            fault["isr_while_down"] = e2e.wait_for(
                f"{stopped} to leave the ISR of {TOPIC}",
                lambda: isr_when(brokers, alive, lambda now: stopped not in now), timeout=60, every=2)
            fault["leader_while_down"] = brokers[int(partition(alive)["Leader"]) - 1]
            # The pipeline keeps going on two brokers: rows are scored while this one is still stopped.
            fault["scored_while_down"] = e2e.wait_for(
                f"messages scored while {stopped} is stopped",
                lambda: max(0, scored(job, output) - fault["scored_at_stop"]) or None, timeout=300, every=3)
            fault["still_stopped"] = node(stopped).run("systemctl is-active --quiet kafka").rc != 0
        finally:
            node(stopped).check_output("systemctl start kafka")
        fault["down_s"] = round(time.monotonic() - stopped_at)
        fault["replay_running_at_start"] = replay.running()
        summary = replay.wait()
        # The live channel: the server sends its events at 5 a second once the logger joins.
        e2e.wait_for("the live channel's chat in its log file",
                     lambda: int(shipper.run(f"grep -c '> ' {irc_file}").stdout.strip() or 0) >= IRC_EVENTS // 2,
                     timeout=300)
        time.sleep(10)
    finally:
        irc.terminate()
        irc.wait(timeout=10)
    fault["isr_after"] = e2e.wait_for(
        f"{fault['stopped']} to rejoin the ISR of {TOPIC}",
        lambda: isr_when(brokers, brokers, lambda now: len(now) == len(brokers)), timeout=300, every=5)
    files = [f"{e2e.LOG_DIR}/#{ch}.log" for ch in e2e.Replay.channels()] + [irc_file]
    lines = e2e.expected(job, files, shipper=shipper)
    chat_ids = {i for i, _ in lines["chat"]}
    other_ids = {i for i, _ in lines["other"]}
    rows = e2e.wait_scored(job, output, chat_ids, WAIT_S)
    pids_after = {"chat-sentiment": main_pid(job, "chat-sentiment"), "filebeat": main_pid(shipper, "filebeat")}
    return {"job": job, "brokers": brokers, "settings": settings, "output": output, "summary": summary,
            "lines": lines, "chat": chat_ids, "other": other_ids, "rows": rows, "fault": fault, "pids": pids,
            "pids_after": pids_after}


def test_the_job_and_the_shipper_use_every_broker_across_hosts(host, run):
    everyone = bootstrap(run["brokers"])
    assert run["settings"]["kafka"]["bootstrap_servers"] == everyone
    config = yaml.safe_load(host.file("/etc/filebeat/filebeat.yml").content_string)
    assert config["output"]["kafka"]["hosts"] == everyone.split(","), "Filebeat on the shipper lists other brokers"


def test_the_replay_and_the_live_channel_wrote_chat(run):
    assert run["summary"]["messages"] > 2000, run["summary"]
    assert len(run["chat"]) > 2000 and len(run["other"]) > 50


def test_a_broker_was_stopped_mid_stream_and_rejoined(run):
    fault = run["fault"]
    assert fault["replay_running_at_stop"] and fault["replay_running_at_start"], f"not mid-stream: {fault}"
    assert fault["scored_while_down"] > 0 and fault["still_stopped"], fault
    assert fault["isr_while_down"] == sorted(fault["alive"]), fault
    assert fault["leader_while_down"] in fault["alive"], fault
    assert fault["isr_after"] == sorted(run["brokers"]), fault


def test_the_job_and_filebeat_rode_out_the_broker_outage(run):
    # Clients of a cluster that lost one broker of three: neither had to be restarted.
    assert run["pids_after"] == run["pids"]


def test_every_chat_message_is_scored_exactly_once(run):
    e2e.channels_scored_once(run["rows"], set(e2e.Replay.channels()) | {IRC_CHANNEL}, run["chat"], run["other"])


def test_the_live_channel_went_through_the_real_logger(run):
    live = [r for r in run["rows"] if r["channel"] == IRC_CHANNEL]
    assert len(live) >= IRC_EVENTS // 2


def test_aggregates_equal_the_rows(run):
    # Every replayed channel has windows (the job merges each window its batches touch), each equal to its rows.
    report = e2e.closed_report(run["job"], run["output"], set(e2e.Replay.channels()))
    assert report["mismatches"] == []
    assert report["duplicate_ids"] == 0
