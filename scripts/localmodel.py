"""Build sequence-classification models on disk, laid out as real Hugging Face hub repositories lay them out.

For tests, benchmarks and air-gapped demos: the hub is out of reach here, and a random-weight model must never ship
in the product wheel, so this lives beside the other tools, not in ``chat_sentiment``. The weights are random: a
model runs exactly like a trained one of its architecture (same shapes, same compute, the same loading path in
:class:`chat_sentiment.scorers.TransformersScorer`), but its labels mean nothing. Tokenizers are trained here on the
texts given, each with the library and in the file format its kind of repository ships.

Layouts (``--layout``), each named after the repositories it copies:

- ``tokenizer-json``: XLM-RoBERTa with ``tokenizer.json`` + ``tokenizer_config.json`` and ``model.safetensors``
  (what ``save_pretrained`` writes today; e.g. repositories uploaded with transformers 4.3x and later);
- ``xlmr-sentencepiece``: XLM-RoBERTa with ``sentencepiece.bpe.model`` + ``special_tokens_map.json`` and
  ``pytorch_model.bin``, no ``tokenizer.json`` and no ``tokenizer_config.json`` (the default model's repository,
  ``cardiffnlp/twitter-xlm-roberta-base-sentiment``, and the ``xlm-roberta-*`` fine-tunes uploaded in 2020-21);
- ``bert-wordpiece``: BERT with ``vocab.txt`` + ``tokenizer_config.json`` (``do_lower_case: false``, as Korean
  and multilingual-cased models need) + ``special_tokens_map.json`` and ``model.safetensors``;
- ``electra-wordpiece``: ELECTRA with ``vocab.txt`` + ``tokenizer_config.json`` and ``pytorch_model.bin``,
  anonymous ``LABEL_0``/``LABEL_1`` labels (KoELECTRA fine-tunes on NSMC);
- ``roberta-bpe``: RoBERTa with byte-level BPE ``vocab.json`` + ``merges.txt`` + ``special_tokens_map.json`` and
  ``pytorch_model.bin`` (``cardiffnlp/twitter-roberta-base-sentiment-latest`` and other English RoBERTa fine-tunes).

Sizes (``--size``): ``tiny`` (2 layers of width 32, for tests: a few hundred KB, loads in a second), ``minilm``
(12 layers of width 384, 12 heads, 1536 feed-forward: Multilingual-MiniLM-L12-H384's shape, with XLM-R's
250,002-row embedding) and ``base`` (12 layers of width 768, 12 heads, 3072 feed-forward, 250,002 rows: the
default production model's shape, about 1.1 GB in fp32) -- the last two for throughput measurements.

    python -m scripts.localmodel DIR [--layout LAYOUT] [--size tiny|minilm|base] [--texts FILE] [--labels a,b,c]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

#: Class index -> label name, as the cardiffnlp twitter sentiment models have it.
LABELS = ("negative", "neutral", "positive")
#: What NSMC-style binary Korean models say in their config: nothing but the class index.
ANONYMOUS_BINARY = ("LABEL_0", "LABEL_1")
XLMR_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")  # ids 0..4, XLM-R's order for the first four
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
MULTILINGUAL_VOCAB = 250_002  # XLM-R's embedding rows (the benchmark sizes use it whatever the tokenizer holds)
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64},
    "minilm": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 1536,
               "vocab_size": MULTILINGUAL_VOCAB},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
             "vocab_size": MULTILINGUAL_VOCAB},
}
FALLBACK_TEXTS = ("PogChamp that was insane", "ㅋㅋㅋㅋ 개꿀잼", "노잼 ResidentSleeper", "안녕하세요 여러분",
                  "this is so bad NotLikeThis", "최고의 플레이 Kreygasm", "별로네요 재미없어", "gg wp 대박",
                  "hello chat 방송 재밌다", "Kappa LUL 😂 ❤️")


# ------------------------------------------------------------------------------------------------ tokenizers


def _tokenizer_json(texts: Sequence[str], out: Path, vocab_size: int) -> None:
    """XLM-R-style Unigram tokenizer as ``tokenizer.json`` (+ ``tokenizer_config.json``)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: PLC0415
    from transformers import PreTrainedTokenizerFast  # noqa: PLC0415

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.NFKC()
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(XLMR_SPECIALS), unk_token="<unk>",
                                      show_progress=False)
    tokenizer.train_from_iterator(texts, trainer)
    bos, eos = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)])
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>",
        mask_token="<mask>", cls_token="<s>", sep_token="</s>", model_max_length=512).save_pretrained(out)


