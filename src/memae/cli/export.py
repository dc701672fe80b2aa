"""`memae export MODEL_DIR --out MODEL.onnx`: the whole detector as one ONNX file."""

from __future__ import annotations

import argparse
from typing import Any

from ..detector import MemAEDetector
from ..errors import InputError
from .options import is_onnx, output


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="a model folder -> one ONNX file with the whole scoring rule",
        description="Export MODEL_DIR to ONNX: raw input in the units memae score takes; "
        "outputs score, label (above the saved threshold) and, for images and clips, "
        "error_map; scored by `memae score --model FILE.onnx` through onnxruntime "
        "(pip install 'memae[onnx]').",
    )
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("--out", required=True, metavar="MODEL.onnx")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    """MODEL_DIR -> one ONNX file holding the whole scoring rule and the threshold."""
    from ..onnx import export

    output(args.out, "--out", args.model)
    if not is_onnx(args.out):
        raise InputError(f"--out {args.out} should end in .onnx")
    det = MemAEDetector.load(args.model, device="cpu")
    path = export(det, args.out, opset=args.opset)
    size = path.stat().st_size / 1e6
    print(
        f"exported {args.model} to {path} ({size:.2f} MB, opset {args.opset}): input "
        f"(batch, {', '.join(map(str, det.input_shape_))}), outputs score, label"
        + (", error_map" if len(det.input_shape_) >= 3 else "")
    )
