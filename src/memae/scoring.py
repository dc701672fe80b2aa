"""Reconstruction error -> per-sample anomaly scores and per-position error maps."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


def squared_error(x: Tensor, x_hat: Tensor) -> Tensor:
    """Element-wise squared error, (B, *sample_shape)."""
    return (x_hat - x) ** 2


def sample_scores(err: Tensor) -> Tensor:
    """(B, *sample_shape) -> (B,): mean squared error per sample (higher = more anomalous)."""
    return err.flatten(1).mean(1)


def error_maps(err: Tensor) -> Tensor:
    """Images (B, c, h, w) -> (B, h, w); clips (B, c, t, h, w) -> (B, t, h, w): channel mean."""
    if err.dim() < 4:
        raise ValueError("error maps exist for images and clips only")
    return err.mean(1)


def quantile_threshold(scores: Tensor | list[float], quantile: float) -> float:
    """The ``quantile`` of scores: inputs scoring above it are flagged."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    return float(torch.quantile(s, quantile))


def clip_starts(n_frames: int, clip_len: int, stride: int) -> list[int]:
    """Start frames of the clips of a video: 0, stride, ... and always the last full clip."""
    if n_frames < clip_len:
        raise ValueError(f"a video of {n_frames} frames is shorter than a clip ({clip_len})")
    starts = list(range(0, n_frames - clip_len + 1, stride))
    if starts[-1] != n_frames - clip_len:
        starts.append(n_frames - clip_len)
    return starts


def frame_scores(
    clip_scores: np.ndarray, starts: list[int], n_frames: int, clip_len: int
) -> np.ndarray:
    """Clip scores -> one score per frame. A clip's score belongs to its centre frame
    (start + clip_len // 2: frame i + 8 for 16-frame clips, as in the authors' code); frames
    between centres are interpolated linearly, and the first and last frames, which are no
    clip's centre, take the score of the nearest centre. Labels stay aligned frame for frame."""
    centres = np.asarray(starts) + clip_len // 2
    return np.interp(np.arange(n_frames), centres, np.asarray(clip_scores, dtype=float))


def normality(scores: np.ndarray) -> np.ndarray:
    """Eq. 11 per video: p = 1 - (e - min e) / (max e - min e); a constant video is all 1."""
    e = np.asarray(scores, dtype=float)
    span = e.max() - e.min()
    return np.ones_like(e) if span <= 0 else 1.0 - (e - e.min()) / span
