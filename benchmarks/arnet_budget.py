"""ARNet's epoch budget for the MVTec preset (issue #22, item 4), chosen on the training loss.

No MVTec AD category is in ../shared/data, so a real-world category in the MVTec layout is
made from UCSD Ped2 (its frames are 3-channel JPEGs): ``train/good`` every ``--every``-th
training frame, ``test/good`` and ``test/anomaly`` the test frames, ``ground_truth/anomaly`` their
pixel masks (links, nothing copied). ARNet is then trained with the MVTec preset of
``memae bench image`` (batch 16, lr 1e-3, 128x128) for ``--epochs``, and each epoch's training
and validation loss is written. The budget is the first epoch whose training loss, as a running
mean over ``--smooth`` epochs (one epoch's loss jumps by 10% and more), is within ``--within``
of that mean at the run's end: where more epochs stop paying. No test image is scored: the
choice sees no test label. ``choose`` applies the rule to a CSV already written.

    python benchmarks/arnet_budget.py make /tmp/ped2_mvtec
    python benchmarks/arnet_budget.py curve /tmp/ped2_mvtec --epochs 60 \\
        --out benchmarks/results/arnet_budget.csv
    python benchmarks/arnet_budget.py choose benchmarks/results/arnet_budget.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
import torch
from csvout import write_rows

from memae.bench.common import make_detector
from memae.bench.image import TRAINING
from memae.data.mvtec import load_mvtec

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2"


def make(out: Path, ped2: Path = SHARED, every: int = 10) -> None:
    """Link Ped2 frames into an MVTec AD category folder at ``out``."""
    labels = np.load(ped2 / "frame_labels_ped2.npy").ravel()
    train = sorted((ped2 / "training" / "frames").glob("*/*.jpg"))[::every]
    test = sorted((ped2 / "testing" / "frames").glob("*/*.jpg"))
    if len(test) != len(labels):
        raise SystemExit(f"{len(test)} test frames but {len(labels)} frame labels in {ped2}")
    for sub in ("train/good", "test/good", "test/anomaly", "ground_truth/anomaly"):
        (out / sub).mkdir(parents=True, exist_ok=True)

    def link(src: Path, dst: Path) -> None:
        if not dst.exists():
            dst.symlink_to(src.resolve())

    for f in train:
        link(f, out / "train" / "good" / f"{f.parent.name}_{f.stem}.jpg")
    for f, label in zip(test, labels, strict=True):
        name = f"{f.parent.name}_{f.stem}"
        link(f, out / "test" / ("anomaly" if label else "good") / f"{name}.jpg")
        if label:
            mask = ped2 / "testing" / "masks" / f.parent.name / f"{f.stem}.png"
            link(mask, out / "ground_truth" / "anomaly" / f"{name}_mask.png")
    print(f"{out}: {len(train)} training frames, {len(test)} test ({labels.sum()} anomalous)")


def budget(train_loss: list[float], within: float, smooth: int) -> int:
    """The first epoch (from 1) whose ``smooth``-epoch running mean of the training loss is
    within ``within`` of the running mean at the last epoch."""
    means = [
        float(np.mean(train_loss[max(0, i - smooth + 1) : i + 1])) for i in range(len(train_loss))
    ]
    return next(e for e, v in enumerate(means, 1) if v <= means[-1] * (1 + within))


def curve(folder: Path, epochs: int, seed: int, within: float, smooth: int, out: Path) -> None:
    """Train ARNet with the MVTec preset; write each epoch's losses and the chosen budget.

    The training state is kept beside ``out`` after every epoch, so a killed run goes on from
    its last epoch when run again.
    """
    category = load_mvtec(folder, (128, 128))
    train = category.train.astype(np.float32) / 255.0
    training = {**TRAINING["mvtec"], "epochs": epochs}
    det = make_detector("arnet", seed, training, "cpu")
    start = time.perf_counter()
    state = out.with_name(out.stem + ".train-state")
    resumed = state.exists()
    det.fit(train, state_dir=state, resume=resumed)
    seconds = time.perf_counter() - start
    history = det.history_
    rows = [
        {
            "epoch": e,
            "train_loss": tl,
            "val_loss": vl,
            "seed": seed,
            "train_images": len(train),
            "shape": "x".join(map(str, train.shape[1:])),
            "threads": torch.get_num_threads(),
            "s_per_epoch": "" if resumed else seconds / epochs,  # a resumed run timed a part
        }
        for e, (tl, vl) in enumerate(zip(history.train_loss, history.val_loss, strict=True), 1)
    ]
    write_rows(out, rows)
    if not resumed:
        threads = torch.get_num_threads()
        print(f"{epochs} epochs, {seconds / epochs:.1f} s each on {threads} thread(s)")
    choose(out, within, smooth)


def choose(csv_path: Path, within: float, smooth: int) -> None:
    """Print the budget that ``csv_path`` (written by ``curve``) gives."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    train = [float(r["train_loss"]) for r in rows]
    val = [float(r["val_loss"]) for r in rows]
    print(
        f"{len(rows)} epochs: the {smooth}-epoch mean training loss is within {within:.0%} of "
        f"its end value from epoch {budget(train, within, smooth)}; best validation epoch "
        f"{int(np.argmin(val)) + 1}"
    )


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
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/arnet_budget.csv"))
    c = sub.add_parser("choose")
    c.add_argument("csv", type=Path)
    for q in (p, c):
        q.add_argument("--within", type=float, default=0.05)
        q.add_argument("--smooth", type=int, default=5, help="epochs in the running mean")
    args = parser.parse_args()
    if args.command == "make":
        make(args.out, args.ped2, args.every)
    elif args.command == "choose":
        choose(args.csv, args.within, args.smooth)
    else:
        curve(args.folder, args.epochs, args.seed, args.within, args.smooth, args.out)


if __name__ == "__main__":
    main()
