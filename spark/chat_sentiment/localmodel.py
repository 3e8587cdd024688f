"""Build a sequence-classification model on disk without the Hugging Face hub (tests, benchmarks, air-gapped demos).

The weights are random: the model runs exactly like a trained one of its architecture (same shapes, same
compute, the same loading path in :class:`chat_sentiment.scorers.TransformersScorer`), but its labels mean
nothing. The tokenizer is trained here with the ``tokenizers`` library on the texts given, in XLM-RoBERTa's style
(NFKC, SentencePiece-like ``Metaspace`` pre-tokenizer, a Unigram model, ``<s> ... </s>`` around each text, the
special tokens at XLM-R's ids), and saved with ``save_pretrained`` so ``AutoTokenizer`` loads it.

Sizes:

- ``tiny``: 2 layers of width 32 -- for tests (a few hundred KB, loads in a second);
- ``base``: XLM-RoBERTa-base's architecture (12 layers, width 768, 12 heads, 3072 feed-forward, XLM-R's 250,002-row
  embedding) -- the shape of the default production model ``cardiffnlp/twitter-xlm-roberta-base-sentiment``,
  for throughput measurements (about 1.1 GB in fp32).

    python -m chat_sentiment.localmodel DIR [--size tiny|base] [--texts FILE]
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: Class index -> label name, as the cardiffnlp twitter sentiment models have it.
LABELS = ("negative", "neutral", "positive")
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, XLM-R's order for the first four
XLMR_BASE: dict[str, Any] = {
    "vocab_size": 250_002, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
    "intermediate_size": 3072, "max_position_embeddings": 514, "type_vocab_size": 1,
}
TINY: dict[str, Any] = {
    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64,
    "max_position_embeddings": 514, "type_vocab_size": 1,
}
SIZES = {"tiny": TINY, "base": XLMR_BASE}
_FALLBACK_TEXTS = ("PogChamp that was insane", "ㅋㅋㅋㅋ 개꿀잼", "노잼 ResidentSleeper", "안녕하세요 여러분",
                   "this is so bad NotLikeThis", "최고의 플레이 Kreygasm", "별로네요 재미없어")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8000, max_length: int = 512) -> Any:
    """A ``PreTrainedTokenizerFast`` (Unigram, XLM-R-style specials) trained on ``texts``."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS), unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(list(texts) or list(_FALLBACK_TEXTS), trainer)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>", model_max_length=max_length)


def build_model(out_dir: str | Path, texts: Sequence[str] = (), *, size: str = "tiny",
                labels: Sequence[str] = LABELS, vocab_size: int = 8000, seed: int = 0,
                classifier_bias: Sequence[float] | None = None) -> Path:
    """Write a randomly initialised XLM-RoBERTa sequence classifier of ``size`` and its tokenizer to ``out_dir``.

    ``labels`` become ``config.id2label``. ``classifier_bias`` (one value per label) zeroes the classifier's last
    layer and sets its bias, so every text gets those logits -- a test can then predict the scores exactly.
    """
    import torch  # noqa: PLC0415 - optional dependencies, only for building models
    from transformers import AutoModelForSequenceClassification, XLMRobertaConfig  # noqa: PLC0415

    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size=vocab_size)
    shape = dict(SIZES[size])
    shape.setdefault("vocab_size", len(tokenizer))
    config = XLMRobertaConfig(
        **shape, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)}, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    if classifier_bias is not None:
        if len(classifier_bias) != len(labels):
            raise ValueError(f"classifier_bias needs {len(labels)} values, got {len(classifier_bias)}")
        with torch.no_grad():
            model.classifier.out_proj.weight.zero_()
            model.classifier.out_proj.bias.copy_(torch.tensor(list(classifier_bias), dtype=torch.float32))
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(out)
    model.save_pretrained(out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_sentiment.localmodel", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--texts", default=None, help="UTF-8 text file, one text a line, to train the tokenizer on")
    parser.add_argument("--vocab-size", type=int, default=8000)
    args = parser.parse_args(argv)
    texts = Path(args.texts).read_text(encoding="utf-8").splitlines() if args.texts else list(_FALLBACK_TEXTS)
    print(build_model(args.out_dir, texts, size=args.size, vocab_size=args.vocab_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
