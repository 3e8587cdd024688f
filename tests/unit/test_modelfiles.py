"""Model directories read without transformers (modelfiles) and the scorer settings that name them (config)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from chat_sentiment import config, modelfiles


def _model(folder: Path, *names: str, config_json: dict | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config_json or {"model_type": "bert"}))
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")
    return folder


@pytest.mark.parametrize(("names", "kind"), [
    (("tokenizer.json", "vocab.txt", "sentencepiece.bpe.model"), "tokenizer.json"),
    (("sentencepiece.bpe.model", "special_tokens_map.json"), "sentencepiece"),
    (("spiece.model",), "sentencepiece"),
    (("vocab.txt", "tokenizer_config.json"), "wordpiece"),
    (("vocab.json", "merges.txt"), "bpe"),
])
def test_the_tokenizer_kind_follows_transformers_preference(tmp_path: Path, names: tuple[str, ...],
                                                            kind: str) -> None:
    assert modelfiles.inspect(_model(tmp_path / "m", "model.safetensors", *names)).tokenizer == kind


def test_weights_and_onnx_files_are_found(tmp_path: Path) -> None:
    files = modelfiles.inspect(_model(tmp_path / "m", "pytorch_model.bin", "vocab.txt", "onnx/model.onnx",
                                      "onnx/model_quantized.onnx"))
    assert (files.weights, files.onnx, files.onnx_int8) == (("pytorch_model.bin",), "onnx/model.onnx",
                                                            "onnx/model_quantized.onnx")
    problems = modelfiles.problems(files, runtime="onnx", quantize=True)
    assert not [p for p in problems if "onnx/model" in p]  # at most onnxruntime itself, where it is not installed


def test_each_missing_piece_is_named(tmp_path: Path) -> None:
    with pytest.raises(modelfiles.ModelProblem, match="no such directory"):
        modelfiles.inspect(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(modelfiles.ModelProblem, match=r"no config\.json"):
        modelfiles.inspect(tmp_path / "empty")
    bare = modelfiles.inspect(_model(tmp_path / "bare", "tf_model.h5"))
    found = " ".join(modelfiles.problems(bare))
    assert "no tokenizer" in found and "no PyTorch weights" in found and "only tf_model.h5" in found
    half_bpe = modelfiles.inspect(_model(tmp_path / "bpe", "merges.txt", "model.safetensors"))
    assert modelfiles.problems(half_bpe) == [f"model {str(tmp_path / 'bpe')!r}: a BPE tokenizer needs vocab.json and "
                                             "merges.txt; vocab.json is missing"]
    torch_only = modelfiles.inspect(_model(tmp_path / "t", "model.safetensors", "vocab.txt"))
    assert modelfiles.problems(torch_only) == []
    (onnx_problem,) = [p for p in modelfiles.problems(torch_only, runtime="onnx") if "onnx/model.onnx" in p]
    assert "python -m chat_sentiment.onnxmodel" in onnx_problem


def test_hub_ids_and_paths() -> None:
    assert not modelfiles.is_local("cardiffnlp/twitter-xlm-roberta-base-sentiment")
    assert modelfiles.is_local("/var/lib/chat-sentiment/models/x") and modelfiles.is_local("./model")


# ------------------------------------------------------------------------------------------ settings


def test_runtime_and_labels_settings_from_file_and_environment() -> None:
    cfg = config.from_mapping({"scorer": {"name": "transformers", "runtime": "ONNX",
                                          "labels": ["Negative", "positive"]}})
    assert (cfg.scorer.runtime, cfg.scorer.labels) == ("onnx", ("negative", "positive"))
    assert cfg.scorer.options()["runtime"] == "onnx" and cfg.scorer.options()["labels"] == ["negative", "positive"]
    env = config.from_env({"CHAT_SENTIMENT_SCORER": "transformers", "CHAT_SENTIMENT_MODEL_RUNTIME": "torch",
                           "CHAT_SENTIMENT_MODEL_LABELS": "negative,neutral,positive",
                           "CHAT_SENTIMENT_MODEL_THREADS": "1"})
    assert env.scorer.labels == ("negative", "neutral", "positive") and env.scorer.options()["threads"] == 1
    # unset, they change nothing in what the job hands the scorer
    unchanged = config.from_mapping({"scorer": {"name": "transformers"}}).scorer.options()
    assert unchanged == {"revision": None, "quantize": False, "batch_size": 32, "max_length": 128}


@pytest.mark.parametrize(("key", "value", "message"), [
    ("runtime", "tensorrt", "unknown runtime 'tensorrt'; choose torch or onnx"),
    ("labels", ["negative", "happy"], "'happy' is not a sentiment"),
    ("labels", ["positive"], "at least two"),
])
def test_wrong_scorer_settings_name_the_key(key: str, value: object, message: str) -> None:
    with pytest.raises(config.ConfigError, match=rf"\[scorer\] {key}: .*{message}"):
        config.from_mapping({"scorer": {key: value}})
