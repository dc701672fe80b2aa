"""ARNet (Huang et al., 2019): a restoring model is trained on (erased input, original) pairs
and scored on every erased view of an input, each view's error weighted (``view_weights``)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..erasure import default_erasers, parse_eraser

# the restoration settings create_model takes, with their defaults
RESTORE_DEFAULTS = {
    "erasers": None,  # names from memae.erasure; None -> ARNet's set for restoring variants
    "normalize_views": False,  # divide each view's error by its mean on the training data
}


def eraser_names(names: list[str] | None, restore: bool, shape: tuple[int, ...]) -> list[str]:
    """The erasers of a model: the given names, or ARNet's set for a restoring variant."""
    if names is None and restore:
        names = default_erasers(shape)
    names = list(names or [])
    for name in names:
        parse_eraser(name)  # raises ValueError naming an unknown transform
    if names and len(shape) != 3:
        raise ValueError("attribute erasure works on images (c, h, w)")
    return names


class Restoration:
    """The erasers of one model: training pairs and test-time views."""

    def __init__(self, names: list[str], normalize_views: bool = False) -> None:
        self.names = list(names)
        self.erasers = [parse_eraser(n) for n in self.names]
        self.normalize_views = normalize_views

    def training_pair(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(x with one eraser per sample drawn at random from ``generator``, x)."""
        pick = torch.randint(len(self.erasers), (x.shape[0],), generator=generator)
        pick = pick.to(x.device)
        erased = x.clone()
        for i, erase in enumerate(self.erasers):
            rows = pick == i
            if rows.any():
                erased[rows] = erase(x[rows])
        return erased, x

    def views(self, x: Tensor) -> list[Tensor]:
        return [erase(x) for erase in self.erasers]
