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


class TransformersScorer:
    """A Hugging Face sequence-classification model (hub id or local path), batched, CPU by default.

    The model and tokenizer load once per instance (in Spark: once per worker inside an iterator pandas UDF).
    ``revision`` pins a hub revision; ``quantize=True`` applies torch int8 dynamic quantization to the Linear
    layers (CPU). Texts are truncated to ``max_length`` tokens. Labels come from ``config.id2label`` via
    :func:`label_values`.
    """

    name = "transformers"

    def __init__(self, model: str | None = None, *, revision: str | None = None, batch_size: int = 32,
                 max_length: int = 128, quantize: bool = False, device: str = "cpu",
                 local_files_only: bool = False) -> None:
        try:
            import torch  # noqa: PLC0415 - optional dependency, imported when this scorer is chosen
            from transformers import (  # noqa: PLC0415
                AutoModelForSequenceClassification,
                AutoTokenizer,
            )
        except ImportError as exc:
            raise ScorerUnavailable(
                "the 'transformers' scorer needs the optional dependencies: "
                "pip install 'chat-sentiment[transformers]' (transformers and torch); "
                f"import failed: {exc}"
            ) from exc
        self.model_id = model or DEFAULT_TRANSFORMERS_MODEL
        self.batch_size = batch_size
        self.max_length = max_length
        self._torch = torch
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id, revision=revision,
                                                           local_files_only=local_files_only)
            net = AutoModelForSequenceClassification.from_pretrained(self.model_id, revision=revision,
                                                                     local_files_only=local_files_only)
        except Exception as exc:  # re-raised with the model named
            raise ScorerUnavailable(f"cannot load the model {self.model_id!r}: {exc}") from exc
        net.eval()
        if quantize:
            net = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = net.to(device) if not quantize else net
        self.device = device if not quantize else "cpu"
        self.values = label_values(net.config.id2label)

    def score_batch(self, texts: list[str]) -> list[Score]:
        out: list[Score] = []
        torch = self._torch
        for i in range(0, len(texts), self.batch_size):
            chunk = [t if t and t.strip() else "" for t in texts[i:i + self.batch_size]]
            nonempty = [j for j, t in enumerate(chunk) if t]
            scores = [Score("neutral", 0.0)] * len(chunk)
            if nonempty:
                enc = self.tokenizer([chunk[j] for j in nonempty], padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="pt").to(self.device)
                with torch.inference_mode():
                    probs = torch.softmax(self.model(**enc).logits.float(), dim=-1).cpu().tolist()
                for j, s in zip(nonempty, scores_from_probabilities(probs, self.values), strict=True):
                    scores[j] = s
            out.extend(scores)
        return out


def get_scorer(name: str = "lexicon", model: str | None = None, **options: Any) -> Scorer:
    """The scorer called ``name`` ("lexicon" or "transformers"); ``model`` is the transformers model's hub id or
    local path (ignored by the lexicon scorer)."""
    if name == "lexicon":
        return LexiconScorer()
    if name == "transformers":
        return TransformersScorer(model, **options)
    raise ValueError(f"unknown scorer {name!r}; choose one of {', '.join(SCORER_NAMES)}")
