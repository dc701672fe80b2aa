"""Input scaling fitted on training data only and saved with the model.

``x_scaled = (x - offset) * scale``, with offset/scale broadcastable to one sample.
Modes: ``minmax`` (per feature to [0, 1]), ``global`` (one min and max for all values),
``standard`` (per feature, zero mean, unit variance), ``none``; ``auto`` is minmax for vectors
and global for images and clips (per-pixel scaling breaks on constant MNIST borders).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

MODES = ("auto", "minmax", "global", "standard", "none")


def resolve_mode(mode: str, sample_rank: int) -> str:
    if mode not in MODES:
        raise ValueError(f"scaling must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        return "minmax" if sample_rank == 1 else "global"
    return mode


def apply_scaling(x: Tensor, offset: Tensor, scale: Tensor) -> Tensor:
    """The one scaling formula: (x - offset) * scale."""
    return (x - offset) * scale


def range_warning(mode: str, lo: float, hi: float) -> str | None:
    """Scored data that the training data's scaling maps far outside, or into a sliver of,
    where the training data lay ([0, 1] for minmax and global, about [-3, 3] for standard)
    -> a sentence naming the likely cause; None when it looks like the training data."""
    if mode == "none":
        return None
    span = 1.0 if mode != "standard" else 6.0
    low, high = (0.0, 1.0) if mode != "standard" else (-3.0, 3.0)
    where = f"scaled by the training data's {mode} scaling to [{lo:.3g}, {hi:.3g}]"
    if lo < low - 10 * span or hi > high + 10 * span:
        return (
            f"the data lies far outside the training range ({where}, training: "
            f"[{low:g}, {high:g}]): is it in other units or scaled differently?"
        )
    if hi - lo < 0.02 * span:
        return (
            f"the data spans only {(hi - lo) / span:.2%} of the training range ({where}): is it "
            "in other units (e.g. trained on 0-255, scored on 0-1)?"
        )
    return None


class Scaler:
    def __init__(self, mode: str, offset: Tensor, scale: Tensor) -> None:
        self.mode = mode
        self.offset = offset
        self.scale = scale

    @classmethod
    def fit(cls, mode: str, batches: Iterable[Tensor], sample_shape: tuple[int, ...]) -> Scaler:
        """Stream over training batches (B, *sample_shape) once."""
        mode = resolve_mode(mode, len(sample_shape))
        lo = hi = total = sq = None
        n = 0
        for b in batches:
            b = b.double()
            if mode == "global":
                b = b.reshape(-1, 1)
            bmin, bmax = b.amin(0), b.amax(0)
            lo = bmin if lo is None else torch.minimum(lo, bmin)
            hi = bmax if hi is None else torch.maximum(hi, bmax)
            total = b.sum(0) if total is None else total + b.sum(0)
            sq = (b * b).sum(0) if sq is None else sq + (b * b).sum(0)
            n += b.shape[0]
        if lo is None:
            raise ValueError("cannot fit scaling on no data")
        if mode == "none":
            offset, scale = torch.zeros(1), torch.ones(1)
        elif mode == "standard":
            mean = total / n
            std = (sq / n - mean * mean).clamp_min(0).sqrt()
            offset, scale = mean, 1.0 / torch.where(std > 1e-12, std, torch.ones_like(std))
        else:
            span = hi - lo
            offset, scale = lo, 1.0 / torch.where(span > 1e-12, span, torch.ones_like(span))
        shape = (1,) * len(sample_shape) if offset.numel() == 1 else sample_shape
        return cls(mode, offset.float().reshape(shape), scale.float().reshape(shape))

    def __call__(self, x: Tensor) -> Tensor:
        return apply_scaling(x, self.offset.to(x.device), self.scale.to(x.device))

    def inverse(self, x: Tensor) -> Tensor:
        return x / self.scale.to(x.device) + self.offset.to(x.device)

    def state_dict(self) -> dict[str, Tensor]:
        return {"offset": self.offset.contiguous(), "scale": self.scale.contiguous()}
