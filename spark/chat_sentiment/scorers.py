"""Sentiment scorers behind one interface.

``get_scorer("lexicon")`` is the offline default (:mod:`chat_sentiment.lexicon`); ``get_scorer("transformers",
model=...)`` runs any Hugging Face sequence-classification model. Both return, per text, a :class:`Score` with a
label (positive|neutral|negative) and a score in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple, Protocol, runtime_checkable

from .lexicon import (
    NEGATIVE_THRESHOLD,
    NORMALIZATION_ALPHA,
    POSITIVE_THRESHOLD,
    Lexicon,
    default_lexicon,
    label_for,
)

LABELS = ("positive", "neutral", "negative")
SCORER_NAMES = ("lexicon", "transformers")


class Score(NamedTuple):
    """One scored text (a named tuple: cheap to make once per chat message)."""

    label: str  # positive | neutral | negative
    score: float  # in [-1, 1]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "score": self.score}


_NEUTRAL = Score("neutral", 0.0)


@runtime_checkable
class Scorer(Protocol):
    """Scores texts in batches; returns one Score per text, in order."""

    name: str

    def score_batch(self, texts: list[str]) -> list[Score]: ...


class ScorerUnavailable(RuntimeError):
    """The scorer cannot run here (e.g. its optional dependencies are not installed)."""


class LexiconScorer:
    """The offline lexicon scorer (see :mod:`chat_sentiment.lexicon` for the rules and thresholds)."""

    name = "lexicon"

    def __init__(self, lexicon: Lexicon | None = None, digits: int = 4) -> None:
        self.lexicon = lexicon or default_lexicon()
        self.digits = digits

    def score_text(self, text: str) -> Score:
        value = round(self.lexicon.score(text), self.digits)
        return Score(label_for(value), value)

    def score_batch(self, texts: list[str]) -> list[Score]:
        # the same arithmetic as score_text, inlined: this loop runs once per chat message
        raw_score = self.lexicon.raw_score
        digits = self.digits
        out: list[Score] = []
        append = out.append
        for text in texts:
            total = raw_score(text) if text else 0.0
            if total == 0.0:
                append(_NEUTRAL)
                continue
            value = round(max(-1.0, min(1.0, total / math.sqrt(total * total + NORMALIZATION_ALPHA))), digits)
            append(Score("positive" if value >= POSITIVE_THRESHOLD else "negative" if value <= NEGATIVE_THRESHOLD
                         else "neutral", value))
        return out


# ---------------------------------------------------------------------------------------------- transformers

#: Default production model: multilingual (incl. Korean and English), trained on ~198M tweets and fine-tuned for
#: 3-class sentiment on social-media text, which is the closest public match to live chat. Pin its revision in
#: the role's variables; stage it on disk for air-gapped hosts.
DEFAULT_TRANSFORMERS_MODEL = "cardiffnlp/twitter-xlm-roberta-base-sentiment"

_STAR_VALUES = {1: -1.0, 2: -0.5, 3: 0.0, 4: 0.5, 5: 1.0}


def label_values(id2label: Mapping[int, str] | Mapping[str, str]) -> list[float]:
    """The sentiment value in [-1, 1] of each class index of a model, from its ``config.id2label``.

    - names containing ``pos``/``neg``/``neu`` (any case: ``positive``, ``LABEL_POS``, ``Negative``) map to
      +1/-1/0;
    - star ratings (``1 star`` .. ``5 stars``) map to -1, -0.5, 0, 0.5, 1;
    - anonymous ``LABEL_0..`` names follow the common conventions: 2 classes = (negative, positive) as in SST-2;
      3 classes = (negative, neutral, positive) as in the cardiffnlp twitter models.
    Anything else raises ValueError naming the labels, so a model with unknown labels never silently scores.
    """
    by_index = {int(k): str(v) for k, v in id2label.items()}
    if sorted(by_index) != list(range(len(by_index))):
        raise ValueError(f"id2label indexes are not 0..n-1: {dict(id2label)!r}")
    names = [by_index[i].strip().lower() for i in range(len(by_index))]
    values: list[float] = []
    for name in names:
        if "pos" in name:
            values.append(1.0)
        elif "neg" in name:
            values.append(-1.0)
        elif "neu" in name:
            values.append(0.0)
        elif name[:1].isdigit() and "star" in name and int(name[0]) in _STAR_VALUES:
            values.append(_STAR_VALUES[int(name[0])])
        else:
            break
    else:
        return values
    if all(n == f"label_{i}" for i, n in enumerate(names)):
        if len(names) == 2:
            return [-1.0, 1.0]
        if len(names) == 3:
            return [-1.0, 0.0, 1.0]
    raise ValueError(f"cannot map the model's labels to positive/neutral/negative: {names!r}")


def scores_from_probabilities(rows: Sequence[Sequence[float]], values: Sequence[float]) -> list[Score]:
    """Turn class probabilities into Scores: score = sum(p_i * value_i) (for 3 classes: P(pos) - P(neg)),
    label = the label (positive/neutral/negative) with the largest summed probability."""
    out = []
    for probs in rows:
        score = max(-1.0, min(1.0, sum(p * v for p, v in zip(probs, values, strict=True))))
        grouped = {"positive": 0.0, "neutral": 0.0, "negative": 0.0}
        for p, v in zip(probs, values, strict=True):
            grouped["positive" if v > 0 else "negative" if v < 0 else "neutral"] += p
        label = max(LABELS, key=lambda name: grouped[name])
        out.append(Score(label, round(score, 4)))
    return out


def softmax(logits: Sequence[float]) -> list[float]:
    top = max(logits)
    exps = [math.exp(x - top) for x in logits]
    total = sum(exps)
    return [e / total for e in exps]


RUNTIMES = ("torch", "onnx")
SENTIMENTS = ("positive", "neutral", "negative")
_SENTIMENT_VALUES = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}


def explicit_label_values(labels: Sequence[str], num_labels: int, model: str = "the model") -> list[float]:
    """The values of an explicit label map (``[scorer] labels``, one sentiment per class index, e.g.
    ``["negative", "positive"]`` for an NSMC-style ``LABEL_0``/``LABEL_1`` model). Raises ValueError naming the
    wrong entry or the model's class count."""
    names = [str(name).strip().lower() for name in labels]
    unknown = [name for name in names if name not in _SENTIMENT_VALUES]
    if unknown:
        raise ValueError(f"label map {list(labels)!r}: {unknown[0]!r} is not one of {', '.join(SENTIMENTS)}")
    if num_labels and len(names) != num_labels:
        raise ValueError(f"label map {list(labels)!r} has {len(names)} entries, but {model} has {num_labels} classes")
    return [_SENTIMENT_VALUES[name] for name in names]


