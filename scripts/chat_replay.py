"""Replay Chatty-format logs into a chat-log folder at a live pace, as a chat logger would write them.

    python3 chat_replay.py --sample DIR --dest /var/lib/chat-logger/logs [--speed 1] [--rate N] [--loops 1]
                           [--tail SECONDS --tail-rate N] [--limit N]

Reads every ``*.log`` in ``--sample`` (``#<channel>.log``, Chatty's default ``[yyyy-MM-dd HH:mm:ss]`` stamps),
merges the channels by time and appends each line to ``--dest/#<channel>.log`` when its moment comes: the gaps of
the sample divided by ``--speed``, or a fixed total ``--rate`` of lines per second. Each written line is stamped
with the wall-clock time it is written (the chat is live, so per-minute windows are the current minutes), and each
file gets Chatty's ``# Log started``/``# Log closed`` session headers with the local zone. ``--tail`` keeps the chat
going afterwards at ``--tail-rate`` lines a second (chat messages of the sample, cycled), which moves the job's
event-time watermark past the last minute so its window is reported.

Stdlib only and Python 3.7+, because it runs on the pipeline host (copied there by the demo) as the chat logger's
user, so the files have the logger's owner and mode. Prints one JSON summary line at the end: lines written per
channel and kind, and the time span. SIGTERM/SIGINT stop after the current line and still close the sessions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import sys
import time
from datetime import datetime

STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\] (.*)$")
CHAT = re.compile(r"^<[^>]+>")
SAMPLE_WRITTEN = "chat_replay: the whole sample is written"


def load_sample(folder):
    """[(seconds from the sample's first line, channel, body)], by time then file order."""
    items = []
    names = sorted(n for n in os.listdir(folder) if n.endswith(".log"))
    if not names:
        raise SystemExit(f"chat_replay: no *.log file in {folder}")
    for order, name in enumerate(names):
        channel = name[:-4].lstrip("#")
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                match = STAMP.match(line.rstrip("\n"))
                if match:
                    ts = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
                    items.append((ts, order, number, channel, match.group(2)))
    if not items:
        raise SystemExit(f"chat_replay: no timestamped line in {folder}")
    items.sort()
    first = items[0][0]
    return [((ts - first).total_seconds(), channel, body) for ts, _, _, channel, body in items]


def kind_of(body):
    if CHAT.match(body):
        return "action" if re.match(r"^<[^>]+>\*", body) else "message"
    return "other"


class Writer:
    """Appends stamped lines to one file per channel; opens and closes Chatty sessions."""

    def __init__(self, dest):
        self.dest = dest
        self.files = {}
        self.counts = {}

    @staticmethod
    def _now():
        return datetime.now().astimezone()

    def _file(self, channel):
        handle = self.files.get(channel)
        if handle is None:
            os.makedirs(self.dest, exist_ok=True)
            # Kept open across writes, closed by close().
            handle = open(os.path.join(self.dest, f"#{channel}.log"), "a", encoding="utf-8")  # noqa: SIM115
            now = self._now()
            handle.write(f"# Log started: {now:%Y-%m-%d %H:%M:%S} {now:%z}\n")
            self.files[channel] = handle
        return handle

    def write(self, channel, body):
        handle = self._file(channel)
        handle.write(f"[{self._now():%Y-%m-%d %H:%M:%S}] {body}\n")
        handle.flush()
        per = self.counts.setdefault(channel, {})
        kind = kind_of(body)
        per[kind] = per.get(kind, 0) + 1

    def close(self):
        now = self._now()
        for handle in self.files.values():
            handle.write(f"# Log closed: {now:%Y-%m-%d %H:%M:%S} {now:%z}\n-\n")
            handle.close()
        self.files = {}


def schedule(sample, speed, rate, loops, limit):
    """(due seconds from the start, channel, body) for the whole replay."""
    span = sample[-1][0] + 1.0
    count = 0
    for loop in range(loops):
        for offset, channel, body in sample:
            if limit and count >= limit:
                return
            due = (count / rate) if rate else (loop * span + offset) / speed
            yield due, channel, body
            count += 1


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", required=True, help="folder of Chatty #channel.log files to replay")
    parser.add_argument("--dest", required=True, help="the chat-log folder the shipper reads")
    parser.add_argument("--speed", type=float, default=1.0, help="time factor over the sample's own pace")
    parser.add_argument("--rate", type=float, default=0.0, help="fixed lines per second instead of the pace")
    parser.add_argument("--loops", type=int, default=1, help="replay the sample this many times")
    parser.add_argument("--limit", type=int, default=0, help="stop after this many lines (0: no limit)")
    parser.add_argument("--tail", type=float, default=0.0, help="seconds of slow chat after the sample")
    parser.add_argument("--tail-rate", type=float, default=1.0, help="lines per second during --tail")
    args = parser.parse_args(argv)
    if args.speed <= 0 or args.rate < 0 or args.loops < 1 or args.tail < 0 or args.tail_rate <= 0:
        parser.error("--speed and --tail-rate must be > 0, --rate/--tail >= 0, --loops >= 1")

    sample = load_sample(args.sample)
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    writer = Writer(args.dest)
    started = time.monotonic()
    first_wall = datetime.now().astimezone()
    try:
        for due, channel, body in schedule(sample, args.speed, args.rate, args.loops, args.limit):
            delay = started + due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if stop:
                break
            writer.write(channel, body)
        if not stop:
            # on stderr, which the caller can read whoever runs this: the tail (if any) starts now
            print(SAMPLE_WRITTEN, file=sys.stderr, flush=True)
        if args.tail and not stop:
            chat = itertools.cycle([(c, b) for _, c, b in sample if kind_of(b) == "message"])
            tail_start = time.monotonic()
            for number in itertools.count():
                due = tail_start + number / args.tail_rate
                if due - tail_start > args.tail or stop:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                writer.write(*next(chat))
    finally:
        writer.close()
    total = sum(sum(kinds.values()) for kinds in writer.counts.values())
    summary = {
        "lines": total,
        "messages": sum(k.get("message", 0) + k.get("action", 0) for k in writer.counts.values()),
        "channels": writer.counts,
        "started": first_wall.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "interrupted": bool(stop),
    }
    print(json.dumps(summary, ensure_ascii=False, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
