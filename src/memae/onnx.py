"""ONNX export of a fitted detector with its whole scoring rule, and scoring through onnxruntime.

The graph is traced from ``det.scorer()``, the module behind ``decision_function``: no second
implementation of the rule. It takes the raw input (B, *input_shape) in the units that
``decision_function`` takes and holds the scaling, ARNet's views and their weights, the network,
the residual smoothing (``error_sigma``), the per-sample score (``error_top``) and the saved
threshold. Outputs: ``score`` (B,) float32, ``label`` (B,) int64 (score above the threshold,
compared in float64 as ``predict`` does), ``input_range`` (2,) (the scaled batch's smallest and
largest value, behind the range warning) and, for images and clips, ``error_map`` (B, h, w) or
(B, t, h, w). The batch axis is dynamic. The model's metadata holds the memae version, the
input shape, the threshold, the scaling mode and the detector's parameters.

``OnnxDetector(path)`` scores such a file with onnxruntime: ``decision_function``,
``predict``, ``error_maps``, ``score_maps``, with the checks and warnings of the torch detector.
Needs ``pip install 'memae[onnx]'`` (onnx, onnxruntime).
"""

from __future__ import annotations

import copy
import io
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .data.encoder import TableEncoder, as_features
from .errors import CheckpointError, InputError
from .fitting import resolve_inference_batch
from .persist import atomic_write
from .runtime import resolve_threads
from .samples import Samples
from .scoring import checked_scores
from .validation import check_shape
from .version import __version__

FORMAT = "memae.onnx"
OPSET = 17
OUTPUTS = ("score", "label", "input_range", "error_map")
INSTALL = "pip install 'memae[onnx]'"


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise InputError(f"ONNX export and scoring need {module}: {INSTALL}") from None


class Exported(nn.Module):
    """The scorer and the threshold as one graph: raw x -> score, label, input range[, map]."""

    def __init__(self, scorer: nn.Module, threshold: float, maps: bool) -> None:
        super().__init__()
        self.scorer = scorer
        self.register_buffer("threshold", torch.tensor(threshold, dtype=torch.float64))
        self.maps = maps

    def forward(self, x: Tensor) -> tuple[Tensor, ...]:
        out = self.scorer(x)
        label = (out.score.double() > self.threshold).to(torch.int64)
        outputs = (out.score, label, out.input_range)
        return (*outputs, out.error_map) if self.maps else outputs


def export(det: Any, path: str | os.PathLike, opset: int = OPSET) -> Path:
    """Write the fitted ``det`` (a ``MemAEDetector``) to ``path`` as ONNX (whole or not at all);
    its table encoder (``encoder_``) goes into the metadata (``table_encoding``)."""
    onnx = _require("onnx")
    blocker = det._fitted("model_").onnx_blocker
    if blocker:
        raise InputError(f"{det.model} cannot be exported to ONNX: {blocker}")
    path = Path(path)
    shape = tuple(det.input_shape_)
    maps = len(shape) >= 3
    scorer = copy.deepcopy(det.scorer()).cpu().eval()  # the detector stays on its device
    model = Exported(scorer, float(det.threshold_), maps).eval()
    names = list(OUTPUTS if maps else OUTPUTS[:3])
    axes = {"input": {0: "batch"}, "score": {0: "batch"}, "label": {0: "batch"}}
    if maps:
        axes["error_map"] = {0: "batch"}
    example = torch.zeros((2, *shape))
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        # the shapes the tracer sees as constants are the sample's, fixed by design; the
        # TorchScript exporter needs only onnx (not onnxscript) and takes every memae model
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model,
            (example,),
            buf,
            input_names=["input"],
            output_names=names,
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False,
        )
    proto = onnx.load_from_string(buf.getvalue())
    meta = {
        "format": FORMAT,
        "memae_version": __version__,
        "input_shape": json.dumps(list(shape)),
        "threshold": repr(float(det.threshold_)),
        "scaling": det.scaler_.mode,
        "params": json.dumps(det.saved_params()),
        "predicts": str(det.predicts_),
    }
    encoder = getattr(det, "encoder_", None)
    if encoder is not None:
        meta["table_encoding"] = json.dumps(encoder.as_dict())
    onnx.helper.set_model_props(proto, meta)
    proto.producer_name, proto.producer_version = "memae", __version__
    data = proto.SerializeToString()
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return path


