"""Writes anomaly-detection tables made from the datasets that ship inside scikit-learn, as
ODDS-style .mat files (X, y with 1 = anomaly), so `memae bench tabular --suite odds` runs on them.

A second suite beside ODDS, built offline, for choosing defaults that are not fitted to ODDS:
mostly small tables (60-360 rows), where the old defaults did worst. Each table takes one class
(or a group of classes) as normal and adds anomalies drawn from the other classes, 10% of the
normal count (at least 5), with a fixed draw (seed 0) independent of the bench's split seeds.

    python benchmarks/sklearn_tables.py --out runs/sklearn_tables
    memae bench tabular --suite odds --data-dir runs/sklearn_tables --out runs/sklearn_bench
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import scipy.io
from sklearn import datasets


def one_class_table(
    X: np.ndarray, y: np.ndarray, normal: list[int], share: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``normal`` classes, plus anomalies drawn from the others (``share`` of the
    normal count, at least 5) -> (X, labels with 1 = anomaly)."""
    rng = np.random.default_rng(0)
    is_normal = np.isin(y, normal)
    others = np.flatnonzero(~is_normal)
    k = min(len(others), max(5, round(share * is_normal.sum())))
    pick = np.r_[np.flatnonzero(is_normal), rng.choice(others, k, replace=False)]
    return X[pick].astype(np.float64), (~is_normal[pick]).astype(np.int64)


def tables() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    cancer = datasets.load_breast_cancer()
    out["sk_breast_cancer"] = one_class_table(cancer.data, cancer.target, [1])  # benign normal
    wine = datasets.load_wine()
    for c in range(3):
        out[f"sk_wine_{c}"] = one_class_table(wine.data, wine.target, [c])
    iris = datasets.load_iris()
    out["sk_iris_virginica"] = one_class_table(iris.data, iris.target, [0, 1])
    digits = datasets.load_digits()
    for d in range(10):
        out[f"sk_digits_{d}"] = one_class_table(digits.data, digits.target, [d])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (X, y) in tables().items():
        scipy.io.savemat(args.out / f"{name}.mat", {"X": X, "y": y[:, None]})
        print(f"{name}: {X.shape[0]} rows ({int(y.sum())} anomalies), {X.shape[1]} columns")


if __name__ == "__main__":
    main()
