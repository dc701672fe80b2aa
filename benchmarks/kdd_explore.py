"""KDDCUP99 diagnostics on exploratory splits (seeds outside the reported runs 0-19).

    python benchmarks/kdd_explore.py types [--seed 100]
        which attack types the top 20% of MemAE's test scores wrongly holds, and the median
        score of the big attack clusters, the rare attack types and the "normal." traffic
    python benchmarks/kdd_explore.py sweep '{"name": ["memae:mem_slots=200", {"epochs": 5}]}'
        [--seeds 100,101] [--dedup] [--protocol code] [--raw [--log1p]]: mean F1 of each (model
        spec, training overrides) over the seeds, on the preprocessed kdd_cup.npz (--dedup:
        trained on the distinct training rows; --protocol: the bench's --protocol; --raw: on the
        raw file instead, --log1p: with log(1 + x) of its 38 numeric columns before the model's
        min-max scaling)
    python benchmarks/kdd_explore.py scores [--seeds 100,101]: F1 of other score rules for the
        same trained MemAE: the error standardised per feature (by its spread on the training
        rows), the entropy of the memory addressing, and the rank sum of error and entropy

Both use the bench's own split, training settings and 20% flagging (memae.bench.tabular).
"""

from __future__ import annotations

import argparse
import gzip
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from memae.bench.common import fit_and_score
from memae.bench.tabular import KDD_TRAINING, kdd_run
from memae.data.protocols import kdd_split
from memae.data.tabular import LabelledTable, read_kddcup_npz, read_kddcup_raw
from memae.metrics import evaluate, top_fraction_threshold

DATA = Path("../shared/data/kddcup99")
BIG = ("smurf.", "neptune.")


def types(raw: Path, seed: int) -> None:
    data = read_kddcup_raw(raw)
    with gzip.open(raw, "rt") as fh:
        kind = np.array([line.rstrip().rsplit(",", 1)[-1] for line in fh if line.strip()])
    train, test = kdd_split(data.y, seed)
    _, scores, _ = fit_and_score("memae", seed, KDD_TRAINING, "cpu", data.X[train], data.X[test])
    flagged = scores > top_fraction_threshold(scores, 0.2)
    y, k = data.y[test], kind[test]
    print(
        f"flagged: {flagged.sum()}, of which 'normal.': {(flagged & (y == 1)).sum()} "
        f"of {(y == 1).sum()}"
    )
    print("attack records flagged, by type:", Counter(k[flagged & (y == 0)]).most_common())
    print("attack records in test, by type:", Counter(k[y == 0]).most_common())
    big, rare = np.isin(k, BIG), ~np.isin(k, BIG) & (y == 0)
    for name, m in (("smurf+neptune", big), ("rare attacks", rare), ("normal.", y == 1)):
        print(f"median score {name}: {np.median(scores[m]):.3g}")


def _f1(scores: np.ndarray, y: np.ndarray) -> float:
    return evaluate(scores, y, top_fraction_threshold(scores, 0.2)).f1


def _table(data_dir: Path, raw: bool, log1p: bool) -> LabelledTable:
    """The npz, or the raw file with (``log1p``) its numeric columns log-compressed."""
    if not raw:
        return read_kddcup_npz(data_dir / "kdd_cup.npz")
    data = read_kddcup_raw(data_dir / "kddcup.data_10_percent.gz")
    if log1p:  # counts and byte totals span up to 7 decades; one-hot columns hold "=" in names
        numeric = np.array(["=" not in c for c in data.columns])
        X = data.X.copy()
        X[:, numeric] = np.log1p(X[:, numeric])
        data = replace(data, X=X)
    return data


def sweep(
    data: LabelledTable, configs: dict[str, list], seeds: list[int], dedup: bool, protocol: str
) -> None:
    for name, (spec, overrides) in configs.items():
        f1 = []
        for seed in seeds:
            training = {**KDD_TRAINING, **overrides}
            if not dedup:  # the bench's own run of the protocol
                f1.append(kdd_run(protocol, spec, seed, training, "cpu", data)["f1"])
                continue
            train, test = kdd_split(data.y, seed)
            X = np.unique(data.X[train], axis=0)
            _, s, _ = fit_and_score(spec, seed, training, "cpu", X, data.X[test])
            f1.append(_f1(s, data.y[test]))
        print(f"{name:<24} F1 {np.mean(f1):.4f}  per seed {np.round(f1, 4).tolist()}", flush=True)


def scores(npz: Path, seeds: list[int]) -> None:
    data = read_kddcup_npz(npz)
    f1: dict[str, list[float]] = {}
    for seed in seeds:
        train, test = kdd_split(data.y, seed)
        det, plain, _ = fit_and_score(
            "memae", seed, KDD_TRAINING, "cpu", data.X[train], data.X[test]
        )
        spread = ((data.X[train] - det.reconstruct(data.X[train])) ** 2).std(0) + 1e-6
        w = det.addressing(data.X[test])  # (n, N)
        entropy = -(w * np.log(np.clip(w, 1e-12, None))).sum(1)
        y = data.y[test]
        used = (w > 0).sum(1)
        print(
            f"seed {seed}: non-zero addressing weights per query, 'normal.' records "
            f"{used[y == 1].mean():.1f}, attack records {used[y == 0].mean():.1f}"
        )
        rules = {
            "error (the bench's score)": plain,
            "error / per-feature spread": (
                (data.X[test] - det.reconstruct(data.X[test])) ** 2 / spread
            ).sum(1),
            "addressing entropy": entropy,
            "rank(error) + rank(entropy)": rankdata(plain) + rankdata(entropy),
        }
        for rule, s in rules.items():
            f1.setdefault(rule, []).append(_f1(s, y))
    for rule, values in f1.items():
        print(f"{rule:<30} F1 {np.mean(values):.4f}  per seed {np.round(values, 4).tolist()}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("what", choices=("types", "sweep", "scores"))
    p.add_argument("configs", nargs="?", default='{"memae": ["memae", {}]}')
    p.add_argument("--data-dir", type=Path, default=DATA)
    p.add_argument("--seed", type=int, default=100)
    p.add_argument("--seeds", default="100,101")
    p.add_argument("--dedup", action="store_true", help="sweep: train on distinct rows only")
    p.add_argument("--protocol", default="paper", choices=("paper", "code"), help="sweep")
    p.add_argument("--raw", action="store_true", help="sweep: the raw file, not the npz")
    p.add_argument("--log1p", action="store_true", help="sweep: log(1 + x) of numeric columns")
    a = p.parse_args()
    if a.dedup and a.protocol != "paper":
        p.error("--dedup runs the paper protocol only")
    if a.log1p and not a.raw:
        p.error("--log1p needs --raw (the npz is min-max scaled already)")
    seeds = [int(s) for s in a.seeds.split(",")]
    if a.what == "types":
        types(a.data_dir / "kddcup.data_10_percent.gz", a.seed)
    elif a.what == "scores":
        scores(a.data_dir / "kdd_cup.npz", seeds)
    else:
        data = _table(a.data_dir, a.raw, a.log1p)
        sweep(data, json.loads(a.configs), seeds, a.dedup, a.protocol)


if __name__ == "__main__":
    main()
