"""Every file layout hub repositories ship, loaded and scored through the job's own code, with both runtimes.

Each model is tiny and random (``scripts.localmodel``), saved exactly as its kind of repository lays its files out
(XLM-R with only ``sentencepiece.bpe.model``, BERT/ELECTRA with ``vocab.txt``, RoBERTa with ``vocab.json`` +
``merges.txt``, ``tokenizer.json``). The classifier's last layer is zeroed and its bias set, so every text gets
known logits and the expected score is exact. A model that cannot load fails at check time with the missing piece
named.
"""

from __future__ import annotations

import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import pytest

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    pytest.skip("torch and transformers are not installed", allow_module_level=True)

from chat_sentiment import config, modelcheck, modelfiles, onnxmodel
from chat_sentiment.scorers import ScorerUnavailable, get_scorer

from scripts.localmodel import LAYOUT_FILES, LAYOUTS, build_model

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")

TEXTS = ["PogChamp that was insane", "ㅋㅋㅋㅋ 개꿀잼", "노잼 ResidentSleeper", "안녕하세요 여러분",
         "this stream is so bad NotLikeThis", "최고의 플레이 Kreygasm", "별로네요 재미없어 ㅠㅠ", "gg wp ❤️"] * 3
#: Logits every text gets; class 0 is negative, the last positive (ELECTRA's NSMC style has only those two).
BIAS = {3: [0.0, 0.5, 3.0], 2: [0.0, 3.0]}
NEEDS = {"xlmr-sentencepiece": "sentencepiece"}
HAS_ONNX = importlib.util.find_spec("onnxruntime") is not None and importlib.util.find_spec("onnx") is not None


def _expected(bias: list[float]) -> float:
    exps = [math.exp(b) for b in bias]
    return round((exps[-1] - exps[0]) / sum(exps), 4)


def _needs(layout: str) -> None:
    package = NEEDS.get(layout)
    if package and importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (the transformers extra installs it)")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    built = {}
    for layout, (_, _, _, labels) in LAYOUTS.items():
        if NEEDS.get(layout) and importlib.util.find_spec(NEEDS[layout]) is None:
            continue
        built[layout] = build_model(tmp_path_factory.mktemp(layout), TEXTS, layout=layout,
                                    classifier_bias=BIAS[len(labels)])
    return built


def _settings(model: Path, **scorer: object) -> config.ScorerSettings:
    """The scorer settings the job reads from its TOML file."""
    return config.from_mapping({"scorer": {"name": "transformers", "model": str(model), **scorer}}).scorer


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_is_saved_as_its_repositories_are(models: dict[str, Path], layout: str) -> None:
    _needs(layout)
    assert {p.name for p in models[layout].iterdir()} == LAYOUT_FILES[layout]
    files = modelfiles.inspect(models[layout])
    assert files.tokenizer == {"tokenizer-json": "tokenizer.json", "xlmr-sentencepiece": "sentencepiece",
                               "bert-wordpiece": "wordpiece", "electra-wordpiece": "wordpiece",
                               "roberta-bpe": "bpe"}[layout]
    assert modelfiles.problems(files) == []


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_loads_and_scores_through_the_jobs_check(models: dict[str, Path], layout: str) -> None:
    _needs(layout)
    report = modelcheck.check(_settings(models[layout], batch_size=3, max_length=16))
    bias = BIAS[len(report["labels"])]
    assert report["runtime"] == "torch" and report["vocabulary"] > 20
    for probe in report["probe"]:
        if probe["text"]:
            assert (probe["label"], probe["score"]) == ("positive", pytest.approx(_expected(bias), abs=1e-4))
        else:
            assert (probe["label"], probe["score"]) == ("neutral", 0.0)


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_tokenizes_korean_chat_into_known_pieces(models: dict[str, Path], layout: str) -> None:
    """The vocabulary file was really read: chat it was trained on is not one unknown token per word."""
    _needs(layout)
    scorer = get_scorer("transformers", model=str(models[layout]))
    ids = scorer.tokenizer("ㅋㅋㅋㅋ 개꿀잼 PogChamp")["input_ids"]  # type: ignore[attr-defined]
    unknown = scorer.tokenizer.unk_token_id  # type: ignore[attr-defined]
    assert len(ids) > 4 and ids.count(unknown) == 0


@pytest.mark.skipif(not HAS_ONNX, reason="onnxruntime and onnx are not installed")
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_each_layout_exports_to_onnx_and_scores_as_torch_does(models: dict[str, Path], layout: str,
                                                              tmp_path: Path) -> None:
    _needs(layout)
    model = tmp_path / layout
    shutil.copytree(models[layout], model)
    written = onnxmodel.export(model)
    assert [p.relative_to(model).as_posix() for p in written] == ["onnx/model.onnx", "onnx/model_quantized.onnx"]
    texts = [*TEXTS[:8], "", "노잼 " * 300]
    torch_scores = get_scorer("transformers", model=str(model)).score_batch(texts)
    for quantize in (False, True):
        report = modelcheck.check(_settings(model, runtime="onnx", quantize=quantize))
        assert report["file"].endswith("model_quantized.onnx" if quantize else "model.onnx")
        scorer = get_scorer("transformers", model=str(model), runtime="onnx", quantize=quantize, batch_size=4)
        for ours, theirs in zip(scorer.score_batch(texts), torch_scores, strict=True):
            assert ours.label == theirs.label and ours.score == pytest.approx(theirs.score, abs=0.02)


