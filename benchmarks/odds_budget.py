"""The ODDS suite's epoch budget of each model on each table (issue #37), chosen on training rows.

For every ODDS table of the folder, each model (``--models``: bench model specs) with the ODDS
settings of ``memae bench tabular`` (the tabular preset net, batch 128, lr 1e-3) is trained on
seed 0's training split (60% of the inliers: no test row, no outlier) for twice the epochs that
the preset's ``auto`` gives it on that table, and each epoch's training and validation loss
(the detector's 10% hold-out of those rows) is written to ``OUT/<model>/<table>.csv``. The
budget is the rule of ``epoch_budget.py`` on the training loss; ``choose`` prints every table's
as the entries of ``memae.bench.budgets.BUDGETS``. No test row is scored: the choice sees no
test label. Curves already written are kept, so a killed run goes on from the next one.

    python benchmarks/odds_budget.py curve ../shared/data/odds --models ae,memae \\
        --out benchmarks/results/odds_budget
    python benchmarks/odds_budget.py choose benchmarks/results/odds_budget
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from epoch_budget import fit_curve, rule_options

from memae.bench.budgets import rule
from memae.bench.common import make_detector
from memae.bench.tabular import ODDS_TRAINING
from memae.data.protocols import inlier_split
from memae.data.tabular import read_odds

SEED = 0  # the split whose training rows choose every seed's budget (as MNIST's digit 0 does)


def curves(data_dir: Path, models: list[str], out: Path) -> None:
    """Write the curve of each model on each table of ``data_dir`` that is not written yet."""
    for path in sorted(data_dir.glob("*.mat")):
        data = read_odds(path)
        train = data.X[inlier_split(data.y, SEED)[0]]
        for spec in models:
            target = out / spec / f"{data.name}.csv"
            if target.exists():
                continue
            auto = make_detector(spec, SEED, ODDS_TRAINING, "cpu").plan(train).epochs
            det = make_detector(spec, SEED, {**ODDS_TRAINING, "epochs": 2 * auto}, "cpu")
            fit_curve(det, train, target, ("train_loss", "val_loss"), seed=SEED, model=spec,
                      table=data.name, train_rows=len(train), auto_epochs=auto)  # fmt: skip
            print(f"{data.name} {spec}: auto {auto}, budget {budget_of(target)}", flush=True)


def budget_of(path: Path, within: float | None = None, smooth: int | None = None) -> int:
    with open(path, newline="") as f:
        losses = [float(r["train_loss"]) for r in csv.DictReader(f)]
    options = {k: v for k, v in (("within", within), ("smooth", smooth)) if v is not None}
    return rule(losses, **options)


def choose(out: Path, within: float, smooth: int) -> None:
    """Print the budgets of every curve under ``out``, one ``BUDGETS`` entry per table."""
    tables = sorted({p.stem for p in out.glob("*/*.csv")})
    for table in tables:
        mine = {
            p.parent.name: budget_of(p, within, smooth) for p in sorted(out.glob(f"*/{table}.csv"))
        }
        print(f'"odds-{table}": {mine},')


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("curve")
    c.add_argument("data_dir", type=Path)
    c.add_argument("--models", default="ae,memae", help="bench model specs (default: ae,memae)")
    c.add_argument("--out", type=Path, required=True)
    h = sub.add_parser("choose")
    h.add_argument("out", type=Path)
    rule_options(c, h)
    a = p.parse_args()
    if a.command == "curve":
        curves(a.data_dir, a.models.split(","), a.out)
    choose(a.out, a.within, a.smooth)


if __name__ == "__main__":
    main()