class TransformersScorer:
    """A Hugging Face sequence-classification model (hub id or local path), batched, CPU by default.

    The model and tokenizer load once per instance (in Spark: once per Python worker, see
    :func:`chat_sentiment.frames.cached_scorer`), and every missing piece is reported then, never while
    scoring: a local directory is checked first (:mod:`chat_sentiment.modelfiles`: tokenizer files and the package
    that reads them, weights, ONNX files), then the tokenizer is checked against the model (a vocabulary read as
    specials only, or larger than the model's embedding).

    - ``runtime="torch"`` runs the PyTorch weights; ``quantize=True`` there is torch's int8 dynamic quantization
      of the Linear layers. ``runtime="onnx"`` runs ``onnx/model.onnx`` (``quantize=True``:
      ``onnx/model_quantized.onnx``) with ONNX Runtime and needs no torch (:mod:`chat_sentiment.onnxmodel`
      exports both).
    - Texts are truncated to ``max_length`` tokens (chat messages are a few tokens; a cap of 64-128 bounds the
      cost of the rare long one) and scored ``batch_size`` at a time, in order of length, so a batch pads little.
    - Labels come from ``config.id2label`` via :func:`label_values`, unless ``labels`` gives them explicitly
      (:func:`explicit_label_values`).
    - ``threads`` caps the runtime's intra-op threads in this process (torch's, or the ONNX session's): where
      Spark runs one Python worker per core, one thread each keeps them from waiting on each other.
    """

    name = "transformers"

    def __init__(self, model: str | None = None, *, revision: str | None = None, batch_size: int = 32,
                 max_length: int = 128, quantize: bool = False, device: str = "cpu",
                 local_files_only: bool = False, runtime: str = "torch", labels: Sequence[str] | None = None,
                 threads: int | None = None) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown runtime {runtime!r}; choose one of {', '.join(RUNTIMES)}")
        self.model_id = model or DEFAULT_TRANSFORMERS_MODEL
        self.batch_size = batch_size
        self.max_length = max_length
        self.runtime = runtime
        self.quantize = quantize
        self.device = "cpu" if quantize or runtime == "onnx" else device
        try:
            from transformers import AutoTokenizer  # noqa: PLC0415 - optional dependency
        except ImportError as exc:
            raise ScorerUnavailable(_missing_dependency(exc)) from exc
        self.files = self._preflight()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, revision=revision,
                                                           local_files_only=local_files_only)
        except Exception as exc:  # re-raised with the model named
            raise ScorerUnavailable(f"cannot load the tokenizer of {self.model_id!r}: {exc}") from exc
        config = (self._load_onnx(threads) if runtime == "onnx"
                  else self._load_torch(revision, local_files_only, threads))
        _check_vocabulary(self.tokenizer, int(config.get("vocab_size") or 0), self.model_id)
        id2label = config.get("id2label") or {}
        try:
            self.values = (explicit_label_values(labels, len(id2label), repr(self.model_id)) if labels
                           else label_values(id2label))
        except ValueError as exc:
            raise ScorerUnavailable(f"model {self.model_id!r}: {exc}; set the label map ([scorer] labels, e.g. "
                                    "[\"negative\", \"positive\"])") from None
        self.labels = [("positive" if v > 0 else "negative" if v < 0 else "neutral") for v in self.values]

    def _preflight(self) -> Any:
        from .modelfiles import ModelProblem, is_local, require_loadable  # noqa: PLC0415

        if not is_local(self.model_id):
            if self.runtime == "onnx":
                raise ScorerUnavailable(f"model {self.model_id!r}: the onnx runtime needs a model directory; stage "
                                        "the model and export it (python -m chat_sentiment.onnxmodel DIR)")
            return None
        try:
            return require_loadable(self.model_id, runtime=self.runtime, quantize=self.quantize)
        except ModelProblem as exc:
            raise ScorerUnavailable(str(exc)) from None

    def _load_torch(self, revision: str | None, local_files_only: bool, threads: int | None) -> dict[str, Any]:
        try:
            import torch  # noqa: PLC0415 - optional dependency, imported when this scorer is chosen
            from transformers import AutoModelForSequenceClassification  # noqa: PLC0415
        except ImportError as exc:
            raise ScorerUnavailable(_missing_dependency(exc)) from exc
        self._torch = torch
        if threads:  # per process: each Spark Python worker is one
            torch.set_num_threads(threads)
        try:
            net = AutoModelForSequenceClassification.from_pretrained(self.model_id, revision=revision,
                                                                     local_files_only=local_files_only)
        except Exception as exc:  # re-raised with the model named
            raise ScorerUnavailable(f"cannot load the model {self.model_id!r}: {exc}") from exc
        net.eval()
        if self.quantize:
            net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = net.to(self.device) if not self.quantize else net
        return {"id2label": net.config.id2label, "vocab_size": getattr(net.config, "vocab_size", 0)}

    def _load_onnx(self, threads: int | None) -> dict[str, Any]:
        from .modelfiles import ModelProblem  # noqa: PLC0415
        from .onnxmodel import OnnxClassifier, onnx_file  # noqa: PLC0415

        try:
            self.model = OnnxClassifier(onnx_file(self.model_id, self.quantize), threads=threads)
        except ModelProblem as exc:
            raise ScorerUnavailable(str(exc)) from None
        except Exception as exc:  # onnxruntime's own errors (a corrupt or truncated file)
            raise ScorerUnavailable(f"cannot load the ONNX model of {self.model_id!r}: {exc}") from exc
        from transformers import AutoConfig  # noqa: PLC0415 - config.json as transformers reads it (defaults too)

        net_config = AutoConfig.from_pretrained(self.model_id, local_files_only=True)
        return {"id2label": net_config.id2label, "vocab_size": getattr(net_config, "vocab_size", 0)}

    def describe(self) -> dict[str, Any]:
        """What was loaded, for ``--check`` and the benchmark."""
        return {"model": self.model_id, "runtime": self.runtime, "quantize": self.quantize,
                "file": str(getattr(self.model, "path", "")) or None, "tokenizer": type(self.tokenizer).__name__,
                "vocabulary": _length(self.tokenizer), "labels": self.labels, "batch_size": self.batch_size,
                "max_length": self.max_length}

    def score_batch(self, texts: list[str]) -> list[Score]:
        out = [_NEUTRAL] * len(texts)
        # by length, so each forward pass pads to about its own texts' length (chat: mostly a few tokens)
        order = sorted((i for i, t in enumerate(texts) if t and t.strip()), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            probs = self._probabilities([texts[i] for i in chunk])
            for i, score in zip(chunk, scores_from_probabilities(probs, self.values), strict=True):
                out[i] = score
        return out

    def _probabilities(self, texts: list[str]) -> list[list[float]]:
        if self.runtime == "onnx":
            enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="np")
            return [softmax(row) for row in self.model.logits(enc).tolist()]
        torch = self._torch
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt").to(self.device)
        with torch.inference_mode():
            return torch.softmax(self.model(**enc).logits.float(), dim=-1).cpu().tolist()


