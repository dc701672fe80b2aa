"""Figures as PNG files: ROC curves, image grids (reconstructions, memory slots), histograms."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import roc_auc_score, roc_curve  # noqa: E402

from .persist import atomic_write  # noqa: E402


def _save(fig: plt.Figure, path: str | os.PathLike) -> None:
    """The PNG appears whole or not at all."""
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=120, format="png"))
    finally:
        plt.close(fig)


def roc_curves(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | os.PathLike, title: str = "ROC"
) -> None:
    """``curves``: name -> (labels, scores)."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for name, (labels, scores) in curves.items():
        fpr, tpr, _ = roc_curve(labels, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, scores):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    _save(fig, path)


def _as_image(a: np.ndarray) -> np.ndarray:
    """(c, h, w) -> (h, w) or (h, w, 3) clipped to [0, 1] for imshow."""
    a = np.clip(a, 0.0, 1.0)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def _grid(
    cells: Sequence[Sequence[np.ndarray]],
    row_names: Sequence[str] | None,
    path: str | os.PathLike,
    title: str,
) -> None:
    n_rows, n_cols = len(cells), max(len(row) for row in cells)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(n_cols * 0.9 + 1, n_rows * 0.95 + 0.4), squeeze=False
    )
    for r, row in enumerate(cells):
        for c, ax in enumerate(axes[r]):
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
            if c < len(row):
                ax.imshow(_as_image(row[c]), cmap="gray", vmin=0, vmax=1)
        if row_names:
            axes[r, 0].set_ylabel(row_names[r], rotation=0, ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)


def image_rows(
    rows: Mapping[str, Sequence[np.ndarray]], path: str | os.PathLike, title: str = ""
) -> None:
    """One named row per entry, images (c, h, w) in [0, 1] (paper Fig. 4 style)."""
    _grid(list(rows.values()), list(rows), path, title)


def image_grid(
    images: np.ndarray, path: str | os.PathLike, columns: int = 10, title: str = ""
) -> None:
    """Images (n, c, h, w) in [0, 1] on a grid, e.g. every decoded memory slot (paper Fig. 3)."""
    cells = [list(images[i : i + columns]) for i in range(0, len(images), columns)]
    _grid(cells, None, path, title)


def score_histogram(
    scores: np.ndarray,
    labels: np.ndarray,
    path: str | os.PathLike,
    threshold: float | None = None,
    title: str = "scores",
) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bins = np.histogram_bin_edges(scores, bins=40)
    ax.hist(scores[labels == 0], bins=bins, alpha=0.6, label="normal")
    ax.hist(scores[labels == 1], bins=bins, alpha=0.6, label="anomalous")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label="threshold")
    ax.set(xlabel="anomaly score", ylabel="count", title=title)
    ax.legend()
    _save(fig, path)


def heatmaps(
    images: np.ndarray,
    maps: np.ndarray,
    masks: np.ndarray | None,
    path: str | os.PathLike,
    title: str = "",
) -> None:
    """Rows: image, error map over the image, ground-truth mask (if given); one column each."""
    n_rows = 3 if masks is not None else 2
    fig, axes = plt.subplots(
        n_rows, len(images), figsize=(1.6 * len(images), 1.7 * n_rows), squeeze=False
    )
    for i, image in enumerate(images):
        shown = _as_image(image)
        cmap = "gray" if shown.ndim == 2 else None
        axes[0, i].imshow(shown, cmap=cmap)
        axes[1, i].imshow(shown, cmap=cmap)
        axes[1, i].imshow(maps[i], cmap="jet", alpha=0.5)
        if masks is not None:
            axes[2, i].imshow(masks[i], cmap="gray", vmin=0, vmax=1)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for r, name in enumerate(["image", "error", "mask"][:n_rows]):
        axes[r, 0].set_ylabel(name, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    _save(fig, path)


def normality_curve(
    norm: np.ndarray, labels: np.ndarray | None, path: str | os.PathLike, title: str = ""
) -> None:
    """Paper Fig. 5: per-frame normality (Eq. 11), anomalous ground truth shaded."""
    fig, ax = plt.subplots(figsize=(7, 2.6))
    frames = np.arange(len(norm))
    if labels is not None:
        ax.fill_between(
            frames,
            0,
            1,
            where=np.asarray(labels) > 0,
            color="red",
            alpha=0.15,
            step="mid",
            label="anomalous (ground truth)",
        )
    ax.plot(frames, norm, color="C0", lw=1.2, label="normality")
    ax.set(xlabel="frame", ylabel="normality", ylim=(0, 1.02), xlim=(0, len(norm) - 1), title=title)
    ax.legend(loc="lower left", fontsize=7)
    _save(fig, path)
