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
import time
from pathlib import Path

from epoch_budget import choose, rule_options, write_curve

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
    seconds = None if resumed else time.perf_counter() - start  # a resumed run timed a part
    write_curve(out, det, ("train_nll", "val_nll"), seconds, **{"class": cls}, seed=seed,
                train_images=len(train))  # fmt: skip


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
    rule_options(p, c)
    args = parser.parse_args()
    if args.command == "curve":
        curve(args.data_dir, args.cls, args.epochs, args.seed, args.out)
    path = args.out if args.command == "curve" else args.csv
    choose(path, "val_nll", "val_nll", args.within, args.smooth)


if __name__ == "__main__":
    main()
