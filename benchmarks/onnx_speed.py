"""Scoring throughput, torch eager against onnxruntime, per family, and the ONNX file sizes,
side by side in one run (issue #21, item 5).

    python benchmarks/onnx_speed.py [--threads N] [--out benchmarks/results/onnx_speed.csv]

Each family's model is fitted for one epoch on real digits of the embedded MNIST sample (as
vectors, images, or clips of 8 consecutive digits; the weights do not change the speed), then
the same inputs are scored by ``decision_function`` and by ``memae.onnx.OnnxDetector``, both
on ``--threads`` threads, best of three passes; the scores agree to the parity tolerance.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from csvout import write_rows

from memae import MemAEDetector
from memae.data.sample import load_mnist_sample
from memae.onnx import OnnxDetector
from memae.runtime import cpu_count


def inputs() -> dict[str, np.ndarray]:
    images, labels = load_mnist_sample()
    digits = images[labels == 0].astype(np.float32)[:, :, :, :] / 255.0
    clips = np.stack([digits[i : i + 8, 0] for i in range(0, 8 * 64, 8)])[:, None]
    return {"vectors": digits.reshape(len(digits), -1)[:4096], "images": digits[:512],
            "clips": clips}  # fmt: skip


CASES = [  # (name, variant, input kind, options)
    ("mlp memae (784 -> preset)", "memae", "vectors", {}),
    ("conv2d memae (MNIST)", "memae", "images", {"error_sigma": 1.0, "error_top": 0.05}),
    ("unet arnet (MNIST, 4 views)", "arnet", "images", {"error_sigma": 1.0}),
    ("conv3d memae (8x28x28 clips, 16-32-64-64)", "memae", "clips",
     {"model_options": {"channels": [16, 32, 64, 64]}}),
]  # fmt: skip


def best_of(f, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=cpu_count())
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/onnx_speed.csv"))
    args = parser.parse_args()
    data, rows = inputs(), []
    with tempfile.TemporaryDirectory() as tmp:
        for name, variant, kind, options in CASES:
            X = data[kind]
            det = MemAEDetector(variant, epochs=1, random_state=0, threads=args.threads,
                                **options).fit(X)  # fmt: skip
            path = det.export_onnx(Path(tmp) / "m.onnx")
            onnx_det = OnnxDetector(path, threads=args.threads)
            diff = np.abs(onnx_det.decision_function(X) - det.decision_function(X)).max()
            t_torch = best_of(lambda det=det, X=X: det.decision_function(X))
            t_onnx = best_of(lambda o=onnx_det, X=X: o.decision_function(X))
            rows.append({
                "model": name, "samples": len(X),
                "torch_per_s": f"{len(X) / t_torch:.0f}", "onnx_per_s": f"{len(X) / t_onnx:.0f}",
                "onnx_speedup": f"{t_torch / t_onnx:.2f}",
                "onnx_mb": f"{path.stat().st_size / 1e6:.3f}", "max_abs_diff": f"{diff:.2g}",
            })  # fmt: skip
            print(rows[-1], flush=True)
    write_rows(args.out, rows)
    print(f"threads {args.threads}")


if __name__ == "__main__":
    main()
