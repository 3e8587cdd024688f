"""The transformers scorer with real torch and transformers, on a tiny model built here (random weights, a
tokenizer trained with the ``tokenizers`` library, both saved with ``save_pretrained``): no hub download."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    pytest.skip("torch and transformers are not installed", allow_module_level=True)

from chat_sentiment.cli import main as cli_main
from chat_sentiment.scorers import TransformersScorer, get_scorer

from scripts.localmodel import build_model


def _import_torch_dynamo() -> None:
    """Import ``torch._dynamo`` (transformers loads it lazily) with the interpreter's own ``sys.intern``.

    ansible-core, once imported into the test process (a unit test of an Ansible module does that), replaces
    ``sys.intern`` with a callable object; ``torch._dynamo`` then fails at import, since it registers a polyfill for
    ``sys.intern`` and accepts only a function. Swapping the original back for the import is enough: dynamo keeps
    what it registered, and ansible's patch is restored right after.
    """
    patched = sys.intern
    original = getattr(patched, "unpatched_implementation", None)
    if original is not None:
        sys.intern = original
    try:
        import torch._dynamo  # noqa: F401, PLC0415
    finally:
        sys.intern = patched


_import_torch_dynamo()


# torch.ao.quantization (dynamic int8) warns that it is deprecated in favour of torchao; it still works in 2.13.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:torch.quantize_per_tensor:UserWarning")

TEXTS = ["PogChamp that was insane", "ㅋㅋㅋㅋ 개꿀잼", "노잼 ResidentSleeper", "안녕하세요 여러분",
         "this stream is so bad NotLikeThis", "최고의 플레이 Kreygasm", "별로네요 재미없어"] * 3


def _expected(bias: list[float]) -> float:
    """P(positive) - P(negative) when the logits are ``bias`` (class 0 negative, 2 positive)."""
    exps = [math.exp(b) for b in bias]
    return round((exps[2] - exps[0]) / sum(exps), 4)


@pytest.fixture(scope="module")
def positive_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_model(tmp_path_factory.mktemp("positive"), TEXTS, classifier_bias=[0.0, 0.5, 3.0])


def test_local_model_scores_through_get_scorer(positive_model: Path) -> None:
    assert {p.name for p in positive_model.iterdir()} >= {"config.json", "model.safetensors", "tokenizer.json"}
    scorer = get_scorer("transformers", model=str(positive_model), batch_size=4, local_files_only=True)
    assert isinstance(scorer, TransformersScorer)
    assert scorer.values == [-1.0, 0.0, 1.0]  # id2label {0: negative, 1: neutral, 2: positive}
    texts = [*TEXTS[:5], "", "   ", "노잼 " * 400]  # empty and blank texts, a text far over max_length
    scores = scorer.score_batch(texts)
    assert len(scores) == len(texts)
    expected = _expected([0.0, 0.5, 3.0])
    for text, score in zip(texts, scores, strict=True):
        if text.strip():
            assert (score.label, score.score) == ("positive", pytest.approx(expected, abs=1e-4))
        else:
            assert (score.label, score.score) == ("neutral", 0.0)


def test_labels_follow_the_model_config(tmp_path: Path) -> None:
    negative = build_model(tmp_path / "neg", TEXTS, classifier_bias=[2.0, 0.0, 0.0])
    scores = get_scorer("transformers", model=str(negative)).score_batch(["gg", "노잼"])
    assert [s.label for s in scores] == ["negative", "negative"]
    assert scores[0].score == pytest.approx(_expected([2.0, 0.0, 0.0]), abs=1e-4)
    neutral = build_model(tmp_path / "neu", TEXTS, classifier_bias=[0.0, 2.0, 0.0])
    assert get_scorer("transformers", model=str(neutral)).score_batch(["gg"])[0].label == "neutral"
    stars = build_model(tmp_path / "stars", TEXTS, labels=["1 star", "2 stars", "3 stars", "4 stars", "5 stars"],
                        classifier_bias=[0.0, 0.0, 0.0, 0.0, 4.0])
    assert get_scorer("transformers", model=str(stars)).score_batch(["gg"])[0].label == "positive"


def test_random_weights_and_int8_quantization(tmp_path: Path) -> None:
    model = build_model(tmp_path / "random", TEXTS, seed=1)
    fp32 = get_scorer("transformers", model=str(model)).score_batch(TEXTS[:7])
    int8 = get_scorer("transformers", model=str(model), quantize=True).score_batch(TEXTS[:7])
    for a, b in zip(fp32, int8, strict=True):
        assert -1.0 <= a.score <= 1.0 and a.label in ("positive", "neutral", "negative")
        assert abs(a.score - b.score) < 0.05  # int8 weights move the output a little, not a lot


def test_cli_scores_with_the_local_model(positive_model: Path, monkeypatch: pytest.MonkeyPatch,
                                         capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    import io  # noqa: PLC0415
    import sys  # noqa: PLC0415

    stdin = io.TextIOWrapper(io.BytesIO("PogChamp\n\n노잼\n".encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert cli_main(["score", "--scorer", "transformers", "--model", str(positive_model)]) == 0
    lines = capfdbinary.readouterr().out.decode().splitlines()
    assert [line.split('"label": ')[1].split('"')[1] for line in lines] == ["positive", "neutral", "positive"]


def test_the_jobs_scoring_step_with_the_model(positive_model: Path) -> None:
    """The body of the job's scoring ``mapInPandas``: the scorer is built once per process and scores each
    Arrow batch (a pandas frame) in order."""
    import json  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415
    from chat_sentiment import frames  # noqa: PLC0415

    options = json.dumps({"batch_size": 2, "max_length": 16, "quantize": False, "revision": None}, sort_keys=True)
    scorer = frames.cached_scorer("transformers", str(positive_model), options)
    assert frames.cached_scorer("transformers", str(positive_model), options) is scorer
    batch = pd.DataFrame({c: [None] * 3 for c in frames.SCORED_COLUMNS if c not in ("label", "score")})
    batch["text"] = ["PogChamp", None, "노잼 " * 50]
    (out,) = list(frames.score_frames(iter([batch]), scorer))
    assert out.label.tolist() == ["positive", "neutral", "positive"]
    assert out.score[0] == pytest.approx(_expected([0.0, 0.5, 3.0]), abs=1e-4) and out.score[1] == 0.0
