"""Image detectors scored under several scoring rules: the residual smoothed by a Gaussian
(``error_sigma``) and the score averaged over the largest errors only (``error_top``).

    python benchmarks/error_sigma.py --protocol standard --classes 0,2,8 --epochs 10 \\
        --models "arnet:channels=[16,32,64]:lr_schedule=cosine" --sigmas 0,0.5,1,1.5,2 \\
        [--tops 1,0.05] [--keep runs/es_models] --out runs/error_sigma.csv

Each (model, class) is trained once, with ``memae bench image``'s MNIST settings and splits
(seed 0); the same trained network then scores the test set under each (sigma, top), so the
rows differ only in the scoring rule. ``--keep DIR`` saves each trained detector there and
reuses it on a later run. Writes one CSV row per (model, class, sigma, top) and prints the mean
AUROC over the classes per rule; ``score_s`` times each scoring pass side by side.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sklearn.metrics import roc_auc_score

from memae import MemAEDetector
from memae.bench.common import make_detector, slug
from memae.bench.image import ImageBench, tasks
from memae.cli.options import str_list  # the CLI's --models parsing: commas inside [] stay


def kept_fit(
    spec: str, seed: int, training: dict, train: Any, keep: Path | None, name: str | None = None
) -> MemAEDetector:
    """A detector of ``spec`` fitted on ``train``: the one saved as ``keep/name`` (default
    ``<spec>_s<seed>``) where there is one, else a fresh fit, saved there when ``keep`` is given."""
    saved = keep / (name or f"{slug(spec)}_s{seed}") if keep else None
    if saved and (saved / "config.json").exists():
        return MemAEDetector.load(saved, device="cpu")
    det = make_detector(spec, seed, training, "cpu")
    det.fit(train)
    if saved:
        det.save(saved)
    return det


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--protocol", default="paper", choices=["paper", "standard"])
    p.add_argument("--classes", default="8")
    p.add_argument("--models", type=str_list, default=["memae:lr_schedule=cosine"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--sigmas", default="0,0.5,1,1.5,2")
    p.add_argument("--tops", default="1", help="fractions of positions averaged (error_top)")
    p.add_argument("--keep", type=Path, help="folder to save trained detectors in and reuse")
    p.add_argument("--out", type=Path, required=True, help="CSV of protocol,model,...,auc")
    a = p.parse_args()
    bench = ImageBench(
        "mnist",
        Path(a.data_dir),
        a.out.parent,
        protocol=a.protocol,
        classes=[int(c) for c in a.classes.split(",")],
        epochs=a.epochs,
    )
    rules = [(float(s), float(t)) for s in a.sigmas.split(",") for t in a.tops.split(",")]
    rows, means = [], defaultdict(list)
    for task in tasks(bench):
        for spec in a.models:
            name = f"{a.protocol}_{slug(spec)}_e{bench.training()['epochs']}_c{task.cls}"
            det = kept_fit(spec, task.seed, bench.training(), task.split.train, a.keep, name)
            for sigma, top in rules:
                start = time.perf_counter()
                det.set_params(error_sigma=sigma, error_top=top)
                scores = det.decision_function(task.split.test)
                score_s = time.perf_counter() - start
                auc = roc_auc_score(task.split.test_labels, scores)
                rows.append(
                    [a.protocol, spec, task.cls, sigma, top, f"{auc:.6f}", f"{score_s:.2f}"]
                )
                means[spec, sigma, top].append(auc)
                print(f"{spec} class {task.cls} sigma {sigma:g} top {top:g}: {auc:.4f}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as f:
        header = ["protocol", "model", "class", "sigma", "top", "auc", "score_s"]
        csv.writer(f).writerows([header, *rows])
    for (spec, sigma, top), aucs in means.items():
        mean = sum(aucs) / len(aucs)
        print(f"{spec} sigma {sigma:g} top {top:g}: mean {mean:.4f} over {len(aucs)} scorings")


if __name__ == "__main__":
    main()
