"""chat-sentiment dead-letters: the job's dead_letters table counted, filtered and handed back to parse --as-job."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from chat_sentiment import asjob, cli, config, deadletters
from deltalake import write_deltalake

NOW = datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
# Dead letters as the job writes them (frames._dead_row, DEAD_LETTER_COLUMNS + received_at), from real inputs:
# a Filebeat event that is not JSON, a line with invalid UTF-8 (its bytes kept as \x escapes), a record of a topic
# no source reads, and an X record without a post id.
BROKEN_EVENT = '{"@timestamp":"2026-11-29T18:10:00.000Z","message":"[18:10:00] <kim> 안녕'
INVALID_UTF8_EVENT = ('{"@timestamp":"2026-11-29T18:20:00.000Z","log":{"file":{"path":'
                      '"/var/lib/chat-logger/logs/#kr.log"}},"message":"[18:20:00] <kim> \\xff\\xfe"}')
ROWS = [
    (BROKEN_EVENT, "Filebeat event is not valid JSON: Unterminated string starting at: line 1 column 58 (char 57)",
     "twitch", "twitch-chat", 0, 41, datetime(2026, 11, 29, 18, 10), datetime(2026, 11, 29, 18, 10, 2)),
    (INVALID_UTF8_EVENT, "Filebeat event is not valid UTF-8 (byte 112)", "twitch", "twitch-chat", 0, 57,
     datetime(2026, 11, 29, 18, 20), datetime(2026, 11, 29, 18, 20, 1)),
    ('{"@timestamp":"2026-11-29T18:50:00.000Z","message":"x"', "Filebeat event is not valid JSON: Expecting ',' "
     "delimiter: line 1 column 56 (char 55)", "twitch", "twitch-chat", 1, 3, datetime(2026, 11, 29, 18, 50),
     datetime(2026, 11, 29, 18, 50, 4)),
    ('{"data":{"text":"no id"}}', "post has no 'id'", "twitter", "twitter", 0, 7, datetime(2026, 11, 29, 18, 55),
     datetime(2026, 11, 29, 18, 55, 1)),
]


def _table(out: Path, batches: list[list[tuple]]) -> None:
    """The dead_letters table as the job commits it: a Delta table, one append per batch."""
    table = out / "dead_letters"
    for rows in batches:
        names = ["raw", "reason", "source", "topic", "partition", "offset", "kafka_ts", "received_at"]
        columns = {name: [row[i] for row in rows] for i, name in enumerate(names)}
        columns["origin"] = [None] * len(rows)
        data = pa.table({**columns, "origin": pa.array(columns["origin"], pa.string()),
                         "partition": pa.array(columns["partition"], pa.int64()),
                         "offset": pa.array(columns["offset"], pa.int64()),
                         "kafka_ts": pa.array(columns["kafka_ts"], pa.timestamp("us")),
                         "received_at": pa.array(columns["received_at"], pa.timestamp("us"))})
        write_deltalake(str(table), data, mode="append")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    _table(tmp_path, [ROWS[:2], ROWS[2:]])
    # A batch killed before its commit: its file is not in the log and must not be read.
    pq.write_table(pa.table({"raw": ["stray"], "reason": ["stray"]}), tmp_path / "dead_letters" / "part-stray.parquet")
    return tmp_path


def _run(argv: list[str]) -> tuple[int, str]:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        status = deadletters.main(argv, now=NOW)
    return status, buffer.getvalue()


def test_reads_only_committed_rows_with_utc_times(out: Path) -> None:
    rows = deadletters.read_dead_letters(out)
    assert sorted(r.offset for r in rows) == [3, 7, 41, 57]
    first = next(row for row in rows if row.offset == 41)
    assert first.received_at == datetime(2026, 11, 29, 18, 10, 2, tzinfo=UTC) and first.origin is None
    assert first.raw == BROKEN_EVENT and first.partition == 0


def test_reasons_fold_their_details_and_are_counted_most_first(out: Path) -> None:
    rows = deadletters.read_dead_letters(out)
    assert deadletters.reason_counts(rows) == [("Filebeat event is not valid JSON", 2),
                                               ("Filebeat event is not valid UTF-8 (byte N)", 1),
                                               ("post has no 'id'", 1)]


@pytest.mark.parametrize(("argv", "offsets"), [
    ([], [41, 57, 3, 7]),
    (["--since", "30m"], [3, 7]),                                  # 18:30 on
    (["--since", "2026-11-29T18:15:00", "--until", "2026-11-29T18:52:00Z"], [57, 3]),
    (["--reason", "NOT VALID json"], [41, 3]),
    (["--topic", "twitter"], [7]),
    (["--topic", "twitch-chat", "--reason", "utf-8", "--since", "1h"], [57]),
])
def test_filters_select_by_time_reason_and_topic(out: Path, argv: list[str], offsets: list[int]) -> None:
    status, text = _run(["--output-dir", str(out), "--json", *argv])
    assert status == 0
    shown = json.loads(text)
    assert shown["total"] == 4 and [row["offset"] for row in shown["rows"]] == offsets


def test_text_lists_counts_then_the_newest_rows(out: Path) -> None:
    status, text = _run(["--output-dir", str(out), "--limit", "2"])
    assert status == 0
    assert text.startswith("4 dead letters selected (of 4 in the table)")
    assert "      2  Filebeat event is not valid JSON\n" in text and "the newest 2:" in text
    listed = text.split("the newest 2:")[1]
    assert "twitch-chat/1@3" in listed and "twitter/0@7" in listed and "twitch-chat/0@41" not in listed
    assert "2026-11-29 18:55:01" in listed and "raw: {\"data\"" in listed


def test_raw_lines_go_back_through_the_jobs_own_step(out: Path, tmp_path: Path) -> None:
    status, text = _run(["--output-dir", str(out), "--raw", "--topic", "twitch-chat"])
    assert status == 0
    lines = text.splitlines()
    assert [json.loads(line)["offset"] for line in lines] == [41, 57, 3]
    assert json.loads(lines[0]) == {"topic": "twitch-chat", "value": BROKEN_EVENT, "partition": 0, "offset": 41,
                                    "timestamp": "2026-11-29T18:10:00.000000Z"}
    # Through parse --as-job with the job's settings: the same records, the same kind of reason.
    settings = tmp_path / "job.toml"
    settings.write_text(f'output_dir = "{tmp_path / "job"}"\ncheckpoint_dir = "{tmp_path / "ckpt"}"\n')
    replayed = io.BytesIO()
    asjob.run(config.load(str(settings)), cli.read_line_batches(io.BytesIO(text.encode())), replayed)
    outcomes = [json.loads(line) for line in replayed.getvalue().decode().splitlines()]
    assert [(o["outcome"], o["offset"]) for o in outcomes] == [("dead_letter", 41), ("dead_letter", 57),
                                                               ("dead_letter", 3)]
    assert outcomes[0]["reason"].startswith("Filebeat event is not valid JSON")


def test_cli_dispatches_and_a_missing_table_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["dead-letters", "--output-dir", str(tmp_path)]) == 2
    assert "dead_letters" in capsys.readouterr().err
    assert "dead-letters" in cli.build_parser().format_help()


def test_a_reason_kind_keeps_names_and_folds_positions() -> None:
    kind = deadletters.reason_kind
    assert kind("control character U+0000 at column 12") == "control character U+0000 at column N"
    assert kind("invalid UTF-8 in the log line (Filebeat replaced it with U+FFFD)") == \
        "invalid UTF-8 in the log line (Filebeat replaced it with U+FFFD)"
    assert kind("post 1790000000000000001 has no string 'text'") == "post N has no string 'text'"
    assert kind("") == "(no reason)"


def test_ages_and_bad_times() -> None:
    assert deadletters.parse_time("90s", NOW) == datetime(2026, 11, 29, 18, 58, 30, tzinfo=UTC)
    assert deadletters.parse_time("2d", NOW) == datetime(2026, 11, 27, 19, 0, tzinfo=UTC)
    assert deadletters.parse_time("2026-11-29T20:00:00+01:00", NOW) == datetime(2026, 11, 29, 19, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="yesterday"):
        deadletters.parse_time("yesterday", NOW)
