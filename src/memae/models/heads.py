"""Scoring heads: what a model scores besides its reconstruction. A head sees the input, the
code and the reconstruction of a batch and returns each sample's anomaly score (higher = more
anomalous) and the scalar it adds to the training loss; the model's output carries that score,
and the one scoring path (``memae.scoring.Scorer``) reports it instead of the reconstruction
error. Each head is one file (``dagmm.py``, ``dcn.py``), registered here with its settings."""

from __future__ import annotations

from torch import Tensor, nn

from .settings import Builders

# builder(settings, code width) -> Head
HEADS: Builders[Head] = Builders()
register_head = HEADS.register


class Head(nn.Module):
    """(x (B, *shape), code (B, C), reconstruction (B, *shape)) -> (score (B,), loss term)."""

    def forward(self, x: Tensor, z: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError
