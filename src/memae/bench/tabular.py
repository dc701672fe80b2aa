"""``memae bench tabular``: MemAE Table 3 on KDDCUP99 and an ODDS benchmark suite.

KDDCUP99 (DAGMM protocol): attacks are the normal class, "normal." records the anomalies;
random 50/50 split; train on the normal class of the first half; flag the top 20% of the
second half's scores; precision / recall / F1 of the anomaly class and ROC AUC, per run.
``protocol="code"`` follows the widely copied public DAGMM code instead (see KDD_PROTOCOLS).
ODDS: every ``.mat`` file of the folder; train on 60% of the inliers, test on the rest and all
outliers; ROC AUC per seed. Rows go to ``OUT/results.csv`` as they finish; reruns skip them.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from ..data.protocols import inlier_split, kdd_split
from ..data.tabular import LabelledTable, read_kddcup_npz, read_kddcup_raw, read_odds
from ..errors import InputError
from ..metrics import evaluate, top_fraction_threshold
from ..models.mlp import PAPER_KDD_HIDDEN
from ..persist import atomic_write_text
from .baselines import PYOD_REFERENCES, pyod_available
from .budgets import budgets, odds_budgets
from .common import budget_note, fit_and_score, parse_model, training_overrides, with_budget
from .results import ResultsTable, mean_std, memory_markdown, ordered_models, stamp, whole_fits
from .runner import Job, run_jobs

log = logging.getLogger(__name__)

KDD_MODELS = ("ocsvm", "ae", "memae-nonspar", "memae")
ODDS_MODELS = ("ae", "memae")
KDD_FILES = {"raw": "kddcup.data_10_percent.gz", "npz": "kdd_cup.npz"}
KDD_PROTOCOLS = {
    "paper": "DAGMM/MemAE papers: attacks are the normal class; random 50/50 split of all rows "
    "per run (seed = run); train on the normal class of the first half; flag the top 20% of "
    "the second half's scores",
    "code": "the widely copied public DAGMM code (danieltan07/dagmm), which many published "
    "KDDCUP99 figures use: attacks are the normal class; train on a random half of them "
    "(seed = run); test on the other half and every 'normal.' record; flag test scores above "
    "the 80th percentile of the training and test scores together",
}
# The paper's KDD net (FC 120-60-30-10-3, tanh, N = 50 slots). The paper gives no epochs or
# batch size for this table. Short training detects better here: longer training fits the two
# huge attack clusters (smurf, neptune) ever closer while the rare attack types (~2% of the
# normal class) keep high errors and fill the top 20%. 3 epochs were chosen on exploratory
# splits (seeds 100, 101), not on the reported runs 0-19: F1 0.73 / 0.94 / 0.94 / 0.92-0.94 /
# 0.86 for 1 / 2 / 3 / 5 / 10 epochs. Since #37 that choice, made with labels, is only the
# epochs of a model without its own budget (BUDGETS["kddcup99"], chosen on training loss).
KDD_TRAINING: dict[str, Any] = {
    "epochs": 3,
    "lr": 1e-3,
    "batch_size": 1024,
    "validation_fraction": 0.1,
    "model_options": {"hidden": list(PAPER_KDD_HIDDEN)},
}
# ODDS epochs: "auto", the mlp family's budget (memae.fitting.AUTO_TRAINING: about 300,000
# samples seen, 10 to 200 epochs), resolved once, by the detector, on its own training rows
ODDS_TRAINING: dict[str, Any] = {
    "epochs": "auto",
    "lr": 1e-3,
    "batch_size": 128,
    "validation_fraction": 0.1,
}


@dataclass
class TabularBench:
    data_dir: Path
    out: Path
    dataset: str | None = None  # "kddcup99"
    suite: str | None = None  # "odds"
    models: list[str] | None = None
    runs: int = 20
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    sources: list[str] = field(default_factory=lambda: ["raw", "npz"])
    protocol: str = "paper"  # KDD only: a key of KDD_PROTOCOLS
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    device: str = "auto"
    command: str = ""

    def check(self) -> None:
        if (self.dataset is None) == (self.suite is None):
            raise InputError("give either --dataset kddcup99 or --suite odds")
        if self.dataset not in (None, "kddcup99"):
            raise InputError(f"unknown tabular dataset {self.dataset!r}; use kddcup99")
        if self.suite not in (None, "odds"):
            raise InputError(f"unknown suite {self.suite!r}; use odds")
        if not self.data_dir.is_dir():
            raise InputError(f"data folder {self.data_dir} does not exist")
        bad = sorted(set(self.sources) - set(KDD_FILES))
        if bad:
            raise InputError(f"unknown KDD source(s) {bad}; use raw, npz")
        if self.protocol not in KDD_PROTOCOLS:
            raise InputError(f"unknown protocol {self.protocol!r}; use {', '.join(KDD_PROTOCOLS)}")
        if self.suite and self.protocol != "paper":
            raise InputError("--protocol applies to KDDCUP99, not to the ODDS suite")
        if self.runs < 1 or not self.seeds:
            raise InputError("give at least one run / seed")
        for spec in self.model_list():
            parse_model(spec)

    def model_list(self) -> list[str]:
        if self.models:
            return list(self.models)
        base = list(KDD_MODELS if self.dataset else ODDS_MODELS)
        return base + (list(PYOD_REFERENCES) if pyod_available() else [])

    def training(self, base: dict[str, Any]) -> dict[str, Any]:
        return training_overrides(base, self)


def run(bench: TabularBench) -> ResultsTable:
    bench.check()
    bench.out.mkdir(parents=True, exist_ok=True)
    return _run_kdd(bench) if bench.dataset else _run_odds(bench)


def kdd_table(path: Path) -> ResultsTable:
    """The KDDCUP99 bench's resumable results table at ``path`` (one row per model and run)."""
    return ResultsTable(
        path,
        ("dataset", "protocol", "source", "model", "run"),
        defaults={"protocol": "paper"},  # tables written before the column existed
    )