def _sentencepiece(texts: Sequence[str], out: Path, vocab_size: int) -> None:
    """``sentencepiece.bpe.model`` as XLM-R ships it (a SentencePiece unigram model despite the name:
    ``<unk>``, ``<s>``, ``</s>`` at 0..2; transformers adds fairseq's offset and ``<mask>``)."""
    import io  # noqa: PLC0415

    import sentencepiece as spm  # noqa: PLC0415 - only this layout needs it

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
    (out / "sentencepiece.bpe.model").write_bytes(model.getvalue())
    _write_json(out / "special_tokens_map.json", {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>",
        "cls_token": "<s>",
        "mask_token": {"content": "<mask>", "single_word": False, "lstrip": True, "rstrip": False,
                       "normalized": True}})


def _wordpiece(texts: Sequence[str], out: Path, vocab_size: int) -> None:
    """BERT/ELECTRA's ``vocab.txt`` (cased: Korean syllables must not be NFD-split by lower-casing)."""
    from tokenizers import BertWordPieceTokenizer  # noqa: PLC0415

    tokenizer = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    tokenizer.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=list(BERT_SPECIALS),
                                  show_progress=False)
    tokenizer.save_model(str(out))
    _write_json(out / "tokenizer_config.json", {"do_lower_case": False, "strip_accents": False,
                                                "model_max_length": 512})
    _write_json(out / "special_tokens_map.json", {"unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
                                                  "cls_token": "[CLS]", "mask_token": "[MASK]"})


def _byte_bpe(texts: Sequence[str], out: Path, vocab_size: int) -> None:
    """RoBERTa's byte-level BPE: ``vocab.json`` + ``merges.txt``."""
    from tokenizers import ByteLevelBPETokenizer  # noqa: PLC0415

    tokenizer = ByteLevelBPETokenizer()
    tokenizer.train_from_iterator(texts, vocab_size=vocab_size, special_tokens=list(XLMR_SPECIALS),
                                  show_progress=False)
    tokenizer.save_model(str(out))
    _write_json(out / "special_tokens_map.json", {
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "pad_token": "<pad>",
        "cls_token": "<s>", "mask_token": "<mask>"})


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------------------------ layouts

