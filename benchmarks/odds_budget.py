"""The ODDS suite's epoch budget of each model on each table (issue #37), chosen on training rows.

For every ODDS table of the folder, each model (``--models``: model names) with the ODDS
settings of ``memae bench tabular`` (the tabular preset net, batch 128, lr 1e-3) is trained on
seed 0's training split (60% of the inliers: no test row, no outlier) for twice the epochs that
the preset's ``auto`` gives it on that table, and each epoch's training and validation loss
(the detector's 10% hold-out of those rows) is written to ``OUT/<model>/<table>.csv``. The
budget is the rule of ``epoch_budget.py`` on the training loss; ``choose`` prints every table's
as the entries of ``memae.bench.budgets.ODDS_BUDGETS`` (by table), which serve every seed. No
row is scored and no outlier is seen (seed 0's training rows are partly other seeds' test
inliers, as MNIST's digit-0 split is for its other runs). Curves already written are kept, so a
killed run goes on from the next one.

    python benchmarks/odds_budget.py curve ../shared/data/odds --models ae,memae \\
        --out benchmarks/results/odds_budget
    python benchmarks/odds_budget.py choose benchmarks/results/odds_budget
"""

from __future__ import annotations

from pathlib import Path

from epoch_budget import column, commands, fit_curve

from memae.bench.budgets import rule
from memae.bench.common import make_detector, parse_model
from memae.bench.tabular import ODDS_TRAINING
from memae.data.protocols import inlier_split
from memae.data.tabular import read_odds

SEED = 0  # the split whose training rows choose every seed's budget (as MNIST's digit 0 does)


def curves(data_dir: Path, models: list[str], out: Path, within: float, smooth: int) -> None:
    """Write the curve of each model on each table of ``data_dir`` that is not written yet."""
    if any(parse_model(m)[1] for m in models):
        raise SystemExit("give model names without options: a budget belongs to a model")
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
            budget = rule(column(target, "train_loss"), within, smooth)
            print(f"{data.name} {spec}: auto {auto}, budget {budget}", flush=True)


def choose(out: Path, within: float, smooth: int) -> None:
    """Print the budgets of every curve under ``out``, one ``ODDS_BUDGETS`` entry per table."""
    for table in sorted({p.stem for p in out.glob("*/*.csv")}):
        mine = [
            f'"{p.parent.name}": {rule(column(p, "train_loss"), within, smooth)}'
            for p in sorted(out.glob(f"*/{table}.csv"))
        ]
        print(f'"{table}": {{{", ".join(mine)}}},')


def main() -> None:
    p, c, _ = commands(__doc__, "out")
    c.add_argument("--models", default="ae,memae", help="model names (default: ae,memae)")
    a = p.parse_args()
    if a.command == "curve":
        curves(a.data_dir, a.models.split(","), a.out, a.within, a.smooth)
    choose(a.out, a.within, a.smooth)


if __name__ == "__main__":
    main()
