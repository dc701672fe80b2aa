"""The MNIST preset's epoch budget of each model (issues #23 and #37), chosen on training digits.

A model (``--model``: any bench model spec) with the MNIST settings of ``memae bench image``
(batch 64, lr 1e-3) is trained on one class's training split of the paper protocol (the digits
the bench trains on) for ``--epochs``, and each epoch's training and validation loss (the
detector's 10% hold-out of those training digits) is written. The budget is the rule of
``epoch_budget.py`` on ``--column`` (the training loss; PixCNN's validation NLL): the first
epoch whose running mean over ``--smooth`` epochs is within ``--within`` of that mean at the
run's end. No test digit is scored: the choice sees no test label. The training state is kept
beside the CSV, so a killed run goes on from its last epoch.

    python benchmarks/mnist_budget.py curve ../shared/data/mnist --model ae --epochs 200 \\
        --out benchmarks/results/mnist_budget/ae.csv
    python benchmarks/mnist_budget.py choose benchmarks/results/mnist_budget/ae.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from epoch_budget import choose, commands, fit_curve

from memae.bench.common import make_detector
from memae.bench.image import TRAINING, _float
from memae.data.images import load_image_dataset
from memae.data.protocols import one_class_split


def curve(
    data_dir: Path, model: str, cls: int, epochs: int, seed: int, out: Path, names: tuple[str, str]
) -> None:
    """Train ``model`` on class ``cls``'s training digits; write each epoch's losses."""
    data = load_image_dataset("mnist", data_dir)
    X, y = data.all()
    train = _float(one_class_split(X, y, cls, seed=seed).train)
    det = make_detector(model, seed, {**TRAINING["mnist"], "epochs": epochs}, "cpu")
    fit_curve(det, train, out, names, **{"class": cls}, seed=seed, model=model,
              train_images=len(train))  # fmt: skip


def parser(
    doc: str,
    model: str,
    column: str,
    names: tuple[str, str],
    epochs: int = 200,
    classes: bool = True,
) -> argparse.ArgumentParser:
    """The ``curve`` and ``choose`` commands, with ``model``, ``column``, the loss column
    ``names`` and ``epochs`` as defaults, and ``--cls`` where ``classes`` (pixcnn_budget.py is
    this script with PixCNN's; ped2_budget.py takes its parser, without classes)."""
    p, c, h = commands(doc)
    p.set_defaults(names=names)
    c.add_argument("--model", default=model, help=f"a bench model spec (default: {model})")
    if classes:
        c.add_argument("--cls", type=int, default=0)
    c.add_argument("--epochs", type=int, default=epochs)
    c.add_argument("--seed", type=int, default=0)
    for q in (c, h):
        q.add_argument("--column", default=column, help=f"the loss the rule reads ({column})")
    return p


def main(args: argparse.Namespace) -> None:
    if args.command == "curve":
        curve(args.data_dir, args.model, args.cls, args.epochs, args.seed, args.out, args.names)
    path = args.out if args.command == "curve" else args.csv
    choose(path, args.column, args.names[1], args.within, args.smooth)


if __name__ == "__main__":
    main(parser(__doc__, "ae", "train_loss", ("train_loss", "val_loss")).parse_args())
