"""The Ped2 `cpu` preset's epoch budget of each model (issue #37), chosen on training clips.

A model (``--model``: any bench model spec) with the settings of ``memae bench video --config
cpu`` (frames, clips, channels, memory, batch and learning rate) is trained on the clips of the
Ped2 training videos for ``--epochs``, and each epoch's training and validation loss (the
detector's 10% hold-out of those clips) is written. The budget is the rule of
``epoch_budget.py`` on the training loss: the first epoch whose running mean over ``--smooth``
epochs is within ``--within`` of that mean at the run's end. No test frame is scored: the choice
sees no test label. The training state is kept beside the CSV, so a killed run goes on from its
last epoch.

    python benchmarks/ped2_budget.py curve ../shared/data/ucsd_ped2 --model ae --epochs 40 \\
        --out benchmarks/results/ped2_budget/ae.csv
    python benchmarks/ped2_budget.py choose benchmarks/results/ped2_budget/ae.csv
"""

from __future__ import annotations

from pathlib import Path

from epoch_budget import choose, fit_curve
from mnist_budget import parser

from memae.bench.common import make_detector
from memae.bench.video import CONFIGS, _training, training_clips
from memae.data.video import load_video_dataset


def curve(
    data_dir: Path, model: str, epochs: int, seed: int, out: Path, names: tuple[str, str]
) -> None:
    """Train ``model`` on the clips of the training videos; write each epoch's losses."""
    cfg = CONFIGS["cpu"]
    train = training_clips(load_video_dataset(data_dir, cfg["size"]), cfg)
    det = make_detector(model, seed, {**_training(cfg), "epochs": epochs}, "cpu")
    fit_curve(det, train, out, names, seed=seed, model=model, train_clips=len(train))


def main() -> None:
    names = ("train_loss", "val_loss")
    args = parser(__doc__, "ae", "train_loss", names, 40, classes=False).parse_args()
    if args.command == "curve":
        curve(args.data_dir, args.model, args.epochs, args.seed, args.out, args.names)
    path = args.out if args.command == "curve" else args.csv
    choose(path, args.column, args.names[1], args.within, args.smooth)


if __name__ == "__main__":
    main()
