"""What a model directory holds, and what is missing for it to load here: checked before transformers tries.

Hub repositories ship a tokenizer in one of several file formats, and transformers' own errors about a missing
piece are often misleading (an XLM-R directory with only ``sentencepiece.bpe.model`` and no ``sentencepiece``
package fails with a message about ``tiktoken``). :func:`inspect` reads the directory (file names and
``config.json`` only: fast, no transformers import) and :func:`problems` names each missing piece: a file, or the
Python package that reads it, with what to do about it.

Tokenizer formats, in the order transformers prefers them:

- ``tokenizer.json`` (the ``tokenizers`` library, always installed with transformers);
- SentencePiece: ``sentencepiece.bpe.model`` (XLM-R), ``spiece.model`` (ALBERT, T5), ``tokenizer.model``: needs
  the ``sentencepiece`` package and a ``protobuf`` runtime at least as new as the one sentencepiece was generated
  with (transformers converts the model through it);
- WordPiece ``vocab.txt`` (BERT, ELECTRA, most Korean models);
- byte-level BPE ``vocab.json`` + ``merges.txt`` (RoBERTa, GPT-2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SENTENCEPIECE_FILES = ("sentencepiece.bpe.model", "spiece.model", "tokenizer.model")
TORCH_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")
OTHER_WEIGHTS = ("tf_model.h5", "flax_model.msgpack")
#: Where ONNX files live: optimum's and the hub's convention (``onnx/``), or the top of the directory.
ONNX_FP32 = ("onnx/model.onnx", "model.onnx")
ONNX_INT8 = ("onnx/model_quantized.onnx", "model_quantized.onnx")
INSTALL_HINT = "pip install 'chat-sentiment[transformers]' (the role installs it with the transformers scorer)"


class ModelProblem(ValueError):
    """A model directory cannot be loaded here; the message names the directory and the missing piece."""


@dataclass(frozen=True)
class ModelFiles:
    """A model directory as found on disk."""

    path: Path
    config: dict[str, Any]
    tokenizer: str  # tokenizer.json | sentencepiece | wordpiece | bpe | "" (none found)
    tokenizer_files: tuple[str, ...]
    weights: tuple[str, ...]  # PyTorch weights (safetensors or pickled), single or sharded
    onnx: str  # the fp32 ONNX file, relative to path ("" = none)
    onnx_int8: str  # the int8 ONNX file ("" = none)

    @property
    def num_labels(self) -> int:
        id2label = self.config.get("id2label") or {}
        return len(id2label) or int(self.config.get("num_labels", 0) or 0)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for ``--check``."""
        return {"path": str(self.path), "model_type": self.config.get("model_type", ""),
                "tokenizer": self.tokenizer, "tokenizer_files": list(self.tokenizer_files),
                "weights": list(self.weights), "onnx": self.onnx, "onnx_int8": self.onnx_int8,
                "id2label": self.config.get("id2label", {})}


def is_local(model: str) -> bool:
    """Whether ``model`` names a directory (rather than a hub id): it exists, or it looks like a path."""
    return Path(model).expanduser().is_dir() or model.startswith(("/", ".", "~"))


