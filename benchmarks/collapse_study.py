"""Does the conv2d memory collapse on images larger than MNIST, and which addressing prevents it
(issue #22)? AE against MemAE under its old default and the candidates, on real images:

- ``mnist128``: MNIST (../shared/data/mnist) resized to 128x128 and tinted to 3 channels (each
  image its own colour, drawn per image for normal and anomalous digits alike); one class
  normal: the first 600 of its training images train, 300 of its test images and 300 test
  images of the other classes test;
- ``ped2_128``, ``ped2_256``: UCSD Ped2 frames as images at 128x128 or 256x256 (every 4th
  training frame trains; every 2nd test frame tests, labelled by the frame labels).

    python benchmarks/collapse_study.py [--datasets mnist128,ped2_128] [--epochs 10] \\
        [--seed 0] [--out benchmarks/results/collapse]
    python benchmarks/collapse_study.py --summary [--out ...]   # mean ± std over the seeds

Rows are written to OUT/results.csv after each model (a rerun resumes). The epochs are fixed
for all models (the study compares addressings, not schedules); the settings were fixed before
any test AUC was seen. Decoded most-used slots (paper Fig. 3) go to OUT/slots_<dataset>_<model>.png.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from memae import MemAEDetector
from memae.bench.common import make_detector
from memae.bench.results import ResultsTable, mean_std
from memae.data.idx import read_idx
from memae.data.video import load_video_dataset
from memae.plots import image_grid

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MODELS = [
    "ae",
    "memae",  # the old default: dot product, one flat query per image
    "memae:similarity=scaled_dot",
    "memae:similarity=cosine",
    "memae:memory_on=location",
]


def mnist128(normal: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    root = SHARED / "mnist"
    train_x, train_y = (
        read_idx(root / "train-images-idx3-ubyte.gz"),
        read_idx(root / "train-labels-idx1-ubyte.gz"),
    )
    test_x, test_y = (
        read_idx(root / "t10k-images-idx3-ubyte.gz"),
        read_idx(root / "t10k-labels-idx1-ubyte.gz"),
    )
    rng = np.random.default_rng(seed)
    train = train_x[train_y == normal][:600]
    inliers, outliers = test_x[test_y == normal][:300], test_x[test_y != normal][:300]
    test = np.concatenate([inliers, outliers])
    labels = np.r_[np.zeros(len(inliers)), np.ones(len(outliers))]

    def big_and_tinted(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x.astype(np.float32) / 255.0)  # (n, 1, 28, 28)
        t = F.interpolate(t, size=(128, 128), mode="bilinear", align_corners=False)
        tint = torch.from_numpy(rng.uniform(0.4, 1.0, (len(x), 3, 1, 1)).astype(np.float32))
        return (t * tint).numpy()  # (n, 3, 128, 128)

    return big_and_tinted(train), big_and_tinted(test), labels


def ped2(size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = load_video_dataset(SHARED / "ucsd_ped2", (size, size))
    train = np.concatenate([v.frames[::4] for v in data.train])[:, None] / 255.0
    test = np.concatenate([v.frames[::2] for v in data.test])[:, None] / 255.0
    labels = np.concatenate([v.labels[::2] for v in data.test])
    return train.astype(np.float32), test.astype(np.float32), labels


DATASETS = {"mnist128": mnist128, "ped2_128": partial(ped2, 128), "ped2_256": partial(ped2, 256)}


def slots_figure(det: MemAEDetector, path: Path, k: int = 16) -> None:
    """The k most used slots, each decoded on its own (paper Fig. 3)."""
    usage = np.asarray(det.memory_usage_["slot_usage"])
    order = np.argsort(-usage)[:k]
    decoded = det.decode_memory()[order]
    shares = ", ".join(f"{usage[i]:.0%}" for i in order[:4])
    title = f"{path.stem}: the {k} most used slots decoded (the first take {shares}, ...)"
    image_grid(np.clip(decoded, 0, 1), path, columns=8, title=title)


def summary(path: Path) -> None:
    """A markdown table: AUC and effective slots per (dataset, model), mean ± std over seeds."""
    groups: dict[tuple[str, str], list[dict[str, str]]] = {}
    for row in ResultsTable(path, ("dataset", "model", "seed", "epochs")).rows:
        groups.setdefault((row["dataset"], row["model"]), []).append(row)
    print("| dataset | model | seeds | AUC | effective slots |\n|---|---|---|---|---|")
    for (dataset, model), rows in groups.items():
        slots = [float(r["effective_slots"]) for r in rows if r.get("effective_slots")]
        auc = mean_std([float(r["auc"]) for r in rows])
        print(f"| {dataset} | {model} | {len(rows)} | {auc} | {mean_std(slots) if slots else ''} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="mnist128,ped2_128")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/collapse"))
    parser.add_argument("--summary", action="store_true", help="means over seeds; trains nothing")
    args = parser.parse_args()
    if args.summary:
        summary(args.out / "results.csv")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    table = ResultsTable(args.out / "results.csv", ("dataset", "model", "seed", "epochs"))
    training = {"epochs": args.epochs, "batch_size": 32, "lr": 1e-3}
    for name in args.datasets.split(","):
        data = None
        for spec in args.models.split(","):
            key = {"dataset": name, "model": spec, "seed": args.seed, "epochs": args.epochs}
            if table.done(**key):
                continue
            if data is None:
                data = DATASETS[name]()
            train, test, labels = data
            det = make_detector(spec, args.seed, training, "cpu")
            start = time.perf_counter()
            det.fit(train)
            fit_s = time.perf_counter() - start
            auc = roc_auc_score(labels, det.decision_function(test))
            usage = det.memory_usage_ or {}
            row = {**key, "auc": auc, "fit_s": fit_s, "shape": "x".join(map(str, train.shape[1:]))}
            for k in ("effective_slots", "slots_addressed", "num_slots", "top_slot_share",
                      "zero_rows_fraction"):  # fmt: skip
                if k in usage:
                    row[k] = usage[k]
            table.add(row)
            print(row, flush=True)
            if usage:
                slots_figure(det, args.out / f"slots_{name}_{spec.replace(':', '_')}.png")


if __name__ == "__main__":
    main()