def _missing_dependency(exc: ImportError) -> str:
    return ("the 'transformers' scorer needs the optional dependencies: pip install 'chat-sentiment[transformers]' "
            f"(transformers, torch, onnxruntime, sentencepiece, protobuf); import failed: {exc}")


def _length(tokenizer: Any) -> int | None:
    try:
        return len(tokenizer)
    except TypeError:
        return None


def _check_vocabulary(tokenizer: Any, vocab_size: int, model: str) -> None:
    """Refuse a tokenizer that cannot match the model: one that read no vocabulary (only its special tokens), or
    one with more tokens than the model has embedding rows (those ids would fail mid-stream)."""
    size = _length(tokenizer)
    if size is None:
        return
    specials = len(set(getattr(tokenizer, "all_special_ids", []) or []))
    if size <= max(specials, 1) + 1:
        raise ScorerUnavailable(f"the tokenizer of {model!r} holds {size} tokens, only its special tokens: its "
                                "vocabulary file was not read (a SentencePiece model needs the sentencepiece and "
                                "protobuf packages)")
    if vocab_size and size > vocab_size:
        raise ScorerUnavailable(f"the tokenizer of {model!r} has {size} tokens but the model only {vocab_size} "
                                "embedding rows: the tokenizer files belong to another model")


def get_scorer(name: str = "lexicon", model: str | None = None, **options: Any) -> Scorer:
    """The scorer called ``name`` ("lexicon" or "transformers"); ``model`` is the transformers model's hub id or
    local path (ignored by the lexicon scorer)."""
    if name == "lexicon":
        return LexiconScorer()
    if name == "transformers":
        return TransformersScorer(model, **options)
    raise ValueError(f"unknown scorer {name!r}; choose one of {', '.join(SCORER_NAMES)}")