def _run_kdd(bench: TabularBench) -> ResultsTable:
    table = kdd_table(bench.out / "results.csv")
    models, training = bench.model_list(), bench.training(KDD_TRAINING)
    cache: dict[str, LabelledTable] = {}

    def load(source: str) -> LabelledTable:  # read only when a row of the source is missing
        if source not in cache:
            path = bench.data_dir / KDD_FILES[source]
            cache.clear()
            cache[source] = read_kddcup_raw(path) if source == "raw" else read_kddcup_npz(path)
        return cache[source]

    def jobs() -> Iterator[Job]:
        for source in bench.sources:
            for run_id in range(bench.runs):
                for spec in models:
                    key = {
                        "dataset": "kddcup99",
                        "protocol": bench.protocol,
                        "source": source,
                        "model": spec,
                        "run": run_id,
                    }
                    context = (bench.protocol, run_id, lambda s=source: load(s))
                    data = partial(_kdd_data, *context)
                    mine = with_budget(training, budgets("kddcup99"), spec, bench.epochs)
                    yield Job(key, spec, run_id, mine, bench.device, data, context)

    total = len(bench.sources) * bench.runs * len(models)
    run_jobs(table, jobs(), _kdd_row, desc="bench kddcup99", total=total)
    _kdd_markdown(bench, table, models, training)
    return table


