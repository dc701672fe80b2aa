"""The epoch-budget curves of ``arnet_budget.py``, ``mnist_budget.py``, ``pixcnn_budget.py``,
``kdd_budget.py``, ``odds_budget.py`` and ``ped2_budget.py``, each fitted by ``fit_curve``: one
row per epoch of the detector's own history (``history_``), and the rule
(``memae.bench.budgets.rule``) that reads a budget off them: the first epoch whose loss, as a
running mean over ``smooth`` epochs (one epoch's loss jumps by 10% and more), is within ``within``
of that mean at the run's end: where more epochs stop paying."""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from csvout import write_rows

from memae.bench.budgets import SMOOTH, WITHIN
from memae.bench.budgets import rule as budget


def fit_curve(det: Any, train: Any, out: Path, names: tuple[str, str], **fixed) -> float | None:
    """Fit ``det`` on ``train`` and write its curve to ``out`` (``write_curve``). The training
    state is kept beside ``out`` after every epoch, so a killed run goes on from its last epoch
    when run again. Returns the fit's seconds (None for a resumed run, which timed a part)."""
    state = out.with_name(out.stem + ".train-state")
    resumed = state.exists()
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    det.fit(train, state_dir=state, resume=resumed)
    seconds = None if resumed else time.perf_counter() - start
    write_curve(out, det, names, seconds, **fixed)
    return seconds


def write_curve(
    out: Path, det: Any, names: tuple[str, str], seconds: float | None, **fixed
) -> None:
    """One row per epoch of the fitted ``det``: its training and validation loss under
    ``names``, the ``fixed`` columns, the threads, and the seconds per epoch (None: a resumed
    run, which timed only a part)."""
    history = det.history_
    rows = [
        {"epoch": e, names[0]: tl, names[1]: vl, **fixed, "threads": torch.get_num_threads(),
         "s_per_epoch": "" if seconds is None else seconds / len(history.train_loss)}
        for e, (tl, vl) in enumerate(zip(history.train_loss, history.val_loss, strict=True), 1)
    ]  # fmt: skip
    write_rows(out, rows)


def column(csv_path: Path, name: str) -> list[float]:
    """One loss column of the curve at ``csv_path``, epoch by epoch."""
    with open(csv_path, newline="") as f:
        return [float(r[name]) for r in csv.DictReader(f)]


def choose(csv_path: Path, name: str, val_column: str, within: float, smooth: int) -> None:
    """Print the budget that the curve at ``csv_path`` gives on its column ``name``."""
    losses, val = column(csv_path, name), column(csv_path, val_column)
    print(
        f"{len(losses)} epochs: the {smooth}-epoch mean {name} is within {within:.0%} of its end "
        f"value from epoch {budget(losses, within, smooth)}; lowest {val_column} at epoch "
        f"{int(np.argmin(val)) + 1} ({min(val):.4g})"
    )


def commands(
    doc: str, curve_input: str = "csv"
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    """A budget script's parser and its ``curve DATA_DIR --out OUT`` and ``choose
    CURVE_INPUT`` commands (each with the rule's options), for the script to add its own."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("curve")
    c.add_argument("data_dir", type=Path)
    c.add_argument("--out", type=Path, required=True)
    h = sub.add_parser("choose")
    h.add_argument(curve_input, type=Path)
    rule_options(c, h)
    return p, c, h


def rule_options(*parsers: argparse.ArgumentParser) -> None:
    for p in parsers:
        p.add_argument("--within", type=float, default=WITHIN)
        p.add_argument("--smooth", type=int, default=SMOOTH, help="epochs in the running mean")
