"""The mirror's real Filebeat over a chat log rotated under it, its events through the job's parser.

Lines go to ``#chan.log``; the file is renamed to ``#chan.log.1`` (as logrotate does) while more lines go to the
renamed file and to a new ``#chan.log``. Filebeat (filestream, the globs and close settings of the filebeat role,
``output.file`` instead of Kafka) must ship every line once, and the job's parser must give every chat line an id of
its own: the new file's first line has the path and offset 0 the old file's first line had.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
import time
from collections import Counter
from pathlib import Path

import pytest
from chat_sentiment.filebeat import parse_event
from chat_sentiment.records import ChatEvent

from scripts.mirror import filebeat
from scripts.paths import mirror_root

pytestmark = pytest.mark.integration

CONFIG = """\
filebeat.inputs:
  - type: filestream
    id: twitch-chat-logs
    paths: ["{logs}/*.log", "{logs}/*.log.[0-9]"]
    prospector.scanner.check_interval: 1s
    close.on_state_change: {{inactive: 5m, renamed: false, removed: true}}
    clean_removed: true
    fields: {{source: twitch, tz: "+0000"}}
filebeat.registry.flush: 1s
output.file: {{path: "{out}", filename: events, rotate_every_kb: 100000}}
"""


def lines(prefix: str, tokens: list[str]) -> bytes:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    return "".join(f"[{stamp}] <rot_user> {prefix} {t}\n" for t in tokens).encode()


def shipped(out: Path) -> list[str]:
    return [line for path in sorted(out.glob("events*")) for line in path.read_text().splitlines() if line]


def test_a_rotated_log_ships_every_line_once_with_ids_of_their_own(tmp_path: Path) -> None:
    root = mirror_root()
    tarball = filebeat.build(root)[0]
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path, filter="data")
    home = tmp_path / filebeat.top_dir()
    logs, out, data = tmp_path / "logs", tmp_path / "out", tmp_path / "data"
    for folder in (logs, out, data):
        folder.mkdir()
    config = tmp_path / "filebeat.yml"
    config.write_text(CONFIG.format(logs=logs, out=out))
    config.chmod(0o600)
    tokens = [f"tok-{n:03d}" for n in range(90)]
    live = logs / "#rotchan.log"
    live.write_bytes(lines("before", tokens[:30]))
    beat = subprocess.Popen([str(home / "filebeat"), "-c", str(config), "--path.home", str(home),
                             "--path.data", str(data), "--path.logs", str(tmp_path), "-e", "--strict.perms=false"],
                            stdout=subprocess.DEVNULL, stderr=(tmp_path / "filebeat.err").open("w"))
    try:
        deadline = time.monotonic() + 60
        while len(shipped(out)) < 30 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(shipped(out)) >= 30, (tmp_path / "filebeat.err").read_text()[-3000:]
        live.rename(logs / "#rotchan.log.1")
        with (logs / "#rotchan.log.1").open("ab") as renamed:
            renamed.write(lines("late", tokens[30:60]))
        live.write_bytes(lines("after", tokens[60:]))
        deadline = time.monotonic() + 60
        while len(shipped(out)) < 90 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(3)
    finally:
        beat.terminate()
        beat.wait(timeout=30)
    events = shipped(out)
    records = [parse_event(event) for event in events]
    assert all(isinstance(r, ChatEvent) for r in records), records
    texts = Counter(r.text.split()[-1] for r in records)
    assert sorted(texts) == tokens and max(texts.values()) == 1, texts
    ids = Counter(r.id for r in records)
    assert len(ids) == 90, "two lines share an id: the job would drop one as a re-send"
    paths = {json.loads(e)["log"]["file"]["path"] for e in events}
    assert str(live) in paths
