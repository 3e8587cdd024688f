"""The ``chat-sentiment`` command.

``chat-sentiment score [--scorer lexicon|transformers] [--model PATH_OR_ID]``
    Reads UTF-8 text lines on stdin and writes, in the same order, one JSON object per input line:
    ``{"label": "positive"|"neutral"|"negative", "score": <float in [-1, 1]>}``. An empty line gets
    ``{"label": "neutral", "score": 0.0}``; invalid UTF-8 bytes are replaced (U+FFFD), never fatal; ``\\r\\n``
    endings and a leading BOM are accepted; a last line without a newline still gets its output line.
    Input is processed as it arrives: whatever complete lines are available (up to ``--batch-size``) are scored
    together and their output is flushed, so a pipe that stays open gets answers line by line.

``chat-sentiment parse [--format auto|filebeat|chatty|twitter] [--channel C] [--path P] [--tz Z] [--score]``
    Reads Filebeat JSON events, X API v2 records or raw Chatty lines on stdin and writes one JSON object per
    parsed record: events (``"type": "event"``) and dead letters (``"type": "dead_letter"``, with the reason).

``chat-sentiment parse --as-job [--config FILE]``
    Reads Kafka records as JSON lines (``{"topic": ..., "value": ...}`` or ``"value_b64"`` for raw bytes) and runs
    exactly the streaming job's per-batch step on them (parse, score, conversion to what Spark stores) with the
    job's settings; prints one JSON line per resulting row with its outcome (``row``, ``event`` or
    ``dead_letter`` and the reason). Exits 0 whatever the records hold. See :mod:`chat_sentiment.asjob`.

``chat-sentiment evaluate TSV [--vader]``
    Sign-of-score accuracy on a labelled TSV and throughput (see :mod:`chat_sentiment.evaluate`).

``chat-sentiment stream [--config FILE] [--check]``
    The Spark Structured Streaming job (see :mod:`chat_sentiment.stream`; needs ``chat-sentiment[stream]``).
    ``--check`` validates the settings and the Kafka connector jars and prints them without starting Spark.

``chat-sentiment report --output-dir DIR`` and ``chat-sentiment dead-letters --output-dir DIR``
    The job's per-minute table (:mod:`chat_sentiment.report`); its dead letters, counted by reason, filtered by
    reason, topic and time, or as ``parse --as-job`` input lines with ``--raw`` (:mod:`chat_sentiment.deadletters`).

Exit status: 0 on success, 2 for bad arguments or a scorer that cannot start (the message names the cause).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any, BinaryIO

from .chatty import ChattyLogReader, parse_zone
from .evaluate import main as evaluate_main
from .filebeat import parse_event
from .records import ChatEvent, DeadLetter
from .scorers import SCORER_NAMES, Score, Scorer, ScorerUnavailable, get_scorer
from .twitter import parse_record

DEFAULT_BATCH_SIZE = 64
_READ_SIZE = 1 << 16


def read_line_batches(stream: BinaryIO, max_batch: int = DEFAULT_BATCH_SIZE) -> Iterator[list[bytes]]:
    """Yield lists of complete lines (without their ``\\n``) as soon as they are available.

    Reads with ``os.read`` on the stream's file descriptor when it has one (returns whatever a pipe holds, never
    waits for a full buffer), else with ``read1``. A final line without a newline is yielded at end of input.
    """
    try:
        fd: int | None = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    pending = b""
    while True:
        chunk = os.read(fd, _READ_SIZE) if fd is not None else stream.read1(_READ_SIZE)  # type: ignore[attr-defined]
        if not chunk:
            break
        pending += chunk
        if b"\n" not in chunk:
            continue
        *lines, pending = pending.split(b"\n")
        for start in range(0, len(lines), max_batch):
            yield lines[start:start + max_batch]
    if pending:
        yield [pending]


def decode_text(line: bytes) -> str:
    """A line as text: invalid UTF-8 replaced, a trailing ``\\r`` and a leading BOM dropped."""
    text = line.decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def format_score(score: Score) -> str:
    value = float(score.score)
    if math.isnan(value):  # NaN from a broken model: report neutral rather than invalid JSON
        value = 0.0
    value = max(-1.0, min(1.0, value))
    return json.dumps({"label": score.label, "score": value})


def run_score(scorer: Scorer, stdin: BinaryIO, stdout: BinaryIO, batch_size: int) -> None:
    for batch in read_line_batches(stdin, batch_size):
        texts = [decode_text(line) for line in batch]
        scores = scorer.score_batch(texts)
        if len(scores) != len(texts):
            raise RuntimeError(f"scorer {scorer.name!r} returned {len(scores)} scores for {len(texts)} lines")
        stdout.write(("\n".join(format_score(s) for s in scores) + "\n").encode("utf-8"))
        stdout.flush()


def _detect(text: str) -> str:
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return "chatty"
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError:
        return "json-invalid"
    if isinstance(obj, dict) and "message" in obj and ("log" in obj or "@timestamp" in obj or "input" in obj):
        return "filebeat"
    if isinstance(obj, dict) and ("data" in obj or "errors" in obj or ("id" in obj and "text" in obj)):
        return "twitter"
    return "json-unknown"


def run_parse(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> None:
    scorer = get_scorer(args.scorer, model=args.model) if args.score else None
    if args.path:
        reader = ChattyLogReader.for_path(args.path, tz=parse_zone(args.tz) if args.tz else parse_zone("Z"))
    else:
        reader = ChattyLogReader(channel=(args.channel or "unknown").lstrip("#").lower(),
                                 tz=parse_zone(args.tz) if args.tz else parse_zone("Z"))
    if args.channel and args.path:
        reader.channel = args.channel.lstrip("#").lower()
    for batch in read_line_batches(stdin, args.batch_size):
        records: list[ChatEvent | DeadLetter] = []
        for line in batch:
            text = decode_text(line) if args.format != "chatty" else None
            kind = args.format if args.format != "auto" else _detect(text or "")
            if kind == "chatty":
                records.append(reader.feed(line + b"\n"))
            elif kind == "filebeat":
                records.append(parse_event(line))
            elif kind == "twitter":
                records.extend(parse_record(line, channel=args.channel or "twitter"))
            else:
                records.append(DeadLetter(raw=text or "", source=None,
                                          reason="JSON record that is neither a Filebeat event nor an X record"
                                          if kind == "json-unknown" else "line starts with '{' but is not JSON"))
        scored = [r for r in records if isinstance(r, ChatEvent) and r.scored] if scorer else []
        scores = iter(scorer.score_batch([r.text or "" for r in scored])) if scorer else iter(())
        lines = []
        for record in records:
            obj = record.to_dict()
            if scorer and isinstance(record, ChatEvent) and record.scored:
                score = next(scores)
                obj["label"], obj["score"] = score.label, score.score
            lines.append(json.dumps(obj, ensure_ascii=False))
        if lines:
            stdout.write(("\n".join(lines) + "\n").encode("utf-8"))
            stdout.flush()


def _job_config(command: str, path: str | None) -> Any:
    """The job's settings for ``command``, or None after saying on stderr why they cannot be loaded."""
    from . import config  # noqa: PLC0415 - loaded only by the commands that read the job's settings

    try:
        return config.load(path)
    except config.ConfigError as exc:
        print(f"chat-sentiment {command}: configuration error: {exc}", file=sys.stderr)
        return None


