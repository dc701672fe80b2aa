"""Each model's image score chosen on a validation category, then measured on the test one
(issue #37, item 2: the settings the diagnosis points to).

    python benchmarks/colour_sets.py digits /tmp/colour/digits_val0 --validation
    python benchmarks/colour_scoring.py /tmp/colour/digits_val0 /tmp/colour/digits \\
        --image-size 64x64 --models ae,memae,memae-local:memory_on=location --seeds 0,1,2 \\
        --keep runs/cs_digits --out benchmarks/results/colour_scoring/digits.csv

The MVTec bench scores an image by the mean of its squared error (``error_top=1``), so a mark
on a few percent of the pixels is averaged with everything the model blurs. Here each model
(seed by seed, with its own MVTec epoch budget and the bench's training) is fitted once on
``train/good``, which the validation and the test category share (the script refuses two
categories whose ``train/good`` differ). Its validation images are scored under every rule of
the grid: the residual smoothed by a Gaussian (``error_sigma``) and the image score averaged
over the largest errors only (``error_top``). The rule with the highest validation image AUROC,
mean over the seeds, is that model's; only that rule scores the test images (image and pixel
AUROC). No test image is scored under any other rule. ``--keep DIR`` saves each fitted detector
and reuses it on a later run. Writes one CSV row per (model, seed, split, rule), whole or not at
all, after each model; rows of models not in ``--models`` stay. ``--summary`` prints the table
of an ``--out`` CSV.
"""

from __future__ import annotations

import argparse
import csv
import io
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from error_sigma import kept_fit
from sklearn.metrics import roc_auc_score

from memae import MemAEDetector
from memae.bench.budgets import budgets
from memae.bench.common import with_budget
from memae.bench.image import TRAINING
from memae.cli.options import str_list  # the CLI's --models parsing: commas inside [] stay
from memae.data.mvtec import load_mvtec
from memae.persist import atomic_write_text

HEADER = ["model", "seed", "split", "sigma", "top", "auc", "pixel_auc", "epochs"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("validation", type=Path, help="validation category (MVTec layout)")
    p.add_argument("test", type=Path, help="test category with the same train/good")
    p.add_argument("--image-size", default="128x128")
    p.add_argument("--models", type=str_list, default=["ae", "memae"])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--sigmas", default="0,1,2,4")
    p.add_argument("--tops", default="1,0.1,0.03,0.01", help="fractions of positions averaged")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--keep", type=Path, help="folder to save fitted detectors in and reuse")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--summary", action="store_true", help="print the table of --out and stop")
    a = p.parse_args()
    if a.summary:
        return summary(a.out)
    torch.set_num_threads(a.threads)
    size = tuple(int(v) for v in a.image_size.split("x"))
    val, test = load_mvtec(a.validation, size), load_mvtec(a.test, size)
    if val.train.shape != test.train.shape or not np.array_equal(val.train, test.train):
        raise SystemExit(f"{a.validation} and {a.test} do not share train/good")
    train = val.train.astype(np.float32) / 255.0
    rules = [(float(s), float(t)) for s in a.sigmas.split(",") for t in a.tops.split(",")]
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = _other_models(a.out, a.models)
    for spec in a.models:
        training = with_budget(TRAINING["mvtec"], budgets("mvtec"), spec, None)
        fitted = {seed: kept_fit(spec, seed, training, train, a.keep) for seed in seeds}
        by_rule = defaultdict(list)
        for seed, det in fitted.items():
            for sigma, top in rules:
                det.set_params(error_sigma=sigma, error_top=top)
                auc = _auc(det, val)[0]
                by_rule[sigma, top].append(auc)
                rows.append([spec, seed, "validation", sigma, top, f"{auc:.6f}", "", _epochs(det)])
        sigma, top = max(rules, key=lambda r: np.mean(by_rule[r]))  # the first of equals
        print(f"{spec}: chose sigma {sigma:g} top {top:g} "
              f"(validation {np.mean(by_rule[sigma, top]):.4f})", flush=True)  # fmt: skip
        for seed, det in fitted.items():
            det.set_params(error_sigma=sigma, error_top=top)
            auc, pixel = _auc(det, test, pixels=True)
            scores = [f"{auc:.6f}", f"{pixel:.6f}"]
            rows.append([spec, seed, "test", sigma, top, *scores, _epochs(det)])
            print(f"{spec} seed {seed} test: image {auc:.4f} pixel {pixel:.4f}", flush=True)
        _write(a.out, rows)


def summary(path: Path) -> None:
    """Markdown rows of ``path``: each model's rule, its validation and test AUROCs."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    head = ["model", "rule (sigma, top)", "validation image AUROC", "test image AUROC",
            "test pixel AUROC", "per seed (test image)", "epochs"]  # fmt: skip
    print(f"| {' | '.join(head)} |\n|{'---|' * len(head)}")
    for spec in dict.fromkeys(r["model"] for r in rows):
        test = [r for r in rows if r["model"] == spec and r["split"] == "test"]
        rule = (test[0]["sigma"], test[0]["top"])
        val = [float(r["auc"]) for r in rows if r["model"] == spec and r["split"] == "validation"
               and (r["sigma"], r["top"]) == rule]  # fmt: skip
        image, pixel = ([float(r[k]) for r in test] for k in ("auc", "pixel_auc"))
        print(f"| {spec} | {float(rule[0]):g}, {float(rule[1]):g} | {np.mean(val):.4f} | "
              f"{_mean_std(image)} | {_mean_std(pixel)} | "
              f"{' / '.join(f'{v:.4f}' for v in image)} | {test[0]['epochs']} |")  # fmt: skip


def _mean_std(values: list[float]) -> str:
    return f"{np.mean(values):.4f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.4f}"


def _auc(det: MemAEDetector, cat, pixels: bool = False) -> tuple[float, float]:
    """Image AUROC of ``det`` on the category's test images (and pixel AUROC on its masks)."""
    scores, maps = det.score_maps(cat.test.astype(np.float32) / 255.0)
    image = roc_auc_score(cat.labels, scores)
    pixel = roc_auc_score(cat.masks.reshape(-1), maps.reshape(-1)) if pixels else float("nan")
    return float(image), float(pixel)


def _epochs(det: MemAEDetector) -> int:
    return det.schedule_.epochs if hasattr(det, "schedule_") else det.epochs


def _other_models(out: Path, models: list[str]) -> list[list]:
    """The rows already in ``out`` of models this run does not fit."""
    if not out.exists():
        return []
    with open(out, newline="") as f:
        return [r for r in csv.reader(f) if r != HEADER and r[0] not in models]


def _write(out: Path, rows: list[list]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([HEADER, *rows])
    atomic_write_text(out, text.getvalue())


if __name__ == "__main__":
    main()
