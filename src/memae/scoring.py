"""Reconstruction error -> per-sample anomaly scores and per-position error maps."""

from __future__ import annotations

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
