"""MemAEDetector() with its defaults against the demo's explicit settings (60 epochs, batch 32,
lr 1e-3) and the landed defaults (50 epochs, batch 64, lr 1e-4), one-class on each digit of the
embedded MNIST sample (paper protocol split, seed 0): do the conv2d `auto` rules hold?

    python benchmarks/image_defaults.py --out benchmarks/results/image_defaults.csv
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from memae import MemAEDetector
from memae.data.protocols import one_class_split
from memae.data.sample import load_mnist_sample

SETTINGS = {
    "defaults": {},
    "demo": {"epochs": 60, "batch_size": 32, "lr": 1e-3},
    "landed defaults": {"epochs": 50, "batch_size": 64, "lr": 1e-4},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    args = ap.parse_args()
    images, labels = load_mnist_sample()
    X = images.astype(np.float32) / 255.0
    done = set()
    if args.out.exists():
        with open(args.out, newline="") as fh:
            done = {(r["digit"], r["settings"]) for r in csv.DictReader(fh)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    new = not args.out.exists()
    with open(args.out, "a", newline="") as fh:
        writer = csv.writer(fh)
        if new:
            writer.writerow(["digit", "settings", "auc", "epochs", "batch_size", "lr", "fit_s"])
        for digit in (int(d) for d in args.digits.split(",")):
            split = one_class_split(X, labels, digit, seed=0)
            for name, settings in SETTINGS.items():
                if (str(digit), name) in done:
                    continue
                start = time.perf_counter()
                det = MemAEDetector(random_state=0, **settings).fit(split.train)
                fit_s = time.perf_counter() - start
                auc = roc_auc_score(split.test_labels, det.decision_function(split.test))
                s = det.schedule_
                writer.writerow(
                    [digit, name, f"{auc:.6f}", s.epochs, s.batch_size, s.lr, f"{fit_s:.1f}"]
                )
                fh.flush()
                print(digit, name, f"{auc:.4f}", s, f"{fit_s:.0f}s", flush=True)


if __name__ == "__main__":
    main()