@pytest.mark.skipif(not HAS_ONNX, reason="onnxruntime and onnx are not installed")
def test_onnx_matches_torch_on_random_weights_across_padding(tmp_path: Path) -> None:
    """Random weights (not a fixed bias): each text's score must not depend on what it is batched with."""
    model = build_model(tmp_path / "random", TEXTS, layout="bert-wordpiece", seed=3)
    onnxmodel.export(model)
    texts = TEXTS[:8]
    torch_scores = get_scorer("transformers", model=str(model), batch_size=8).score_batch(texts)
    alone = [get_scorer("transformers", model=str(model), runtime="onnx", batch_size=1).score_batch([t])[0]
             for t in texts[:3]]
    one_thread = get_scorer("transformers", model=str(model), runtime="onnx", batch_size=8, threads=1)
    assert one_thread.model.session.get_session_options().intra_op_num_threads == 1  # type: ignore[attr-defined]
    batched = one_thread.score_batch(texts)
    for a, b in zip(batched, torch_scores, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-3)
    for a, b in zip(alone, batched[:3], strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-3)


# ------------------------------------------------------------------------------------------ label maps


def test_an_nsmc_style_model_follows_the_label_map(models: dict[str, Path]) -> None:
    model = models["electra-wordpiece"]
    # transformers writes no id2label for its default LABEL_0/LABEL_1, and old repositories have just those
    assert json.loads((model / "config.json").read_text()).get("id2label", {}) in ({}, {"0": "LABEL_0",
                                                                                        "1": "LABEL_1"})
    assert modelcheck.check(_settings(model))["labels"] == ["negative", "positive"]  # SST-2's convention
    flipped = modelcheck.check(_settings(model, labels=["positive", "negative"]))
    assert flipped["labels"] == ["positive", "negative"]
    assert {p["label"] for p in flipped["probe"] if p["text"]} == {"negative"}


def test_a_label_map_that_does_not_fit_the_model_fails_the_check(models: dict[str, Path]) -> None:
    with pytest.raises(config.ConfigError, match=r"3 entries, but .* has 2 classes"):
        modelcheck.check(_settings(models["electra-wordpiece"], labels=["negative", "neutral", "positive"]))


def test_unknown_labels_name_the_label_map_setting(tmp_path: Path) -> None:
    model = build_model(tmp_path / "emotions", TEXTS, layout="bert-wordpiece", labels=["joy", "anger"])
    with pytest.raises(config.ConfigError, match=r"'joy'.*\[scorer\] labels"):
        modelcheck.check(_settings(model))
    assert modelcheck.check(_settings(model, labels=["positive", "negative"]))["labels"] == ["positive", "negative"]


# ------------------------------------------------------------------------------------------ missing pieces


def _copy(models: dict[str, Path], layout: str, tmp_path: Path) -> Path:
    _needs(layout)
    return Path(shutil.copytree(models[layout], tmp_path / layout))


def test_sentencepiece_missing_is_named_not_tiktoken(models: dict[str, Path], tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    model = _copy(models, "xlmr-sentencepiece", tmp_path)
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # import fails as if it were not installed
    with pytest.raises(config.ConfigError) as caught:
        modelcheck.check(_settings(model))
    message = str(caught.value)
    assert "sentencepiece.bpe.model" in message and "'sentencepiece' is not installed" in message
    assert "chat-sentiment[transformers]" in message and "tiktoken" not in message


def test_a_bpe_tokenizer_without_merges_is_named(models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(models, "roberta-bpe", tmp_path)
    (model / "merges.txt").unlink()
    with pytest.raises(config.ConfigError, match=r"merges\.txt is missing"):
        modelcheck.check(_settings(model))


def test_no_tokenizer_and_no_weights_are_named_together(models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(models, "bert-wordpiece", tmp_path)
    (model / "vocab.txt").unlink()
    (model / "model.safetensors").unlink()
    (model / "tf_model.h5").write_bytes(b"")
    with pytest.raises(ScorerUnavailable) as caught:
        get_scorer("transformers", model=str(model))
    assert "no tokenizer" in str(caught.value) and "only tf_model.h5" in str(caught.value)


def test_the_onnx_runtime_names_the_export_command(models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(models, "tokenizer-json", tmp_path)
    with pytest.raises(config.ConfigError, match=r"no onnx/model_quantized.onnx .*python -m chat_sentiment.onnxmodel"):
        modelcheck.check(_settings(model, runtime="onnx", quantize=True))


def test_a_tokenizer_of_another_model_is_refused(models: dict[str, Path], tmp_path: Path) -> None:
    model = _copy(models, "tokenizer-json", tmp_path)
    shutil.copy(models["roberta-bpe"] / "vocab.json", model)  # ignored: tokenizer.json wins
    other = build_model(tmp_path / "bigger", [*TEXTS, *(f"word{i} 단어{i}" for i in range(400))], vocab_size=900)
    shutil.copy(other / "tokenizer.json", model / "tokenizer.json")
    with pytest.raises(ScorerUnavailable, match=r"tokens but the model only \d+ embedding rows"):
        get_scorer("transformers", model=str(model))


def test_modelcheck_cli_exits_2_with_the_problem(models: dict[str, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = _copy(models, "roberta-bpe", tmp_path)
    job = tmp_path / "job.toml"
    job.write_text(f'[scorer]\nname = "transformers"\nmodel = "{model}"\nlabels = ["negative", "neutral", '
                   '"positive"]\n')
    assert modelcheck.main(["--config", str(job)]) == 0
    assert json.loads(capsys.readouterr().out)["labels"] == ["negative", "neutral", "positive"]
    (model / "vocab.json").unlink()
    assert modelcheck.main(["--config", str(job)]) == 2
    assert "vocab.json is missing" in capsys.readouterr().err
