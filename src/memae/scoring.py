"""Reconstruction error -> per-sample anomaly scores and per-position error maps."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def squared_error(x: Tensor, x_hat: Tensor, sigma: float = 0.0) -> Tensor:
    """Element-wise squared error, (B, *sample_shape).

    ``sigma`` > 0 (images and clips): the residual ``x_hat - x`` is first smoothed by a Gaussian
    of that many pixels over height and width, so a stroke drawn a pixel off (a + and a - side
    by side) counts less than one missing or added (an area of one sign)."""
    residual = x_hat - x
    if sigma > 0:
        residual = gaussian_smooth(residual, sigma)
    return residual**2


def gaussian_smooth(t: Tensor, sigma: float) -> Tensor:
    """Gaussian blur of the last two axes (height, width) of ``t``, zero padding, same shape."""
    radius = max(1, round(3 * sigma))
    k = torch.exp(-(torch.arange(-radius, radius + 1, device=t.device) ** 2) / (2 * sigma**2))
    k = (k / k.sum()).to(t.dtype)
    flat = t.reshape(-1, 1, *t.shape[-2:])  # (B*, 1, H, W)
    flat = F.conv2d(flat, k.view(1, 1, -1, 1), padding=(radius, 0))
    flat = F.conv2d(flat, k.view(1, 1, 1, -1), padding=(0, radius))
    return flat.reshape(t.shape)


def sample_scores(err: Tensor, top: float = 1.0) -> Tensor:
    """(B, *sample_shape) -> (B,): mean squared error per sample (higher = more anomalous).

    ``top`` < 1 averages only that fraction of the positions with the largest errors (at least
    one): pixels of images, (frame, pixel) positions of clips, each the mean over channels;
    features of vectors. A small anomaly then is not diluted by a well-reconstructed rest."""
    if top >= 1:
        return err.flatten(1).mean(1)
    per_position = (error_maps(err) if err.dim() >= 4 else err).flatten(1)  # (B, positions)
    k = max(1, math.ceil(top * per_position.shape[1]))
    return per_position.topk(k, dim=1).values.mean(1)


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
