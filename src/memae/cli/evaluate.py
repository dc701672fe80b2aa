"""`memae evaluate SCORES.csv --labels LABELS`: AUC, AP, precision/recall/F1; frame AUCs for
video frame scores."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..data.readers import read_labels
from ..errors import InputError
from ..metrics import check_binary_labels, evaluate, macro_auc, micro_auc, top_fraction_threshold
from ..persist import atomic_write_text
from .options import class_value, output


def register(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="scores + ground truth -> AUC, AP, precision/recall/F1",
        description="Compare a scores CSV with ground-truth labels (1 = anomaly, "
        "or any classes with --normal-class).",
    )
    p.add_argument("scores", metavar="SCORES.csv")
    p.add_argument(
        "--labels",
        required=True,
        metavar="LABELS",
        help=".npy/.npz/.csv/.txt/.mat/IDX file of labels, one per row",
    )
    p.add_argument("--label-column", help="column of a labels CSV (default: the first)")
    p.add_argument("--key", help="array name inside an .npz/.mat labels file")
    p.add_argument("--normal-class", metavar="K", help="labels equal to K are normal, others 1")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, help="flag scores above this value")
    g.add_argument("--top-fraction", type=float, help="flag the top share of scores (KDD: 0.2)")
    p.add_argument("--json", metavar="PATH", help="metrics JSON (default SCORES.metrics.json)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    json_path = Path(args.json) if args.json else Path(args.scores).with_suffix(".metrics.json")
    output(json_path, "--json", args.scores, args.labels)
    scores, predicted, videos = _read_scores(args.scores)
    truth = read_labels(args.labels, key=args.key, label_column=args.label_column)
    if len(truth) != len(scores):
        raise InputError(f"{len(scores)} scores but {len(truth)} labels in {args.labels}")
    if args.normal_class is not None:
        truth = (truth != class_value(truth, args.normal_class)).astype(int)
    if videos is not None:
        if args.threshold is not None or args.top_fraction is not None:
            raise InputError(
                f"{args.scores} holds per-video frame scores, evaluated by AUC of 1 - normality:"
                " --threshold and --top-fraction do not apply"
            )
        _evaluate_frames(scores, truth, videos, json_path)
        return
    threshold = args.threshold
    if args.top_fraction is not None:
        threshold = top_fraction_threshold(scores, args.top_fraction)
    flagged = predicted if threshold is None else None  # the model's own labels from `score`
    if threshold is None and flagged is None:
        raise InputError(f"{args.scores} has no label column: pass --threshold or --top-fraction")
    ev = evaluate(scores, truth, threshold, flagged)
    print(ev.table())
    atomic_write_text(json_path, json.dumps(ev.as_dict(), indent=2, allow_nan=False) + "\n")
    print(f"wrote {json_path}")


def _read_scores(path: str) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """-> (scores, the model's labels if the file has them, video names if it is a
    frame-scores file from a video model; its scores are then 1 - normality, Eq. 11)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scores {path}: {exc}") from None
    if not rows or "score" not in rows[0]:
        raise InputError(f"{path} is not a scores file: it needs a 'score' column and rows")
    frames = "video" in rows[0] and "normality" in rows[0]
    try:
        if frames:
            scores = np.array([1.0 - float(r["normality"]) for r in rows])
        else:
            scores = np.array([float(r["score"]) for r in rows])
        labels = np.array([int(r["label"]) for r in rows]) if "label" in rows[0] else None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: bad value in the score or label column ({exc})") from None
    if not np.isfinite(scores).all():
        column = "normality" if frames else "score"
        raise InputError(f"{path}: the {column} column holds NaN or infinite values")
    return scores, labels, [r["video"] for r in rows] if frames else None


def _evaluate_frames(
    scores: np.ndarray, truth: np.ndarray, videos: list[str], json_path: Path
) -> None:
    """Video frame scores: frame-level micro AUC (all frames, the paper's number) and macro AUC
    (mean over videos) of 1 - normality."""
    truth = check_binary_labels(truth)
    names, ids = np.unique(videos, return_inverse=True)
    lab = [truth[ids == i] for i in range(len(names))]
    sc = [scores[ids == i] for i in range(len(names))]
    result = {"frames": len(scores), "videos": len(names)}
    result |= {"micro_auc": micro_auc(lab, sc), "macro_auc": macro_auc(lab, sc)}
    print(f"frames {result['frames']} in {result['videos']} video(s)")
    print(f"micro AUC {result['micro_auc']:.4f}  macro AUC {result['macro_auc']:.4f}")
    atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
    print(f"wrote {json_path}")
