"""The pipeline benchmark's pure parts: percentiles, the lag slope and summary, tables, the latency join, the job's
progress lines; and its writer and probe against files (no host, no Kafka)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from chat_sentiment.chatty import ChattyLogReader
from chat_sentiment.records import ChatEvent

from scripts import bench_pipeline as bench
from scripts.bench import probe

REPO = Path(__file__).resolve().parents[2]


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert bench.percentile(values, 50) == 50
    assert bench.percentile(values, 99) == 99
    assert bench.percentile(values, 100) == 100
    assert bench.percentile(values, 0) == 1
    assert bench.percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert bench.percentile([7.5], 99) == 7.5
    assert math.isnan(bench.percentile([], 50))
    with pytest.raises(ValueError, match="within 0-100"):
        bench.percentile([1.0], 101)


def test_slope_of_a_line_and_of_too_little() -> None:
    assert bench.slope([(0, 5), (10, 25), (20, 45)]) == pytest.approx(2.0)
    assert bench.slope([(0, 100), (10, 100), (20, 100)]) == pytest.approx(0.0)
    assert bench.slope([(0, 1)]) is None
    assert bench.slope([(3, 1), (3, 2)]) is None


def test_markdown_table_aligns_numbers_right_and_text_left() -> None:
    table = bench.markdown_table(["name", "rate", "lag"], [["a|b", 1234.56, None], ["longer name", 7, 12]])
    lines = table.splitlines()
    assert lines[0] == "| name        | rate    | lag |"
    assert lines[1] == "| ----------- | ------: | --: |"
    assert lines[2] == "| a\\|b        | 1,234.6 |   - |"
    assert lines[3] == "| longer name |       7 |  12 |"
    forced = bench.markdown_table(["k", "v"], [["x", 1]], numeric=[False, False])
    assert forced.splitlines()[1] == "| --- | --- |"


def test_write_log_maps_each_seq_to_its_flush() -> None:
    log = bench.WriteLog.parse("0 9 100.0\n10 19 100.5\n\n20 20 101.0\n")
    assert log.lines == 21
    assert log.time_of(0) == 100.0
    assert log.time_of(15) == 100.5
    assert log.time_of(20) == 101.0
    assert log.time_of(21) is None
    assert log.time_of(-1) is None


def test_latency_result_counts_repeats_and_missing() -> None:
    log = bench.WriteLog.parse("0 1 100.0\n2 3 130.0\n")
    # seq 1 twice (the earlier record counts), seq 3 never, a seq of another size ignored
    observations = [(0, 101_500), (1, 103_000), (1, 102_000), (2, 131_000), (99, 1)]
    result = bench.latency_result(log, observations, expected=4, bucket_seconds=20)
    assert (result.records, result.distinct, result.duplicates, result.missing) == (4, 3, 1, 1)
    assert sorted(result.latencies) == pytest.approx([1.0, 1.5, 2.0])
    assert [(start, sorted(v)) for start, v in result.buckets] == [(0.0, [1.5, 2.0]), (20.0, [1.0])]
    assert result.summary()["max"] == pytest.approx(2.0)
    assert result.summary()["p50"] == pytest.approx(1.5)


def sample(t: float, written: int, topic_end: int, committed: int | None, scored_end: int, *,
           done: bool = False, others: int | None = None) -> dict[str, Any]:
    queries = {"ingest": {"committed": committed}, "events": {"committed": others}}
    return {"t": t, "time": 1000.0 + t, "written": written, "writer_done": done, "topic_end": topic_end,
            "scored_end": scored_end, "queries": queries,
            "cpu_seconds": {"chat-sentiment.service": {"java": t * 1.0, "python": t * 0.5}, "kafka.service": None},
            "host_cpu_seconds": t * 1.6, "machine_cpu": {"busy": t * 1.8, "total": t * 2}, "load": [1.0, 2.0, 3.0]}


def test_lag_is_end_offsets_minus_committed() -> None:
    assert bench.lag_of(sample(0, 0, 500, 400, 0)) == 100
    assert bench.lag_of(sample(0, 0, 500, 600, 0)) == 0
    assert bench.lag_of(sample(0, 0, 500, None, 0)) is None


def test_interval_rows_rates_levels_and_cpu() -> None:
    samples = [sample(-10, 0, 900, 900, 40), sample(0, 0, 1000, 1000, 50, others=1000),
               sample(10, 2000, 2900, 2500, 1550, others=2000)]
    idle, row = bench.interval_rows(samples, "bench-writer-x.service", start=1000.0)
    assert idle[0] == 0 and idle[1] == 0
    values = dict(zip(bench.INTERVAL_HEADERS, row, strict=True))
    assert values["t (s)"] == 10
    assert values["written/s"] == pytest.approx(200)
    assert values["shipped/s"] == pytest.approx(190)
    assert values["processed/s"] == pytest.approx(150)
    assert values["scored/s"] == pytest.approx(150)
    assert values["not shipped"] == 100  # 2000 written, 1900 shipped since the writer started (t = 0)
    assert values["job lag"] == 400
    assert values["job JVM cpu%"] == pytest.approx(100)
    assert values["job Python cpu%"] == pytest.approx(50)
    assert values["kafka cpu%"] is None
    assert values["writer cpu%"] is None
    assert values["others cpu%"] == pytest.approx(20)


def test_cpu_cost_per_line_and_the_rate_it_allows() -> None:
    samples = [sample(-20, 0, 0, 0, 0), sample(0, 0, 0, 0, 0), sample(10, 1000, 1000, 1000, 1000, done=True)]
    samples[-1]["cpu_seconds"]["bench-writer-x.service"] = {"python3": 0.5}
    rows = {row[0]: row[1:] for row in bench.cpu_cost_rows(samples, 1000.0, 10.0, 1000,
                                                            writer_unit="bench-writer-x.service", cpus=2)}
    # the job: 1.5 CPU-s per second -> 15 CPU-s for 1,000 lines -> 15 ms a line -> 2 CPUs allow 133 lines/s
    assert rows["job (JVM + Python)"] == pytest.approx([150, 150, 15.0, 15.0, 2000 / 15])
    assert rows["job: JVM"][2:4] == pytest.approx([10.0, 10.0])
    assert rows["job: Python workers and driver"][2:4] == pytest.approx([5.0, 5.0])
    assert rows["Kafka"] == [None, None, None, None, None]
    assert rows["writer"][2:4] == pytest.approx([0.5, 0.5])  # its unit appeared with the writer
    assert rows["the whole host"][2] == pytest.approx(16.0)
    assert bench.others_share(samples, 1000.0) == pytest.approx(20)


def test_throughput_summary_steady_pipeline_meets_the_target() -> None:
    # 2,000/s written for 300 s; the job trails by a steady 4,000 records and scores as fast as it is fed
    samples = [sample(0, 0, 0, 0, 0)]
    for t in range(10, 301, 10):
        samples.append(sample(t, 2000 * t, 2000 * t, 2000 * t - 4000, 2000 * t - 4000, done=t == 300))
    samples.append(sample(310, 600_000, 600_000, 600_000, 600_000, done=True))
    summary = bench.throughput_summary(samples, start=1000.0, seconds=300.0, lines=600_000)
    assert summary.written_rate == pytest.approx(2000)
    assert summary.lag_middle == summary.lag_end == 4000
    assert summary.lag_slope == pytest.approx(0.0)
    assert not summary.lag_grew
    assert summary.caught_up_after == pytest.approx(10)
    assert summary.scored_in_window == pytest.approx((600_000 - 4000) / 300)
    assert summary.met(2000, 300) == (True, "")


def test_throughput_summary_growing_lag_misses_the_target() -> None:
    # the job processes 1,500/s of 2,000/s: the lag grows by 500/s
    samples = [sample(t, 2000 * t, 2000 * t, 1500 * t, 1500 * t, done=t == 300) for t in range(0, 301, 10)]
    summary = bench.throughput_summary(samples, start=1000.0, seconds=300.0, lines=600_000)
    assert summary.lag_slope == pytest.approx(500)
    assert summary.lag_grew
    assert summary.caught_up_after is None
    met, why = summary.met(2000, 300)
    assert not met
    assert "lag grew +500 msg/s" in why
    assert "scored 1,500 msg/s" in why
    short = bench.throughput_summary(samples[:7], start=1000.0, seconds=60.0, lines=120_000)
    assert "wrote for 60s, not 300s" in short.met(2000, 300)[1]


def test_batch_stats_from_progress_lines() -> None:
    journal = "\n".join([
        "2026-01-01 12:00:00,000 INFO chat_sentiment.stream: progress query=messages batch=7 in=4000 out=3990 "
        "dup=10 late=0 state=5 duration_ms=1500 input_rate=2000.0/s process_rate=2666.7/s",
        "progress query=messages batch=8 in=2000 out=2000 dup=0 late=0 state=5 duration_ms=2500 input_rate=1.0/s "
        "process_rate=1.0/s",
        "progress query=snapshot batch=3 in=0 out=- duration_ms=100 input_rate=-/s process_rate=-/s",
        "something else entirely",
    ])
    rows = {row[0]: row for row in bench.batch_stats(journal, wall_seconds=10)}
    assert rows["messages"][1:] == [2, 6000, 5990, 3000, 2.0, 2.5, 2.5, 40.0]
    assert rows["snapshot"][1:4] == [1, 0, 0]


def test_verdict_lines() -> None:
    assert bench.verdict(True, "p99 < 10 s", "ignored") == "- p99 < 10 s: **met**"
    assert bench.verdict(False, "p99 < 10 s", "p99 12.0s") == "- p99 < 10 s: **not met** (p99 12.0s)"


def test_probe_reads_committed_and_planned_offsets(tmp_path: Path) -> None:
    checkpoint = tmp_path / "messages"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / "commits").mkdir()
    for batch, offsets in ((4, {"0": 100, "1": 50}), (5, {"0": 180, "1": 90})):
        (checkpoint / "offsets" / str(batch)).write_text(
            "v1\n" + json.dumps({"batchWatermarkMs": 0, "batchTimestampMs": 1}) + "\n"
            + json.dumps({"twitch-chat": offsets}) + "\n")
    (checkpoint / "commits" / "4").write_text('v1\n{"nextBatchWatermarkMs":0}\n')
    assert probe.committed_offsets(checkpoint, "twitch-chat") == {"committed": 150, "planned": 270, "batch": 4}
    assert probe.committed_offsets(checkpoint, "other") == {"committed": None, "planned": None, "batch": 4}
    assert probe.committed_offsets(tmp_path / "none", "twitch-chat") == {"committed": None, "planned": None,
                                                                          "batch": None}


def test_writer_lines_are_chat_messages_with_their_token(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench" / "writer.py"), "--dest", str(logs), "--rate", "400",
         "--seconds", "0.5", "--run", "ab12cd", "--records", str(tmp_path / "records.tsv"), "--status",
         str(tmp_path / "status.json"), "--channels", "2", "--sample", str(REPO / "scripts" / "demo" / "sample-chat")],
        check=True, capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout)["written"] == 200
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["done"] and status["written"] == status["target"] == 200
    log = bench.WriteLog.parse((tmp_path / "records.tsv").read_text())
    assert log.lines == 200 and log.firsts[0] == 0 and log.lasts[-1] == 199
    seqs = []
    for path in sorted(logs.glob("#bench_*.log")):
        reader = ChattyLogReader.for_path(str(path))
        for line in path.read_text(encoding="utf-8").splitlines():
            record = reader.feed(line)
            assert isinstance(record, ChatEvent), f"{path.name}: {line!r}: {record}"
            if record.kind == "header":
                continue
            assert record.kind == "message"
            match = probe.TOKEN.search(record.text or "")
            assert match and match.group(1) == "ab12cd"
            seqs.append(int(match.group(2)))
    assert sorted(seqs) == list(range(200))


@pytest.fixture
def local_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """ssh_lines runs its command with ``sh -c`` here instead of over ssh."""
    monkeypatch.setattr(bench, "host", lambda: None)
    monkeypatch.setattr(bench.testbed, "_ssh_args", lambda _host: ["sh", "-c"])


@pytest.mark.usefixtures("local_shell")
def test_ssh_lines_waits_for_the_command_after_its_output_ends() -> None:
    # stdout closes before the command exits: that is a normal end, not one to cut short
    assert list(bench.ssh_lines("echo one; echo two; exec >&-; sleep 0.5; exit 0")) == ["one\n", "two\n"]


@pytest.mark.usefixtures("local_shell")
def test_ssh_lines_tells_a_dropped_connection_from_a_failed_command() -> None:
    with pytest.raises(bench.ConnectionLost, match=r"\(255\)"):
        list(bench.ssh_lines("echo oops >&2; exit 255"))
    with pytest.raises(RuntimeError, match=r"\(3\): oops") as failed:
        list(bench.ssh_lines("echo oops >&2; exit 3"))
    assert not isinstance(failed.value, bench.ConnectionLost)
