"""Attribute erasure for ARNet (Huang et al., 2019): transforms that remove an attribute
(orientation, colour) which the network must restore. Training pairs are (erased, original).

Names compose with ``+``, applied left to right: ``gray+rot90`` grays, then rotates by 90
degrees. Add a transform by adding it to ``ERASERS``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

Eraser = Callable[[Tensor], Tensor]  # (B, C, H, W) -> (B, C, H, W)


def rotate(quarters: int) -> Eraser:
    """Rotation by ``quarters`` x 90 degrees counter-clockwise in the image plane: the same
    permutation as ``torch.rot90``, written as flips and a transpose, which ONNX has."""
    q = quarters % 4

    def apply(x: Tensor) -> Tensor:
        h, w = x.dim() - 2, x.dim() - 1
        if q == 1:
            return x.flip(w).transpose(h, w)
        if q == 2:
            return x.flip(h).flip(w)
        if q == 3:
            return x.flip(h).transpose(h, w)
        return x

    return apply


def gray(x: Tensor) -> Tensor:
    """Channel mean copied to every channel (identity for grayscale)."""
    return x.mean(dim=1, keepdim=True).expand_as(x).contiguous()


def flip(dim: int) -> Eraser:
    return lambda x: torch.flip(x, dims=(dim,))


ERASERS: dict[str, Eraser] = {
    "rot0": lambda x: x,
    "rot90": rotate(1),
    "rot180": rotate(2),
    "rot270": rotate(3),
    "gray": gray,
    "hflip": flip(-1),
    "vflip": flip(-2),
}


def parse_eraser(name: str) -> Eraser:
    """``"gray+rot90"`` -> the composed transform."""
    parts = [p.strip() for p in name.split("+")]
    unknown = [p for p in parts if p not in ERASERS]
    if unknown or not parts:
        raise ValueError(f"unknown erasing transform {name!r}; parts: {', '.join(ERASERS)}")
    steps = [ERASERS[p] for p in parts]

    def apply(x: Tensor) -> Tensor:
        for step in steps:
            x = step(x)
        return x

    return apply


def default_erasers(input_shape: tuple[int, ...]) -> list[str]:
    """ARNet's set: the four rotations (only 0 and 180 for non-square images, where a quarter
    turn would change the shape), each after graying for colour images."""
    channels, height, width = input_shape
    rotations = ["rot0", "rot90", "rot180", "rot270"] if height == width else ["rot0", "rot180"]
    return [f"gray+{r}" for r in rotations] if channels > 1 else rotations
