"""PixCNN's epoch budget on MNIST (issue #23), chosen on the validation NLL of training digits.

A PixelCNN with the MNIST settings of ``memae bench image`` (batch 64, lr 1e-3) is trained on
one class's training split of the paper protocol (the same digits the bench trains on) for
``--epochs``, and each epoch's training and validation negative log-likelihood (nats per
pixel, on the detector's 10% hold-out of those training digits) is written. The budget is the
rule of ``arnet_budget.py``, applied to the validation NLL: the first epoch whose running mean
over ``--smooth`` epochs is within ``--within`` of that mean at the run's end. No test digit is
scored: the choice sees no test label. The training state is kept beside the CSV, so a killed
run goes on from its last epoch.

    python benchmarks/pixcnn_budget.py curve ../shared/data/mnist --cls 0 --epochs 30 \\
        --out benchmarks/results/pixcnn_budget.csv
    python benchmarks/pixcnn_budget.py choose benchmarks/results/pixcnn_budget.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from arnet_budget import budget
from csvout import write_rows

from memae.bench.common import make_detector
from memae.bench.image import TRAINING, _float
from memae.data.images import load_image_dataset
from memae.data.protocols import one_class_split


def curve(data_dir: Path, cls: int, epochs: int, seed: int, out: Path) -> None:
    """Train PixCNN on class ``cls``'s training digits; write each epoch's NLL."""
    data = load_image_dataset("mnist", data_dir)
    X, y = data.all()
    train = _float(one_class_split(X, y, cls, seed=seed).train)
    det = make_detector("pixcnn", seed, {**TRAINING["mnist"], "epochs": epochs}, "cpu")
    state = out.with_name(out.stem + ".train-state")
    resumed = state.exists()
    start = time.perf_counter()
    det.fit(train, state_dir=state, resume=resumed)
    seconds = time.perf_counter() - start
    history = det.history_
    rows = [
        {
            "epoch": e,
            "train_nll": tl,
            "val_nll": vl,
            "class": cls,
            "seed": seed,
            "train_images": len(train),
            "threads": torch.get_num_threads(),
            "s_per_epoch": "" if resumed else seconds / epochs,  # a resumed run timed a part
        }
        for e, (tl, vl) in enumerate(zip(history.train_loss, history.val_loss, strict=True), 1)
    ]
    write_rows(out, rows)


def choose(csv_path: Path, within: float, smooth: int) -> None:
    """Print the budget that ``csv_path`` (written by ``curve``) gives."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    val = [float(r["val_nll"]) for r in rows]
    print(
        f"{len(rows)} epochs: the {smooth}-epoch mean validation NLL is within {within:.0%} of "
        f"its end value from epoch {budget(val, within, smooth)}; lowest at epoch "
        f"{int(np.argmin(val)) + 1} ({min(val):.4f} nats per pixel)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("curve")
    p.add_argument("data_dir", type=Path)
    p.add_argument("--cls", type=int, default=0)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/pixcnn_budget.csv"))
    c = sub.add_parser("choose")
    c.add_argument("csv", type=Path)
    for q in (p, c):
        q.add_argument("--within", type=float, default=0.05)
        q.add_argument("--smooth", type=int, default=5, help="epochs in the running mean")
    args = parser.parse_args()
    if args.command == "curve":
        curve(args.data_dir, args.cls, args.epochs, args.seed, args.out)
    choose(args.out if args.command == "curve" else args.csv, args.within, args.smooth)


if __name__ == "__main__":
    main()
