"""The fast path of the transformers scorer: a model exported to ONNX, run by ONNX Runtime, optionally int8.

``python -m chat_sentiment.onnxmodel MODEL_DIR [--no-quantize]`` exports a sequence classifier saved with
``save_pretrained`` (or copied from the hub) to ``MODEL_DIR/onnx/model.onnx`` (fp32) and, unless told not to,
quantizes it to ``MODEL_DIR/onnx/model_quantized.onnx`` (dynamic int8: the weights of every MatMul stored as int8,
activations quantized on the fly). Those are the names optimum and hub repositories that ship ONNX use, so a
repository that already has them needs no export. Exporting needs torch, transformers and onnx (the
``transformers`` extra); scoring needs only onnxruntime, numpy and the tokenizer.

The scorer (``runtime = "onnx"`` in ``[scorer]``) loads one of the two files with :class:`OnnxClassifier`.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .modelfiles import ONNX_FP32, ONNX_INT8, ModelProblem, inspect, onnxruntime_problem

#: ONNX opset of the export: supported by every onnxruntime since 1.15.
OPSET = 17
_SAMPLE = ("PogChamp ㅋㅋㅋ 개꿀잼", "gg")


class OnnxClassifier:
    """An ONNX sequence classifier in an ONNX Runtime CPU session: ``logits(encoding)`` -> (batch, classes).

    ``threads`` caps ONNX Runtime's intra-op threads (None: one per core). The session feeds the graph the inputs
    it declares (``input_ids``, ``attention_mask`` and, for BERT-like models, ``token_type_ids``) from the
    tokenizer's numpy encoding.
    """

    def __init__(self, onnx_file: str | Path, threads: int | None = None) -> None:
        if why := onnxruntime_problem():
            raise ModelProblem(f"ONNX model {str(onnx_file)!r}: {why}")
        import onnxruntime as ort  # noqa: PLC0415 - optional dependency

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.path = Path(onnx_file)
        self.session = ort.InferenceSession(str(onnx_file), sess_options=options,
                                            providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]

    def logits(self, encoding: Mapping[str, Any]) -> Any:
        import numpy as np  # noqa: PLC0415

        feed = {}
        for name in self.input_names:
            if name in encoding:
                feed[name] = np.asarray(encoding[name], dtype=np.int64)
            elif name == "token_type_ids":
                feed[name] = np.zeros_like(np.asarray(encoding["input_ids"], dtype=np.int64))
            else:
                raise ModelProblem(f"ONNX model {str(self.path)!r} wants the input {name!r}, which the tokenizer "
                                   f"does not make ({', '.join(encoding)})")
        return self.session.run(None, feed)[0]


def onnx_file(model_dir: str | Path, quantized: bool) -> Path:
    """The ONNX file of ``model_dir`` (int8 when ``quantized``); ModelProblem naming what to run when missing."""
    files = inspect(model_dir)
    name = files.onnx_int8 if quantized else files.onnx
    if not name:
        wanted = (ONNX_INT8 if quantized else ONNX_FP32)[0]
        raise ModelProblem(f"model {str(files.path)!r}: no {wanted}: create it with "
                           f"`python -m chat_sentiment.onnxmodel {files.path}`")
    return files.path / name


def export(model_dir: str | Path, *, quantize: bool = True, out_dir: str | Path | None = None) -> list[Path]:
    """Export ``model_dir``'s classifier to ``<out_dir or model_dir/onnx>/model.onnx`` and (``quantize``) its
    dynamic-int8 copy ``model_quantized.onnx``; returns the files written. Batch and sequence axes are dynamic."""
    import torch  # noqa: PLC0415 - export-time dependencies
    from transformers import AutoModelForSequenceClassification, AutoTokenizer  # noqa: PLC0415

    source = Path(model_dir)
    out = Path(out_dir) if out_dir else source / "onnx"
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(source, local_files_only=True).eval()
    sample = tokenizer(list(_SAMPLE), padding=True, return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    fp32 = out / "model.onnx"
    with torch.inference_mode(), warnings.catch_warnings():
        # the tracer warns about shape checks it fixes as constants; the axes below stay dynamic (tested)
        warnings.simplefilter("ignore")
        # the TorchScript exporter: the dynamo one needs onnxscript and gains nothing for an encoder
        torch.onnx.export(model, (), str(fp32), kwargs={n: sample[n] for n in names}, input_names=names,
                          output_names=["logits"], dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    written = [fp32]
    if quantize:
        written.append(quantize_file(fp32, out / "model_quantized.onnx"))
    return written


def quantize_file(fp32: Path, int8: Path) -> Path:
    """Dynamic int8 quantization of an ONNX file (weights int8 per channel, activations quantized at run time)."""
    import logging  # noqa: PLC0415

    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # "consider pre-processing"
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    return int8


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_sentiment.onnxmodel", description=__doc__.split("\n")[0])
    parser.add_argument("model_dir", help="a model directory (config.json, weights, tokenizer files)")
    parser.add_argument("--no-quantize", action="store_true", help="write only the fp32 model.onnx")
    parser.add_argument("--out-dir", default=None, help="where to write (default: MODEL_DIR/onnx)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        for path in export(args.model_dir, quantize=not args.no_quantize, out_dir=args.out_dir):
            print(path)
    except (ModelProblem, OSError, ImportError) as exc:
        print(f"onnxmodel: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
