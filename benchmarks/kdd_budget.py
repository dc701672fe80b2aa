"""The KDDCUP99 preset's epoch budget of each model (issue #37), chosen on training records.

A model (``--model``: any bench model spec) with the KDD settings of ``memae bench tabular``
(the paper's FC net, batch 1024, lr 1e-3) is trained on the training half of an exploratory
run (``--run 100``: a split that no reported run 0-19 uses) for ``--epochs``, and each epoch's
training and validation loss (the detector's 10% hold-out of those records) is written. The
budget is the rule of ``epoch_budget.py`` on the training loss (``--column val_loss``: on the
held-out reconstruction loss, for DAGMM, whose objective has no natural zero). No test record
is scored and no label is read beyond the split's (attacks are the training class): the choice
sees no test label. The training state is kept beside the CSV, so a killed run goes on from
its last epoch.

    python benchmarks/kdd_budget.py curve ../shared/data/kddcup99 --model memae --epochs 200 \\
        --out benchmarks/results/kdd_budget/memae.csv
    python benchmarks/kdd_budget.py choose benchmarks/results/kdd_budget/memae.csv
"""

from __future__ import annotations

from pathlib import Path

from epoch_budget import choose, commands, fit_curve

from memae.bench.common import make_detector
from memae.bench.tabular import KDD_FILES, KDD_TRAINING
from memae.data.protocols import kdd_split
from memae.data.tabular import read_kddcup_raw


def curve(data_dir: Path, model: str, run: int, epochs: int, out: Path) -> None:
    """Train ``model`` on the training records of exploratory run ``run``; write its losses."""
    data = read_kddcup_raw(data_dir / KDD_FILES["raw"])
    train, _ = kdd_split(data.y, seed=run)
    det = make_detector(model, run, {**KDD_TRAINING, "epochs": epochs}, "cpu")
    fit_curve(det, data.X[train], out, ("train_loss", "val_loss"), run=run, model=model,
              train_rows=int(len(train)))  # fmt: skip


def main() -> None:
    p, c, h = commands(__doc__)
    c.add_argument("--model", default="memae", help="a bench model spec (default: memae)")
    c.add_argument("--run", type=int, default=100, help="an exploratory run, not one of 0-19")
    c.add_argument("--epochs", type=int, default=200)
    for q in (c, h):  # DAGMM's objective goes below zero: its budget reads val_loss
        q.add_argument("--column", default="train_loss", help="the loss the rule reads")
    a = p.parse_args()
    if a.command == "curve":
        curve(a.data_dir, a.model, a.run, a.epochs, a.out)
    choose(a.out if a.command == "curve" else a.csv, a.column, "val_loss", a.within, a.smooth)


if __name__ == "__main__":
    main()