#: layout -> (transformers config class, tokenizer writer, weights file, default labels)
LAYOUTS: dict[str, tuple[str, Callable[[Sequence[str], Path, int], None], str, tuple[str, ...]]] = {
    "tokenizer-json": ("XLMRobertaConfig", _tokenizer_json, "model.safetensors", LABELS),
    "xlmr-sentencepiece": ("XLMRobertaConfig", _sentencepiece, "pytorch_model.bin", LABELS),
    "bert-wordpiece": ("BertConfig", _wordpiece, "model.safetensors", LABELS),
    "electra-wordpiece": ("ElectraConfig", _wordpiece, "pytorch_model.bin", ANONYMOUS_BINARY),
    "roberta-bpe": ("RobertaConfig", _byte_bpe, "pytorch_model.bin", LABELS),
}
#: The files each layout's repository holds (and nothing else that transformers reads).
LAYOUT_FILES: dict[str, frozenset[str]] = {
    "tokenizer-json": frozenset({"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}),
    "xlmr-sentencepiece": frozenset({"config.json", "pytorch_model.bin", "sentencepiece.bpe.model",
                                     "special_tokens_map.json"}),
    "bert-wordpiece": frozenset({"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                                 "special_tokens_map.json"}),
    "electra-wordpiece": frozenset({"config.json", "pytorch_model.bin", "vocab.txt", "tokenizer_config.json",
                                    "special_tokens_map.json"}),
    "roberta-bpe": frozenset({"config.json", "pytorch_model.bin", "vocab.json", "merges.txt",
                              "special_tokens_map.json"}),
}


def build_model(out_dir: str | Path, texts: Iterable[str] = (), *, layout: str = "tokenizer-json",
                size: str = "tiny", labels: Sequence[str] | None = None, vocab_size: int = 8000, seed: int = 0,
                classifier_bias: Sequence[float] | None = None) -> Path:
    """Write a randomly initialised sequence classifier of ``size`` and its tokenizer to ``out_dir``, laid out as
    ``layout``'s repositories are (see the module's text).

    ``labels`` become ``config.id2label`` (default: the layout's). ``classifier_bias`` (one value per label) zeroes
    the classifier's last layer and sets its bias, so every text gets those logits: a test can then predict the
    scores exactly.
    """
    import torch  # noqa: PLC0415 - heavy, only for building models
    import transformers  # noqa: PLC0415
    from transformers import AutoTokenizer  # noqa: PLC0415

    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose from {', '.join(SIZES)}")
    config_class, write_tokenizer, weights_file, default_labels = LAYOUTS[layout]
    labels = tuple(labels or default_labels)
    if classifier_bias is not None and len(classifier_bias) != len(labels):
        raise ValueError(f"classifier_bias needs {len(labels)} values, got {len(classifier_bias)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_tokenizer(list(texts) or list(FALLBACK_TEXTS), out, vocab_size)
    tokenizer = AutoTokenizer.from_pretrained(out, **_tokenizer_hint(config_class))
    shape = {"max_position_embeddings": 514, "type_vocab_size": 1 if "Roberta" in config_class else 2,
             **SIZES[size]}
    shape.setdefault("vocab_size", len(tokenizer))
    if config_class == "ElectraConfig":
        shape["embedding_size"] = shape["hidden_size"]
    config = getattr(transformers, config_class)(
        **shape, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)}, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = transformers.AutoModelForSequenceClassification.from_config(config).eval()
    if classifier_bias is not None:
        last = _last_linear(model)
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor(list(classifier_bias), dtype=torch.float32))
    if weights_file == "model.safetensors":
        model.save_pretrained(out)
    else:  # repositories uploaded before safetensors: config.json + a pickled state dict
        config.save_pretrained(out)
        torch.save(model.state_dict(), out / weights_file)
    return out


def _tokenizer_hint(config_class: str) -> dict[str, Any]:
    """The tokenizer class, for a directory that has no config.json yet (only while building)."""
    return {"tokenizer_type": {"XLMRobertaConfig": "xlm-roberta", "BertConfig": "bert", "ElectraConfig": "electra",
                               "RobertaConfig": "roberta"}[config_class]}


def _last_linear(model: Any) -> Any:
    """The classification head's output layer (``classifier.out_proj`` for (XLM-)RoBERTa and ELECTRA,
    ``classifier`` for BERT)."""
    head = model.classifier
    return getattr(head, "out_proj", head)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.localmodel", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--layout", choices=sorted(LAYOUTS), default="tokenizer-json")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--texts", default=None, help="UTF-8 text file, one text a line, to train the tokenizer on")
    parser.add_argument("--labels", default="", help="comma-separated id2label names (default: the layout's)")
    parser.add_argument("--vocab-size", type=int, default=8000)
    args = parser.parse_args(argv)
    texts = Path(args.texts).read_text(encoding="utf-8").splitlines() if args.texts else list(FALLBACK_TEXTS)
    labels = [name.strip() for name in args.labels.split(",") if name.strip()] or None
    print(build_model(args.out_dir, texts, layout=args.layout, size=args.size, labels=labels,
                      vocab_size=args.vocab_size))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
