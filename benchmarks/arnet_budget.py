"""The MVTec preset's epoch budget of each model (issues #22 and #37), chosen on its own
training loss (``--model``: ARNet by default; any bench model spec).

No MVTec AD category is in ../shared/data, so a real-world category in the MVTec layout is
made from UCSD Ped2 (its frames are 3-channel JPEGs): ``train/good`` every ``--every``-th
training frame, ``test/good`` and ``test/anomaly`` the test frames, ``ground_truth/anomaly`` their
pixel masks (links, nothing copied). The model is then trained with the MVTec preset of
``memae bench image`` (batch 16, lr 1e-3, 128x128) for ``--epochs``, and each epoch's training
and validation loss is written. The budget is the first epoch whose training loss, as a running
mean over ``--smooth`` epochs (one epoch's loss jumps by 10% and more), is within ``--within``
of that mean at the run's end: where more epochs stop paying. No test image is scored: the
choice sees no test label. ``choose`` applies the rule to a CSV already written.

    python benchmarks/arnet_budget.py make /tmp/ped2_mvtec
    python benchmarks/arnet_budget.py curve /tmp/ped2_mvtec --epochs 60 \\
        --out benchmarks/results/arnet_budget.csv
    python benchmarks/arnet_budget.py choose benchmarks/results/arnet_budget.csv
    python benchmarks/arnet_budget.py curve /tmp/ped2_mvtec --model ae --epochs 100 \
        --out benchmarks/results/mvtec_budget/ae.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from epoch_budget import choose, fit_curve, rule_options

from memae.bench.common import make_detector
from memae.bench.image import TRAINING
from memae.data.mvtec import load_mvtec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2"


def link(src: Path, dst: Path) -> None:
    if not dst.exists():
        dst.symlink_to(src.resolve())


def link_training(out: Path, frames: list[Path]) -> None:
    """Link ``frames`` as the category's ``train/good``, named by video and frame."""
    (out / "train" / "good").mkdir(parents=True, exist_ok=True)
    for f in frames:
        link(f, out / "train" / "good" / f"{f.parent.name}_{f.stem}.jpg")


def make(out: Path, ped2: Path = SHARED, every: int = 10) -> None:
    """Link Ped2 frames into an MVTec AD category folder at ``out``."""
    labels = np.load(ped2 / "frame_labels_ped2.npy").ravel()
    train = sorted((ped2 / "training" / "frames").glob("*/*.jpg"))[::every]
    test = sorted((ped2 / "testing" / "frames").glob("*/*.jpg"))
    if len(test) != len(labels):
        raise SystemExit(f"{len(test)} test frames but {len(labels)} frame labels in {ped2}")
    for sub in ("test/good", "test/anomaly", "ground_truth/anomaly"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    link_training(out, train)
    for f, label in zip(test, labels, strict=True):
        name = f"{f.parent.name}_{f.stem}"
        link(f, out / "test" / ("anomaly" if label else "good") / f"{name}.jpg")
        if label:
            mask = ped2 / "testing" / "masks" / f.parent.name / f"{f.stem}.png"
            link(mask, out / "ground_truth" / "anomaly" / f"{name}_mask.png")
    print(f"{out}: {len(train)} training frames, {len(test)} test ({labels.sum()} anomalous)")


def curve(
    folder: Path,
    epochs: int,
    seed: int,
    within: float,
    smooth: int,
    out: Path,
    model: str = "arnet",
) -> None:
    """Train ``model`` with the MVTec preset; write each epoch's losses and the chosen budget.

    A killed run goes on from its last epoch when run again (``epoch_budget.fit_curve``).
    """
    category = load_mvtec(folder, (128, 128))
    train = category.train.astype(np.float32) / 255.0
    training = {**TRAINING["mvtec"], "epochs": epochs}
    det = make_detector(model, seed, training, "cpu")
    shape = "x".join(map(str, train.shape[1:]))
    seconds = fit_curve(det, train, out, ("train_loss", "val_loss"), seed=seed,
                        train_images=len(train), shape=shape, model=model)  # fmt: skip
    if seconds is not None:
        print(
            f"{epochs} epochs, {seconds / epochs:.1f} s each on {torch.get_num_threads()} thread(s)"
        )
    choose(out, "train_loss", "val_loss", within, smooth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("make")
    p.add_argument("out", type=Path)
    p.add_argument("--ped2", type=Path, default=SHARED)
    p.add_argument("--every", type=int, default=10, help="every n-th training frame trains")
    p = sub.add_parser("curve")
    p.add_argument("folder", type=Path)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="arnet", help="a bench model spec (default: arnet)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/arnet_budget.csv"))
    c = sub.add_parser("choose")
    c.add_argument("csv", type=Path)
    rule_options(p, c)
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.ped2, args.every)
    elif args.command == "choose":
        choose(args.csv, "train_loss", "val_loss", args.within, args.smooth)
    else:
        curve(args.folder, args.epochs, args.seed, args.within, args.smooth, args.out, args.model)


if __name__ == "__main__":
    main()
