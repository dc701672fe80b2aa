"""Reconstruction error -> per-sample anomaly scores and per-position error maps.

``Scorer`` is the one scoring path: every score memae reports (``decision_function``, video
streaming, the benches, the demo, the PyOD wrapper) is its output. A raw batch in the
training data's units goes in; the per-sample score, the error it was taken from and the
model's output come out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import InputError
from .models import Autoencoder, ModelOutput
from .preprocessing import Scaler, apply_scaling, range_warning

log = logging.getLogger(__name__)


@dataclass
class ScoreOutput:
    """score: (B,), higher = more anomalous; error: (B, *sample_shape) squared error (view
    weighted mean); model: the model's output for the first view (addressing weights)."""

    score: Tensor
    error: Tensor
    model: ModelOutput
    input_range: Tensor  # (2,): the smallest and largest scaled input value of the batch

    @property
    def error_map(self) -> Tensor:
        """(B, h, w) images, (B, t, h, w) clips: the error's channel mean."""
        return error_maps(self.error)


class Scorer(nn.Module):
    """raw x -> scale -> views (ARNet's erasers; x itself otherwise) -> model -> residual,
    smoothed by ``sigma`` -> squared -> views averaged with the model's ``view_weights`` ->
    per-sample score, the mean of the ``top`` fraction of the largest errors; or, for a model
    that scores itself (DAGMM, DCN, DSEBM: ``ModelOutput.score``), that score."""

    def __init__(self, net: Autoencoder, scaler: Scaler, sigma: float = 0.0, top: float = 1.0):
        super().__init__()
        self.net = net
        self.register_buffer("offset", scaler.offset.detach().clone())
        self.register_buffer("scale", scaler.scale.detach().clone())
        self.sigma = float(sigma)
        self.top = float(top)

    def view_errors(self, x: Tensor) -> tuple[Tensor, ModelOutput, Tensor]:
        """raw (B, *shape) -> the unweighted squared error of each view (V, B, *shape), the
        model's output for the first view, and the scaled input's (min, max)."""
        scaled = apply_scaling(x, self.offset, self.scale)
        outs = [self.net(v) for v in self.net.views(scaled)]
        target = self.net.target(scaled)  # (B, *shape), a predictor's: the predicted frames
        errs = torch.stack([squared_error(target, o.reconstruction, self.sigma) for o in outs])
        return errs, outs[0], torch.stack([scaled.min(), scaled.max()])

    def forward(self, x: Tensor) -> ScoreOutput:
        errs, out, input_range = self.view_errors(x)  # (V, B, *shape)
        if self.net.restoration is None:  # one view: the input itself
            err = errs[0]  # (B, *shape)
        else:
            w = self.net.view_weights.reshape(-1, *([1] * x.dim()))
            err = (errs * w).mean(0)  # (B, *shape)
        score = sample_scores(err, self.top) if out.score is None else out.score.float()
        return ScoreOutput(score, err, out, input_range)


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


def checked_scores(scores: np.ndarray, ranges: list[Any] | None, mode: str) -> np.ndarray:
    """The scores, refused when not finite; with the batches' scaled input ranges ((lo, hi)
    each), a warning when the data is unlike the training data's range."""
    if ranges:
        lo = min(float(r[0]) for r in ranges)
        hi = max(float(r[1]) for r in ranges)
        message = range_warning(mode, lo, hi)
        if message:
            log.warning(message)
    if not np.isfinite(scores).all():
        raise InputError("scores are not finite: the data is far outside the training range")
    return scores


def quantile_threshold(scores: Tensor | list[float], quantile: float) -> float:
    """The ``quantile`` of scores: inputs scoring above it are flagged."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    return float(torch.quantile(s, quantile))


def normality(scores: np.ndarray) -> np.ndarray:
    """Eq. 11 per video: p = 1 - (e - min e) / (max e - min e); a constant video is all 1."""
    e = np.asarray(scores, dtype=float)
    span = e.max() - e.min()
    return np.ones_like(e) if span <= 0 else 1.0 - (e - e.min()) / span
