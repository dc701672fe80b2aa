"""Tabular benchmark data: KDD Cup 1999 (raw file and the DAGMM npz) and ODDS .mat files.

KDD Cup 1999 raw rows have 41 features and a label ending in '.'. The three symbolic features
(protocol_type: 3 values, service: 66, flag: 11 in the 10% file) are one-hot encoded and the 38
numeric ones kept as they are: 3 + 66 + 11 + 38 = 118 columns, the same width as the common
preprocessed ``kdd_cup.npz``. Scaling (min-max) belongs to the model, fitted on training rows.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .readers import read_data

KDD_SYMBOLIC = {1: "protocol_type", 2: "service", 3: "flag"}
KDD_FIELDS = 42  # 41 features + label


@dataclass
class LabelledTable:
    """X (n, d) float64 and y (n,) with 1 = anomaly under the dataset's protocol."""

    name: str
    X: np.ndarray
    y: np.ndarray
    columns: list[str]


def read_kddcup_raw(path: str | Path) -> LabelledTable:
    """The raw 10% file; y = 1 for "normal." records (the minority, anomalous under the DAGMM
    and MemAE protocol, where the attacks are the normal class)."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="ascii") as fh:
            rows = [line.rstrip("\n").split(",") for line in fh if line.strip()]
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read KDD Cup file {path}: {exc}") from None
    if not rows:
        raise InputError(f"{path} is empty")
    bad = next((i for i, r in enumerate(rows) if len(r) != KDD_FIELDS), None)
    if bad is not None:
        raise InputError(f"{path}: line {bad + 1} has {len(rows[bad])} fields, not {KDD_FIELDS}")
    cols = list(zip(*rows, strict=True))
    blocks, names = [], []
    for i in range(KDD_FIELDS - 1):
        if i in KDD_SYMBOLIC:
            values = np.array(cols[i])
            cats = sorted(set(cols[i]))
            blocks.append((values[:, None] == np.array(cats)[None]).astype(np.float64))
            names += [f"{KDD_SYMBOLIC[i]}={c}" for c in cats]
        else:
            try:
                blocks.append(np.array(cols[i], dtype=np.float64)[:, None])
            except ValueError:
                raise InputError(f"{path}: column {i + 1} is not numeric") from None
            names.append(f"f{i + 1}")
    y = (np.array(cols[-1]) == "normal.").astype(int)
    return LabelledTable("kddcup99", np.hstack(blocks), y, names)


def read_kddcup_npz(path: str | Path) -> LabelledTable:
    """``kdd_cup.npz`` (key ``kdd``): 118 features, last column 1 = original "normal."."""
    loaded = read_data(path, key="kdd")
    data = np.asarray(loaded.X, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] < 2:
        raise InputError(f"{path}: expected a 2-D 'kdd' array with a label column")
    return LabelledTable(
        "kddcup99-npz",
        data[:, :-1],
        data[:, -1].astype(int),
        [f"x{i}" for i in range(data.shape[1] - 1)],
    )


def read_odds(path: str | Path) -> LabelledTable:
    """An ODDS .mat file (v5 or v7.3): X (n, d), y (n,) with 1 = outlier."""
    loaded = read_data(path)
    if loaded.y is None:
        raise InputError(f"{path} has no labels 'y'")
    X = np.asarray(loaded.X, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(loaded.y):
        raise InputError(f"{path}: X {X.shape} does not match y {loaded.y.shape}")
    return LabelledTable(
        Path(path).stem, X, loaded.y.astype(int), [f"x{i}" for i in range(X.shape[1])]
    )
