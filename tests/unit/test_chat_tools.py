"""The demo's chat generator and replay tool write logs the job's Chatty parser reads without a dead letter."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from chat_sentiment.chatty import ChattyLogReader
from chat_sentiment.records import ChatEvent

from scripts import chatgen

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "scripts" / "demo" / "sample-chat"


def kinds(path: Path) -> Counter[str]:
    reader = ChattyLogReader.for_path(str(path))
    found: Counter[str] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        record = reader.feed(line)
        assert isinstance(record, ChatEvent), f"{path.name}: {line!r}: {record}"
        found[record.kind] += 1
    return found


def test_bundled_sample_is_what_the_generator_makes(tmp_path: Path) -> None:
    chatgen.main(["--out", str(tmp_path)])
    for made in sorted(tmp_path.glob("*.log")):
        assert made.read_bytes() == (SAMPLE / made.name).read_bytes(), f"regenerate {SAMPLE} with scripts.chatgen"
    assert len(list(SAMPLE.glob("*.log"))) == 3


def test_sample_parses_with_every_line_kind() -> None:
    total: Counter[str] = Counter()
    for path in SAMPLE.glob("*.log"):
        total += kinds(path)
    assert total["message"] > 2000
    for kind in ("action", "bits", "notification", "ban", "deleted", "points", "viewerstats", "viewers", "header"):
        assert total[kind] > 0, kind
    # Korean display names come out as Localized (login), and both languages are present.
    text = "".join(p.read_text(encoding="utf-8") for p in SAMPLE.glob("*.log"))
    assert "<%고양이 (cat_lover)>" in text or "(cat_lover)>" in text
    assert "ㅋㅋ" in text and "that was insane" in text


def run_replay(*args: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "chat_replay.py"), *args],
                          capture_output=True, text=True, check=True, timeout=60)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_replay_restamps_lines_and_keeps_every_message(tmp_path: Path) -> None:
    dest = tmp_path / "logs"
    summary = run_replay("--sample", str(SAMPLE), "--dest", str(dest), "--rate", "5000", "--limit", "600")
    assert summary["lines"] == 600 and not summary["interrupted"]
    found: Counter[str] = Counter()
    for path in dest.glob("*.log"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# Log started: ") and text.endswith("-\n")
        assert "[2024-05-01 " not in text, "lines are stamped with the replay's wall-clock time"
        found += kinds(path)
    assert found["message"] + found["action"] == summary["messages"]
    assert sum(v for k, v in found.items() if k != "header") == 600


def test_replay_tail_keeps_chatting_and_appends_sessions(tmp_path: Path) -> None:
    dest = tmp_path / "logs"
    run_replay("--sample", str(SAMPLE), "--dest", str(dest), "--rate", "5000", "--limit", "30")
    summary = run_replay("--sample", str(SAMPLE), "--dest", str(dest), "--rate", "5000", "--limit", "30",
                         "--tail", "1.0", "--tail-rate", "20")
    assert 30 + 15 <= summary["lines"] <= 30 + 22
    for path in dest.glob("*.log"):
        text = path.read_text(encoding="utf-8")
        assert text.count("# Log started: ") == text.count("# Log closed: ") >= 1


def test_replay_rejects_an_empty_sample(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "chat_replay.py"), "--sample", str(tmp_path),
                           "--dest", str(tmp_path / "out")], check=False, capture_output=True, text=True, timeout=30)
    assert done.returncode != 0 and "no *.log file" in done.stderr