def _parse_as_job(args: argparse.Namespace, stdin: BinaryIO, stdout: BinaryIO) -> int:
    try:
        from . import asjob  # noqa: PLC0415 - pyarrow/pandas are optional dependencies
    except ImportError as exc:
        print(f"chat-sentiment parse --as-job: needs pip install 'chat-sentiment[stream]': {exc}", file=sys.stderr)
        return 2
    cfg = _job_config("parse --as-job", args.config)
    if cfg is None:
        return 2
    asjob.run(cfg, read_line_batches(stdin, args.batch_size), stdout)
    return 0


def _tables_command(args: argparse.Namespace, out: Any) -> int:
    """``chat-sentiment sql`` and ``chat-sentiment maintain``."""
    try:
        from . import tables  # noqa: PLC0415 - deltalake is an optional dependency
    except ImportError as exc:
        print(f"chat-sentiment {args.command}: needs pip install 'chat-sentiment[stream]': {exc}", file=sys.stderr)
        return 2
    cfg = _job_config(args.command, args.config)
    if cfg is None:
        return 2
    output_dir = args.output_dir or cfg.output_dir
    try:
        if args.command == "maintain":
            # one log line a table (the timer's journal), then the summary as JSON on stdout
            logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
            days = cfg.retention_days if args.retention_days is None else args.retention_days
            summary = tables.maintain(output_dir, days)
            out.write(json.dumps(summary, sort_keys=True) + "\n")
            return 0
        result = tables.sql(output_dir, args.query)
    except Exception as exc:  # a SQL error, a table that is not there: say so, no traceback
        print(f"chat-sentiment {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        for row in result.to_pylist():
            out.write(json.dumps(row, default=str, ensure_ascii=False) + "\n")
    else:
        out.write(result.to_pandas().to_string(index=False) + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chat-sentiment", description="Score and parse live chat.")
    sub = parser.add_subparsers(dest="command", required=True)
    score = sub.add_parser("score", help="score text lines from stdin, one JSON object per line")
    parse = sub.add_parser("parse", help="parse Filebeat events, X records or Chatty lines from stdin")
    for p in (score, parse):
        p.add_argument("--scorer", choices=SCORER_NAMES, default="lexicon")
        p.add_argument("--model", default=None, help="transformers model: Hugging Face hub id or local path")
        p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    score.add_argument("--revision", default=None, help="transformers: hub revision to pin")
    score.add_argument("--quantize", action="store_true", help="transformers: int8 dynamic quantization")
    parse.add_argument("--format", choices=("auto", "filebeat", "chatty", "twitter"), default="auto")
    parse.add_argument("--channel", default=None, help="channel of raw Chatty lines (or X records)")
    parse.add_argument("--path", default=None, help="Chatty log file path the lines come from (gives the channel)")
    parse.add_argument("--tz", default=None, help="zone of raw Chatty lines before a '# Log started' header")
    parse.add_argument("--score", action="store_true", help="add label and score to messages and actions")
    parse.add_argument("--as-job", action="store_true",
                       help="read Kafka records as JSON lines ({\"topic\", \"value\" or \"value_b64\"}) and run "
                            "the streaming job's own per-batch code on them: one outcome line per row")
    parse.add_argument("--config", default=None,
                       help="--as-job: the job's TOML settings (or $CHAT_SENTIMENT_CONFIG): topics and scorer")
    evaluate = sub.add_parser("evaluate", help="accuracy and throughput of the lexicon scorer on a labelled TSV")
    evaluate.add_argument("tsv")
    evaluate.add_argument("--vader", action="store_true")
    stream = sub.add_parser("stream", help="run the Spark streaming job (Kafka -> scores, aggregates, snapshot)")
    stream.add_argument("--config", default=None, help="TOML settings file; CHAT_SENTIMENT_* variables override")
    stream.add_argument("--check", action="store_true", help="check the settings and connector jars, then exit")
    stream.add_argument("--log-level", default=None, help="the job's log level (default INFO)")
    for name, text in (("sql", "SQL over the job's Delta tables: messages, events, dead_letters, aggregates"),
                       ("maintain", "compact the job's Delta tables, delete rows past retention, vacuum old files")):
        command = sub.add_parser(name, help=text)
        command.add_argument("--config", default=None, help="the job's TOML settings (or $CHAT_SENTIMENT_CONFIG)")
        command.add_argument("--output-dir", default=None, help="the tables' folder (default: the config's)")
        if name == "sql":
            command.add_argument("query", help='e.g. "SELECT channel, avg(score) FROM messages GROUP BY channel"')
            command.add_argument("--json", action="store_true", help="one JSON object per row")
        else:
            command.add_argument("--retention-days", type=int, default=None,
                                 help="delete rows older than this many days (default: the config's; 0 = keep all)")
    # Parsed by report.main (listed here for --help).
    sub.add_parser("report", help="per-channel, per-minute table of the job's output (--output-dir DIR)",
                   add_help=False)
    sub.add_parser("dead-letters", add_help=False,
                   help="the job's dead letters: counts by reason, filters, raw records for parse --as-job")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["report"]:
        from .report import main as report_main  # noqa: PLC0415 - pandas/pyarrow are optional dependencies
        return report_main(argv[1:])
    if argv[:1] == ["dead-letters"]:
        from .deadletters import main as dead_letters_main  # noqa: PLC0415 - pandas/pyarrow are optional
        return dead_letters_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.command == "evaluate":
        return evaluate_main([args.tsv, *(["--vader"] if args.vader else [])])
    if args.command == "stream":
        try:
            from .stream import run as run_stream  # noqa: PLC0415 - pyspark is an optional dependency
        except ImportError as exc:
            print(f"chat-sentiment stream: needs pip install 'chat-sentiment[stream]': {exc}", file=sys.stderr)
            return 2
        return run_stream(args)
    if args.command in ("sql", "maintain"):
        return _tables_command(args, sys.stdout)
    if args.batch_size < 1:
        print("chat-sentiment: --batch-size must be at least 1", file=sys.stderr)
        return 2
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    try:
        if args.command == "parse" and args.as_job:
            return _parse_as_job(args, stdin, stdout)
        if args.command == "score":
            options = {}
            if args.scorer == "transformers":
                options = {"revision": args.revision, "quantize": args.quantize}
            scorer = get_scorer(args.scorer, model=args.model, **options)
            run_score(scorer, stdin, stdout, args.batch_size)
        else:
            run_parse(args, stdin, stdout)
    except (ScorerUnavailable, ValueError) as exc:
        print(f"chat-sentiment {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
