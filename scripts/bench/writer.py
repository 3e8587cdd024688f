"""The pipeline benchmark's chat writer: Chatty-format lines at a fixed rate, each with a unique token.

    python3 writer.py --dest /var/lib/chat-logger/logs --rate 2000 --seconds 300 --run 3f9a1c \\
                      --records DIR/records.tsv --status DIR/status.json [--channels 4] [--sample DIR]

Appends ``[yyyy-MM-dd HH:mm:ss] <nick> text bench-<run>-<seq>`` lines to ``--dest/#bench_<n>.log`` (one file per
channel, lines dealt round-robin, each file opened with Chatty's ``# Log started`` header and closed with ``# Log
closed``), ``--rate`` lines a second for ``--seconds``. The texts are the chat messages of ``--sample`` (Chatty logs,
e.g. the demo's sample: Korean and English, emotes) cycled, or a built-in handful; the token at the end makes every
line findable in the job's outputs, ``<seq>`` counting from 0.

It writes in ticks of ``--tick`` seconds: all the lines due by then, then one flush per file, then one line
``<first seq> <last seq> <time.time() after the flush>`` in ``--records``: the moment those lines became readable,
which the benchmark takes as their write time. A writer that falls behind (a starved CPU) writes its backlog in the
next tick, so the rate it reaches is the target's unless the machine cannot keep up; ``--status`` (JSON, replaced
about once a second) says how far it got, and ``done`` at the end.

Stdlib only, Python 3.7+: it runs on the pipeline host (copied there by scripts/bench_pipeline.py) as the chat
logger's user, so the files have the logger's owner and mode. SIGTERM/SIGINT stop after the current tick.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from datetime import datetime

CHAT = re.compile(r"^\[[^\]]+\] <[^>*]+> (.+)$")
FALLBACK_TEXTS = (
    "PogChamp that was amazing",
    "LUL what a throw",
    "gg well played <3",
    "this is so boring ResidentSleeper",
    "오늘 방송 진짜 재밌다 ㅋㅋㅋ",
    "아 이건 좀 아닌데 BibleThump",
    "Kappa sure buddy",
    "that boss fight was terrible",
)


def load_texts(folder):
    """The chat messages' texts of every ``*.log`` in ``folder`` (no /me actions), or the built-in ones."""
    texts = []
    if folder and os.path.isdir(folder):
        for name in sorted(os.listdir(folder)):
            if name.endswith(".log"):
                with open(os.path.join(folder, name), encoding="utf-8") as handle:
                    texts += [m.group(1) for m in map(CHAT.match, handle) if m]
    return texts or list(FALLBACK_TEXTS)


def write_status(path, **fields):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(fields, handle)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dest", required=True, help="the chat-log folder the shipper reads")
    parser.add_argument("--rate", type=float, required=True, help="lines per second, all channels together")
    parser.add_argument("--seconds", type=float, required=True, help="how long to write")
    parser.add_argument("--run", required=True, help="run id in every token (letters and digits)")
    parser.add_argument("--records", required=True, help="file of '<first seq> <last seq> <unix time>' per tick")
    parser.add_argument("--status", required=True, help="JSON progress file, replaced about once a second")
    parser.add_argument("--channels", type=int, default=4, help="channels (files) to deal the lines over")
    parser.add_argument("--sample", default="", help="folder of Chatty logs whose chat texts are reused")
    parser.add_argument("--tick", type=float, default=0.02, help="seconds between writes (default 0.02)")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.channels < 1 or not args.run.isalnum():
        parser.error("--rate and --seconds must be > 0, --channels >= 1, --run letters and digits")

    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))
    texts = load_texts(args.sample)
    total = round(args.rate * args.seconds)
    os.makedirs(args.dest, exist_ok=True)
    now = datetime.now().astimezone()
    files = []
    for number in range(args.channels):
        # Kept open for the whole run, closed at the end.
        handle = open(os.path.join(args.dest, f"#bench_{number}.log"), "a", encoding="utf-8")  # noqa: SIM115
        handle.write(f"# Log started: {now:%Y-%m-%d %H:%M:%S} {now:%z}\n")
        handle.flush()
        files.append(handle)
    records = open(args.records, "w", encoding="utf-8")  # noqa: SIM115
    started_wall = time.time()
    started = time.monotonic()
    written = 0
    last_status = 0.0
    write_status(args.status, run=args.run, target=total, written=0, started=started_wall, time=started_wall,
                 done=False)
    try:
        while written < total and not stop:
            due = min(total, int((time.monotonic() - started) * args.rate) + 1)
            if due > written:
                stamp = f"[{datetime.now():%Y-%m-%d %H:%M:%S}]"
                first = written
                for seq in range(first, due):
                    text = texts[seq % len(texts)]
                    files[seq % args.channels].write(f"{stamp} <bench_user{seq % 997}> {text} bench-{args.run}-{seq}\n")
                for handle in files:
                    handle.flush()
                written = due
                flushed = time.time()
                records.write(f"{first} {due - 1} {flushed:.6f}\n")
                if flushed - last_status >= 1.0:
                    write_status(args.status, run=args.run, target=total, written=written, started=started_wall,
                                 time=flushed, done=False)
                    last_status = flushed
            next_tick = started + (written / args.rate) if written < total else time.monotonic()
            time.sleep(max(args.tick, next_tick - time.monotonic()))
    finally:
        end = datetime.now().astimezone()
        for handle in files:
            handle.write(f"# Log closed: {end:%Y-%m-%d %H:%M:%S} {end:%z}\n-\n")
            handle.close()
        records.close()
        ended = time.time()
        write_status(args.status, run=args.run, target=total, written=written, started=started_wall, time=ended,
                     done=True, seconds=round(time.monotonic() - started, 3), interrupted=bool(stop))
    print(json.dumps({"run": args.run, "written": written, "seconds": round(ended - started_wall, 3)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