def inspect(model_dir: str | Path) -> ModelFiles:
    """Read ``model_dir``'s file names and ``config.json``; raises ModelProblem when it is no model directory."""
    path = Path(model_dir).expanduser()
    if not path.is_dir():
        raise ModelProblem(f"model {str(path)!r}: no such directory")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelProblem(f"model {str(path)!r}: no config.json (save the model with save_pretrained, or copy the "
                           "whole hub repository)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelProblem(f"model {str(path)!r}: config.json cannot be read: {exc}") from None
    names = {p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()}
    tokenizer, files = _tokenizer_kind(names)
    return ModelFiles(
        path=path, config=config if isinstance(config, dict) else {}, tokenizer=tokenizer, tokenizer_files=files,
        weights=tuple(n for n in TORCH_WEIGHTS if n in names),
        onnx=next((n for n in ONNX_FP32 if n in names), ""), onnx_int8=next((n for n in ONNX_INT8 if n in names), ""))


def _tokenizer_kind(names: set[str]) -> tuple[str, tuple[str, ...]]:
    if "tokenizer.json" in names:
        return "tokenizer.json", ("tokenizer.json",)
    spm = tuple(n for n in SENTENCEPIECE_FILES if n in names)
    if spm:
        return "sentencepiece", spm
    if "vocab.txt" in names:
        return "wordpiece", ("vocab.txt",)
    if "vocab.json" in names or "merges.txt" in names:
        return "bpe", tuple(n for n in ("vocab.json", "merges.txt") if n in names)
    return "", ()


def sentencepiece_problem() -> str:
    """Why SentencePiece files cannot be read here ("" = they can): the package, or its protobuf runtime."""
    try:
        import sentencepiece  # noqa: F401, PLC0415 - optional: only SentencePiece tokenizers need it
    except ImportError:
        return f"the Python package 'sentencepiece' is not installed: {INSTALL_HINT}"
    try:
        from sentencepiece import sentencepiece_model_pb2  # noqa: F401, PLC0415 - needs a matching protobuf
    except ImportError as exc:
        return f"the Python package 'protobuf' is not installed ({exc}): {INSTALL_HINT}"
    except Exception as exc:  # protobuf raises its own VersionError when the runtime is older than the gencode
        return f"sentencepiece cannot use the installed 'protobuf' ({exc}): {INSTALL_HINT}"
    return ""


def onnxruntime_problem() -> str:
    """Why ONNX models cannot run here ("" = they can)."""
    try:
        import onnxruntime  # noqa: F401, PLC0415 - optional: only the onnx runtime needs it
    except ImportError:
        return f"the Python package 'onnxruntime' is not installed: {INSTALL_HINT}"
    return ""


def problems(files: ModelFiles, *, runtime: str = "torch", quantize: bool = False) -> list[str]:
    """Each missing piece of ``files`` for ``runtime`` (torch | onnx), as a sentence; empty = nothing missing."""
    where = f"model {str(files.path)!r}"
    found: list[str] = []
    if not files.tokenizer:
        found.append(f"{where}: no tokenizer (expected tokenizer.json, {', '.join(SENTENCEPIECE_FILES)}, vocab.txt, "
                     "or vocab.json + merges.txt): copy the tokenizer files of the model's repository")
    elif files.tokenizer == "bpe" and len(files.tokenizer_files) < 2:
        have = files.tokenizer_files[0]
        lacking = "merges.txt" if have == "vocab.json" else "vocab.json"
        found.append(f"{where}: a BPE tokenizer needs vocab.json and merges.txt; {lacking} is missing")
    elif files.tokenizer == "sentencepiece" and (why := sentencepiece_problem()):
        found.append(f"{where}: its tokenizer is {files.tokenizer_files[0]} (SentencePiece, no tokenizer.json), "
                     f"and {why}")
    if runtime == "onnx":
        wanted, candidates = (files.onnx_int8, ONNX_INT8) if quantize else (files.onnx, ONNX_FP32)
        if not wanted:
            found.append(f"{where}: no {candidates[0]} for the onnx runtime{' (quantize = true)' if quantize else ''}:"
                         f" create it with `python -m chat_sentiment.onnxmodel {files.path}`")
        if why := onnxruntime_problem():
            found.append(f"{where}: {why}")
    elif not files.weights:
        other = [n for n in OTHER_WEIGHTS if (files.path / n).is_file()]
        hint = (f" (it has only {', '.join(other)}: transformers 5 loads PyTorch weights; convert them or use "
                "another revision)") if other else ""
        found.append(f"{where}: no PyTorch weights (expected {' or '.join(TORCH_WEIGHTS[::2])}){hint}")
    return found


def require_loadable(model_dir: str | Path, *, runtime: str = "torch", quantize: bool = False) -> ModelFiles:
    """:func:`inspect` and :func:`problems` together: the files, or ModelProblem naming every missing piece."""
    files = inspect(model_dir)
    found = problems(files, runtime=runtime, quantize=quantize)
    if found:
        raise ModelProblem("; ".join(found))
    return files