class OnnxDetector:
    """A detector exported by ``export``, scored by onnxruntime with the torch detector's
    outputs: ``decision_function``, ``predict``, ``error_maps``, ``score_maps``; ``threshold_``,
    ``input_shape_``, ``predicts_`` and the table encoder ``encoder_`` as saved (a DataFrame is
    encoded by it, as by the torch detector). ``threads``: onnxruntime's intra-op threads
    (``auto``: as the torch detector chooses them)."""

    def __init__(self, path: str | os.PathLike, threads: int | str = "auto") -> None:
        ort = _require("onnxruntime")
        self.path = Path(path)
        meta = self.metadata(self.path)
        self.input_shape_ = tuple(json.loads(meta["input_shape"]))
        self.threshold_ = float(meta["threshold"])
        self.scaling = meta["scaling"]
        self.params = json.loads(meta["params"])
        self.memae_version = meta["memae_version"]
        self.predicts_ = int(meta.get("predicts", 0))  # files of before predictors: 0
        self.table_encoding = meta.get("table_encoding")  # as saved (a dict), or None
        self.encoder_ = None
        if self.table_encoding is not None:
            try:
                self.encoder_ = TableEncoder.from_dict(self.table_encoding)
            except ValueError as exc:
                raise CheckpointError(f"{self.path}: {exc}") from None
        setting = self.params.get("inference_batch_size", "auto")
        self.batch_size = resolve_inference_batch(setting, len(self.input_shape_))
        options = ort.SessionOptions()
        size = float(np.prod(self.input_shape_)) * self.batch_size
        options.intra_op_num_threads = resolve_threads(threads, lambda: 1e4 * size)
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise CheckpointError(
                f"{self.path}: onnxruntime cannot load it: {_one_line(exc)}"
            ) from None
        self.outputs = [o.name for o in self.session.get_outputs()]

    @staticmethod
    def metadata(path: str | os.PathLike) -> dict[str, Any]:
        """The metadata memae wrote into the file (``table_encoding`` parsed); refuses files
        that are not ONNX or that memae did not export."""
        onnx = _require("onnx")
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path} is not an ONNX file")
        try:
            proto = onnx.load(str(path), load_external_data=False)
        except Exception as exc:  # protobuf's DecodeError and onnx's own
            raise CheckpointError(
                f"{path} is not a readable ONNX model: {_one_line(exc)}"
            ) from None
        meta = {p.key: p.value for p in proto.metadata_props}
        if meta.get("format") != FORMAT:
            raise CheckpointError(f"{path} is an ONNX model, but not one memae exported")
        try:
            if "table_encoding" in meta:
                meta["table_encoding"] = json.loads(meta["table_encoding"])
            json.loads(meta["input_shape"]), float(meta["threshold"]), json.loads(meta["params"])
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{path}: memae's metadata is incomplete ({exc})") from None
        return meta

    # ------------------------------------------------------------------ scoring
    def decision_function(self, X: Any) -> np.ndarray:
        return self._run(X, maps=False)[0]

    def predict(self, X: Any, threshold: float | None = None) -> np.ndarray:
        """0 = normal, 1 = anomaly (the graph's own label unless ``threshold`` is given)."""
        scores, labels, _ = self._run(X, maps=False, labels=True)
        if threshold is None:
            return labels
        return (scores > float(threshold)).astype(int)

    def score_maps(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        scores, _, maps = self._run(X, maps=True)
        return scores, maps

    def error_maps(self, X: Any) -> np.ndarray:
        return self.score_maps(X)[1]

    def _run(self, X: Any, maps: bool, labels: bool = False) -> tuple[Any, Any, Any]:
        data = Samples(as_features(X, self.encoder_), "X")
        check_shape(data.shape, self.input_shape_, owner="OnnxDetector")
        if maps and len(self.input_shape_) < 3:
            raise InputError("error maps exist for images and clips, not for vectors")
        scores, flags, error_maps, ranges = [], [], [], []
        for batch in data.batches(batch_size=self.batch_size):
            values = self.session.run(None, {"input": batch.numpy()})
            out = dict(zip(self.outputs, values, strict=True))
            scores.append(out["score"].astype(np.float64))
            flags.append(out["label"].astype(int))
            ranges.append(out["input_range"].tolist())
            if maps:
                error_maps.append(out["error_map"])
        all_scores = checked_scores(np.concatenate(scores), ranges, self.scaling)
        return (
            all_scores,
            np.concatenate(flags) if labels else None,
            np.concatenate(error_maps) if maps else None,
        )


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
