"""Image detectors scored with a plain and with a Gaussian-smoothed residual (``error_sigma``).

    python benchmarks/error_sigma.py --protocol standard --classes 0,2,8 --epochs 10 \\
        --models "arnet:channels=[16,32,64]:lr_schedule=cosine" --sigmas 0,0.5,1,1.5,2 \\
        --out runs/error_sigma.csv

Each (model, class) is trained once, with ``memae bench image``'s MNIST settings and splits
(seed 0); the same trained network then scores the test set under each sigma, so the rows
differ only in the scoring rule. Writes one CSV row per (model, class, sigma) and prints the
mean AUROC over the classes per sigma; ``score_s`` times each scoring pass side by side.
"""

from __future__ import annotations

import argparse
import csv
import time
from collections import defaultdict
from pathlib import Path

from sklearn.metrics import roc_auc_score

from memae.bench.common import make_detector
from memae.bench.image import ImageBench, tasks
from memae.cli import _str_list  # the CLI's --models parsing: commas inside [] stay


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--data-dir", default="../shared/data/mnist")
    p.add_argument("--protocol", default="paper", choices=["paper", "standard"])
    p.add_argument("--classes", default="8")
    p.add_argument("--models", type=_str_list, default=["memae:lr_schedule=cosine"])
    p.add_argument("--epochs", type=int)
    p.add_argument("--sigmas", default="0,0.5,1,1.5,2")
    p.add_argument("--out", type=Path, required=True, help="CSV of dataset,protocol,...,auc")
    a = p.parse_args()
    bench = ImageBench(
        "mnist",
        Path(a.data_dir),
        a.out.parent,
        protocol=a.protocol,
        classes=[int(c) for c in a.classes.split(",")],
        epochs=a.epochs,
    )
    sigmas = [float(s) for s in a.sigmas.split(",")]
    rows, means = [], defaultdict(list)
    for task in tasks(bench):
        for spec in a.models:
            det = make_detector(spec, task.seed, bench.training(), "cpu").fit(task.split.train)
            for sigma in sigmas:
                start = time.perf_counter()
                scores = det.set_params(error_sigma=sigma).decision_function(task.split.test)
                score_s = time.perf_counter() - start
                auc = roc_auc_score(task.split.test_labels, scores)
                rows.append([a.protocol, spec, task.cls, sigma, f"{auc:.6f}", f"{score_s:.2f}"])
                means[spec, sigma].append(auc)
                print(f"{spec} class {task.cls} sigma {sigma:g}: {auc:.4f}", flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "w", newline="") as f:
        csv.writer(f).writerows([["protocol", "model", "class", "sigma", "auc", "score_s"], *rows])
    for (spec, sigma), aucs in means.items():
        print(f"{spec} sigma {sigma:g}: mean {sum(aucs) / len(aucs):.4f} over {len(aucs)} scorings")


if __name__ == "__main__":
    main()
