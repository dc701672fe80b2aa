"""Scores + ground truth -> ROC AUC, average precision, precision/recall/F1 at a threshold."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score

from .errors import InputError


@dataclass
class Evaluation:
    n: int
    n_anomalies: int
    auc: float  # from raw scores, never from thresholded labels
    average_precision: float
    threshold: float | None  # None (JSON null) when the flags came with the scores
    precision: float  # of the anomaly class at the threshold
    recall: float
    f1: float

    def as_dict(self) -> dict[str, float | None]:
        return asdict(self)

    def table(self) -> str:
        def cell(v: object) -> str:
            if v is None:
                return "the model's labels"
            return f"{v:.4f}" if isinstance(v, float) else str(v)

        rows = [(k, cell(v)) for k, v in self.as_dict().items()]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def check_binary_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    values = np.unique(labels)
    if not set(values.tolist()) <= {0, 1}:
        raise InputError(
            f"labels must be 0 (normal) / 1 (anomaly); got {len(values)} distinct values "
            f"({', '.join(map(str, values[:5]))}...): pass the normal class to binarise them"
        )
    if len(values) < 2:
        raise InputError("labels hold a single class; AUC needs both normal and anomalous samples")
    return labels.astype(int)


def evaluate(
    scores: np.ndarray,
    labels: np.ndarray,
    threshold: float | None,
    flagged: np.ndarray | None = None,
) -> Evaluation:
    """Metrics of ``scores`` (higher = more anomalous) against 0/1 ``labels``. Flagged inputs
    are those scoring above ``threshold``, or the given 0/1 ``flagged`` (threshold then None)."""
    scores = np.asarray(scores, dtype=float)
    labels = check_binary_labels(labels)
    if scores.shape != labels.shape:
        raise InputError(f"{len(scores)} scores but {len(labels)} labels")
    if not np.isfinite(scores).all():
        raise InputError("scores contain NaN or infinite values")
    if flagged is None:
        flagged = (scores > threshold).astype(int)
    elif len(flagged) != len(scores):
        raise InputError(f"{len(scores)} scores but {len(flagged)} flags")
    p, r, f, _ = precision_recall_fscore_support(
        labels, flagged, average="binary", pos_label=1, zero_division=0
    )
    return Evaluation(
        n=len(labels),
        n_anomalies=int(labels.sum()),
        auc=float(roc_auc_score(labels, scores)),
        average_precision=float(average_precision_score(labels, scores)),
        threshold=None if threshold is None else float(threshold),
        precision=float(p),
        recall=float(r),
        f1=float(f),
    )


def top_fraction_threshold(scores: np.ndarray, fraction: float) -> float:
    """The threshold that flags the top ``fraction`` of scores (KDDCUP99 protocol: 0.2)."""
    if not 0 < fraction < 1:
        raise InputError(f"fraction must be in (0, 1), got {fraction}")
    return float(np.quantile(np.asarray(scores, dtype=float), 1 - fraction))


def micro_auc(labels: list[np.ndarray], scores: list[np.ndarray]) -> float:
    """AUC over all videos' frames concatenated (the paper's frame-level number)."""
    return float(roc_auc_score(np.concatenate(labels), np.concatenate(scores)))


def macro_auc(labels: list[np.ndarray], scores: list[np.ndarray]) -> float:
    """Mean of per-video AUCs, over videos holding both normal and anomalous frames."""
    aucs = [
        roc_auc_score(lab, sc)
        for lab, sc in zip(labels, scores, strict=True)
        if 0 < np.sum(lab) < len(lab)
    ]
    return float(np.mean(aucs)) if aucs else float("nan")