def _kdd_split(protocol: str, run_id: int, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if protocol == "paper":
        return kdd_split(y, seed=run_id)
    return inlier_split(y, seed=run_id, train_share=0.5)  # "code": half the normal class trains


def _kdd_data(protocol: str, run_id: int, load: Any) -> tuple[np.ndarray, np.ndarray]:
    data = load()
    train, test = _kdd_split(protocol, run_id, data.y)
    return data.X[train], data.X[test]


def _kdd_row(job: Job, det: Any, scores: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
    protocol, run_id, load = job.context
    data = load()
    train, test = _kdd_split(protocol, run_id, data.y)
    return kdd_row(protocol, det, scores, info, data, train, test)


def kdd_run(
    protocol: str,
    spec: str,
    run_id: int,
    training: dict[str, Any],
    device: str,
    data: LabelledTable,
) -> dict[str, Any]:
    """One run of ``protocol``: split, fit on the training rows, flag, evaluate -> row fields."""
    train, test = _kdd_split(protocol, run_id, data.y)
    det, scores, info = fit_and_score(spec, run_id, training, device, data.X[train], data.X[test])
    return kdd_row(protocol, det, scores, info, data, train, test)


def kdd_row(
    protocol: str,
    det: Any,
    scores: np.ndarray,
    info: dict[str, Any],
    data: LabelledTable,
    train: np.ndarray,
    test: np.ndarray,
) -> dict[str, Any]:
    """Flag the top 20% (of the test scores, or under ``code`` of the training and test scores
    together) and evaluate -> row fields."""
    pool = scores
    if protocol == "code":  # the threshold also sees the training rows' scores
        start = time.perf_counter()
        pool = np.concatenate([np.asarray(det.decision_function(data.X[train]), float), scores])
        info["score_s"] += time.perf_counter() - start
    ev = evaluate(scores, data.y[test], top_fraction_threshold(pool, 0.2))
    return {
        "precision": ev.precision,
        "recall": ev.recall,
        "f1": ev.f1,
        "auc": ev.auc,
        "n_train": len(train),
        "n_test": len(test),
        "width": data.X.shape[1],
        **info,
    }


def _kdd_markdown(
    bench: TabularBench, table: ResultsTable, models: list[str], training: dict[str, Any]
) -> None:
    settings = {
        "dataset": "KDD Cup 1999, 10% file (494,021 rows; 97,278 'normal.' = anomalies)",
        "protocol": f"{bench.protocol}: {KDD_PROTOCOLS[bench.protocol]}; precision/recall/F1 "
        "of the anomaly class; AUC of raw test scores",
        "sources": "raw = the raw file one-hot encoded here (118 columns); npz = the DAGMM "
        "preprocessed kdd_cup.npz (118 columns); min-max scaling fitted on training "
        "rows; OC-SVM on 10,000 training rows drawn at random (kernel cost)",
        "deep training": training,
        "epochs per model": budget_note(budgets("kddcup99"), bench.epochs),
        "command": f"`{bench.command}`" if bench.command else "(library call)",
    }
    text = stamp("memae bench tabular: KDDCUP99", settings)
    models = ordered_models(table.rows, models)  # earlier runs with other --models too
    for source in ("npz", "raw"):
        rows = table.select(dataset="kddcup99", protocol=bench.protocol, source=source)
        if not rows:
            continue
        text += f"\n## {source}: mean ± std over runs\n\n"
        text += "| model | precision | recall | F1 | AUC | runs | fit+score s/run (whole fits) |\n"
        text += "|---|---|---|---|---|---|---|\n"
        for spec in models:
            mine = [r for r in rows if r["model"] == spec]
            if not mine:
                continue
            cells = [
                mean_std([float(r[m]) for r in mine]) for m in ("precision", "recall", "f1", "auc")
            ]
            timed = [float(r["fit_s"]) + float(r["score_s"]) for r in whole_fits(mine)]
            secs = f"{statistics.mean(timed):.1f}" if timed else "-"
            text += f"| {spec} | " + " | ".join(cells) + f" | {len(mine)} | {secs} |\n"
        text += memory_markdown(rows, models)
    atomic_write_text(bench.out / "results.md", text)


def _run_odds(bench: TabularBench) -> ResultsTable:
    files = sorted(bench.data_dir.glob("*.mat"))
    if not files:
        raise InputError(f"{bench.data_dir} holds no ODDS .mat files")
    table = ResultsTable(bench.out / "results.csv", ("dataset", "model", "seed"))
    models, training = bench.model_list(), bench.training(ODDS_TRAINING)
    names: list[str] = []

    def jobs() -> Iterator[Job]:
        for path in files:
            data = read_odds(path)
            names.append(data.name)
            for seed in bench.seeds:
                train, test = inlier_split(data.y, seed)
                for spec in models:
                    key = {"dataset": data.name, "model": spec, "seed": seed}
                    split = (data.X[train], data.X[test])
                    mine = with_budget(training, odds_budgets(data.name), spec, bench.epochs)
                    yield Job(key, spec, seed, mine, bench.device, lambda s=split: s, data.y[test])

    total = len(files) * len(bench.seeds) * len(models)
    run_jobs(table, jobs(), _odds_row, desc="bench odds", total=total)
    _odds_markdown(bench, table, models, names)
    return table


def _odds_row(job: Job, det: Any, scores: np.ndarray, info: dict[str, Any]) -> dict[str, Any]:
    labels = job.context
    return {
        "auc": roc_auc_score(labels, scores),
        "ap": average_precision_score(labels, scores),
        "n_train": len(job.data()[0]),
        "n_test": len(labels),
        "n_outliers": int(labels.sum()),
        "width": job.data()[0].shape[1],
        **info,
    }


def _odds_markdown(
    bench: TabularBench, table: ResultsTable, models: list[str], names: list[str]
) -> None:
    settings = {
        "suite": f"ODDS, {len(names)} files of {bench.data_dir}",
        "protocol": "train on 60% of the inliers (random, per seed), test on the other 40% "
        "and all outliers; ROC AUC of raw scores; mean over seeds",
        "seeds": ", ".join(map(str, bench.seeds)),
        "deep training": {
            **bench.training(ODDS_TRAINING),
            "epochs": "each model's own on each table (BUDGETS['odds-<table>'] of "
            "memae.bench.budgets, chosen on seed 0's training rows); without one, auto: the mlp "
            "budget of memae.fitting.AUTO_TRAINING, 300,000 / the training rows (held-out rows "
            "not counted), clipped to [10, 200]"
            if bench.epochs is None
            else bench.epochs,
            "network": "tabular preset (memae.models.mlp.auto_hidden): at least 64-32-16, "
            "code d/4 in [2, 32], tanh, N = 50",
        },
        "command": f"`{bench.command}`" if bench.command else "(library call)",
    }
    text = stamp("memae bench tabular: ODDS suite", settings)
    models = ordered_models(table.rows, models)
    text += "\n## ROC AUC (mean over seeds)\n\n"
    text += "| dataset | " + " | ".join(models) + " |\n|---|" + "---|" * len(models) + "\n"
    means: dict[str, list[float]] = {m: [] for m in models}
    for name in names:
        cells = []
        for spec in models:
            vals = [float(r["auc"]) for r in table.select(dataset=name, model=spec)]
            if vals:
                means[spec].append(statistics.mean(vals))
            cells.append(f"{statistics.mean(vals):.4f}" if vals else "")
        best = max((c for c in cells if c), default="")
        text += f"| {name} | " + " | ".join(f"**{c}**" if c == best else c for c in cells) + " |\n"
    complete = [m for m in models if len(means[m]) == len(names)]
    text += (
        "| **mean** | "
        + " | ".join(
            f"**{statistics.mean(means[m]):.4f}**" if m in complete else "(incomplete)"
            for m in models
        )
        + " |\n"
    )
    atomic_write_text(bench.out / "results.md", text)


Bench = TabularBench  # what `memae bench tabular` builds from its arguments
