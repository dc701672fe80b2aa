"""Candidate tabular presets (encoder widths from the input width) on the ODDS suite.

    python benchmarks/odds_presets.py paper,wide,floors,current --models memae --seeds 0,1

Same split, epochs and training as `memae bench tabular --suite odds`; prints the mean ROC AUC
over the suite per preset and the per-dataset means. "current" is memae.models.mlp.auto_hidden
(chosen from "wide" after this comparison); "paper" is the preset it replaced.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from memae.bench.common import fit_and_score
from memae.bench.tabular import ODDS_TRAINING
from memae.data.protocols import inlier_split
from memae.data.tabular import read_odds
from memae.models.mlp import auto_hidden


def wide(d: int) -> tuple[int, ...]:
    """At least 64-32-16 wide, code d/4 below 160 columns (the memory is the bottleneck)."""
    code = max(2, round(d / 4)) if d < 160 else round(d / 40)
    return (max(64, round(d / 2)), max(32, round(d / 4)), max(16, code + 1), code)


def paper(d: int) -> tuple[int, ...]:
    """The paper's KDD proportions scaled to d: d/2-d/4-d/12-d/40 (120 -> 60-30-10-3)."""
    code = max(2, round(d / 40))
    h3 = max(code + 1, round(d / 12))
    h2 = max(h3, round(d / 4))
    return (max(h2, round(d / 2)), h2, h3, code)


def floors(d: int) -> tuple[int, ...]:
    """The paper proportions with layers at least 64-32-16 wide; code unchanged."""
    h = paper(d)
    return (max(64, h[0]), max(32, h[1]), max(16, h[2]), h[3])


PRESETS = {"current": auto_hidden, "paper": paper, "wide": wide, "floors": floors}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("presets", help=f"comma-separated, from {', '.join(PRESETS)}")
    p.add_argument("--models", default="memae")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--data-dir", type=Path, default=Path("../shared/data/odds"))
    a = p.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    files = sorted(a.data_dir.glob("*.mat"))
    for model in a.models.split(","):
        for name in a.presets.split(","):
            aucs, start = {}, time.time()
            for f in files:
                data = read_odds(f)
                hidden = list(PRESETS[name](data.X.shape[1]))
                res = []
                for seed in seeds:
                    tr, te = inlier_split(data.y, seed)
                    training = {**ODDS_TRAINING, "model_options": {"hidden": hidden}}
                    _, s, _ = fit_and_score(model, seed, training, "cpu", data.X[tr], data.X[te])
                    res.append(roc_auc_score(data.y[te] != 0, s))
                aucs[data.name] = float(np.mean(res))
            mean = np.mean(list(aucs.values()))
            print(f"{model} {name}: mean AUC {mean:.4f} ({time.time() - start:.0f} s)", flush=True)
            print("  " + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items()), flush=True)


if __name__ == "__main__":
    main()
