"""Scorer throughput in messages per second, printed as tables (a measurement, never a test).

    python -m scripts.bench_scorers [--tsv ../shared/data/korean_reviews_dev.tsv] [--chat 20000] [--repeat 5]
                                       [--batch-sizes 1,64] [--transformers-messages 256] [--max-length 64]
                                       [--sizes minilm,base] [--skip-lexicon] [--skip-transformers]

1. ``lexicon`` side by side with vaderSentiment on the same messages: the 20,000 Korean reviews of the TSV and a
   generated chat corpus (Twitch-style lines: emotes, Korean chat slang, English, repetition), scored in batches of
   512. The two scorers run alternately, ``--repeat`` times each, and the best run of each counts, so a busy host
   slows both alike; the ratio is the number to compare across hosts.
2. ``transformers`` through the job's own scorer (tokenizer + model + label mapping), side by side in one run:
   fp32 PyTorch, ONNX Runtime fp32 and ONNX Runtime with dynamic int8 weights (``chat_sentiment.onnxmodel``), for
   a MiniLM-sized and an XLM-RoBERTa-base-sized architecture with random weights (``scripts.localmodel``; the hub
   is out of reach, and speed does not depend on the weights), at batch 1 (a message's latency) and 64 (the
   job's throughput). The tokenizer is trained on the benchmark's own texts (Unigram, SentencePiece-style), so
   token counts are close to, not equal to, the real model's; the table prints the mean tokens per message and
   the load average before and after each row (the machine may be shared). Models are built in temporary
   directories (the base one about 1.1 GB, plus its ONNX copies).

Numbers depend on the host: the script prints its CPU count, torch's thread count and the load average. On a
shared machine, run it twice and compare.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "spark"))

from chat_sentiment.evaluate import read_labelled, throughput, vader_batch  # noqa: E402
from chat_sentiment.scorers import get_scorer  # noqa: E402

DEFAULT_TSV = REPO.parent / "shared" / "data" / "korean_reviews_dev.tsv"

EMOTES = ("KEKW", "PogChamp", "LUL", "Kappa", "ResidentSleeper", "NotLikeThis", "BibleThump", "Kreygasm", "4Head",
          "OMEGALUL", "monkaS", "PepeHands", "Sadge", "EZ", "HeyGuys", "DansGame", "❤️", "😂", "😭", "🔥")
KOREAN = (
    "ㅋㅋㅋㅋ", "ㅋㅋㅋㅋㅋㅋㅋ", "ㅎㅎ", "ㅠㅠ", "ㅜㅜ", "노잼", "개꿀잼", "대박", "미쳤다", "와", "진짜",
    "너무", "재밌다", "별로", "최고", "가즈아", "헐", "ㄷㄷ", "안녕하세요", "방송", "오늘", "못하네",
    "잘한다", "슬프다", "레전드", "실화냐", "망했다", "굿", "ㅇㅈ", "사랑해요",
)
ENGLISH = ("gg", "wp", "lol", "that", "was", "insane", "so", "bad", "good", "love", "this", "song", "boring",
           "what", "a", "play", "not", "great", "terrible", "hype", "lets", "go", "chat", "never", "very", "nice",
           "omg", "wtf", "best", "worst", "stream", "!!!", "?", "soooo")


def chat_corpus(count: int, seed: int = 7) -> list[str]:
    """``count`` chat-like messages: 1-12 tokens drawn from emotes, Korean chat language and English words."""
    rng = random.Random(seed)
    pools = (EMOTES, KOREAN, ENGLISH)
    out = []
    for _ in range(count):
        size = rng.choice((1, 1, 2, 2, 3, 3, 4, 5, 6, 8, 12))
        weights = rng.choice(((1, 3, 1), (1, 1, 3), (2, 1, 1)))
        out.append(" ".join(rng.choice(rng.choices(pools, weights)[0]) for _ in range(size)))
    return out


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [title, "| " + " | ".join(h.ljust(w) for h, w in zip(cells[0], widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
              + " |" for r in cells[1:]]
    return "\n".join(lines)


def lexicon_vs_vader(corpora: dict[str, list[str]], repeat: int) -> str:
    lexicon = get_scorer("lexicon")
    lexicon.score_batch(["warm up ㅋㅋ"])
    try:
        vader: Callable[[list[str]], object] | None = vader_batch()
    except ImportError:
        vader = None
    rows = []
    for name, texts in corpora.items():
        lex = vad = 0.0
        for _ in range(repeat):  # alternately, so that load from other processes hits both scorers alike
            lex = max(lex, throughput(lexicon.score_batch, texts, repeat=1))
            if vader:
                vad = max(vad, throughput(vader, texts, repeat=1))
        rows.append((name, f"{len(texts):,}", f"{lex:,.0f}", f"{vad:,.0f}" if vader else "not installed",
                     f"{lex / vad:.2f}x" if vader else "-"))
    return table(f"Lexicon vs VADER (messages/s, batches of 512, best of {repeat} alternate runs)",
                 ("corpus", "messages", "lexicon", "vaderSentiment", "lexicon/VADER"), rows)


#: The architectures measured (scripts.localmodel sizes): the default production model's and a small one's.
ARCHITECTURES = {"minilm": "MiniLM-L12-H384 (multilingual MiniLM's shape)",
                 "base": "XLM-RoBERTa-base (the default model's shape)"}
#: (label, scorer options): fp32 PyTorch, ONNX Runtime fp32, ONNX Runtime with dynamic int8 weights.
VARIANTS = (("torch fp32", {"runtime": "torch"}), ("onnx fp32", {"runtime": "onnx"}),
            ("onnx int8", {"runtime": "onnx", "quantize": True}))


def transformers_table(texts: list[str], batch_sizes: Sequence[int], messages: int, *, repeat: int,
                       max_length: int, sizes: Sequence[str], threads: int = 0) -> str:
    import torch  # noqa: PLC0415 - optional
    from chat_sentiment.onnxmodel import export  # noqa: PLC0415
    from transformers.utils import logging as hf_logging  # noqa: PLC0415

    from scripts.localmodel import build_model  # noqa: PLC0415

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore")
    sample = texts[:messages]
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-{size}-") as folder:
            started = time.perf_counter()
            path = build_model(folder, texts, size=size, vocab_size=16000)
            export(path)
            prep_s = time.perf_counter() - started
            mb = {name: (Path(folder) / rel).stat().st_size / 2**20
                  for name, rel in (("torch fp32", "model.safetensors"), ("onnx fp32", "onnx/model.onnx"),
                                    ("onnx int8", "onnx/model_quantized.onnx"))}
            for label, options in VARIANTS:
                started = time.perf_counter()
                scorer = get_scorer("transformers", model=str(path), max_length=max_length, threads=threads or None,
                                    **options)
                load_s = time.perf_counter() - started
                tokens = [len(ids) for ids in scorer.tokenizer(sample, truncation=True,  # type: ignore[attr-defined]
                                                               max_length=max_length)["input_ids"]]
                for batch in batch_sizes:
                    scorer.batch_size = batch  # type: ignore[attr-defined]
                    scorer.score_batch(sample[:batch])  # warm-up
                    elapsed = float("inf")
                    load_before = os.getloadavg()[0]
                    for _ in range(repeat):  # best of: other processes on the host only ever slow a run down
                        started = time.perf_counter()
                        scorer.score_batch(sample)
                        elapsed = min(elapsed, time.perf_counter() - started)
                    per_batch_ms = 1000 * elapsed / math.ceil(len(sample) / batch)
                    rows.append((size, label, batch, f"{len(sample) / elapsed:,.1f}",
                                 f"{1000 * elapsed / len(sample):.1f}", f"{per_batch_ms:,.0f}",
                                 f"{sum(tokens) / len(tokens):.1f}", f"{mb[label]:,.0f}", f"{load_s:.1f}",
                                 f"{load_before:.1f}/{os.getloadavg()[0]:.1f}"))
                    print("  " + " | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)  # survives a kill
                del scorer
            print(f"  ({size}: model built and exported in {prep_s:.0f}s)", file=sys.stderr)
    title = (f"transformers scorer, random weights ({len(sample)} chat messages, sorted into batches by length, "
             f"max_length {max_length}, best of {repeat}; torch {torch.__version__} with {torch.get_num_threads()} "
             f"threads, onnxruntime {_version('onnxruntime')} with {threads or 'its default'} threads). "
             + "; ".join(f"{k} = {v}" for k, v in ARCHITECTURES.items() if k in sizes))
    return table(title, ("model", "runtime", "batch", "messages/s", "ms/message", "ms/batch", "tokens/msg",
                         "file MB", "load s", "load avg before/after"), rows)


def _version(package: str) -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version(package)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tsv", default=str(DEFAULT_TSV), help="labelled TSV (id, text, label)")
    parser.add_argument("--chat", type=int, default=20_000, help="generated chat messages")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--batch-sizes", default="1,64")
    parser.add_argument("--transformers-messages", type=int, default=256)
    parser.add_argument("--transformers-repeat", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=64, help="the token cap (chat: a few tokens a message)")
    parser.add_argument("--sizes", default="minilm,base", help="architectures: minilm, base (scripts.localmodel)")
    parser.add_argument("--threads", type=int, default=0, help="scorer threads (0: the runtime's choice)")
    parser.add_argument("--skip-lexicon", action="store_true")
    parser.add_argument("--skip-transformers", action="store_true")
    args = parser.parse_args(argv)

    reviews = [text for _, text, _ in read_labelled(args.tsv)]
    chat = chat_corpus(args.chat)
    print(f"host: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")
    print()
    if not args.skip_lexicon:
        print(lexicon_vs_vader({"korean reviews (TSV)": reviews, "generated chat": chat}, args.repeat))
    if not args.skip_transformers:
        print()
        batches = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
        architectures = [z.strip() for z in args.sizes.split(",") if z.strip()]
        print(transformers_table(chat + reviews[:2000], batches, args.transformers_messages,
                                 repeat=args.transformers_repeat, max_length=args.max_length, sizes=architectures,
                                 threads=args.threads))
        print(f"load average after: {os.getloadavg()[0]:.1f} (1 min), CPUs {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
