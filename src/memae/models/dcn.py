"""DCN (Yang et al., ICML 2017): an autoencoder whose codes are clustered by k-means as it
trains; the distance of a sample's code to the nearest centre is its anomaly score.

Training adds ``kmeans_weight`` x the mean squared distance of each code to its centre (per code
unit), which pulls the codes into clusters; the centres are updated after each batch as the
paper's online k-means does (each centre the running mean of the codes assigned to it, step
1 / its count) and are seeded by k-means++ on the first training batch. They are buffers, saved
with the model. Unlike the paper, there is no pre-training of the autoencoder before the
centres are seeded.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .heads import Head, register_head


def kmeans_pp(z: Tensor, k: int) -> Tensor:
    """k rows of ``z`` (B, C) picked by k-means++ (torch's global random state)."""
    centres = [z[torch.randint(len(z), (1,))[0]]]
    for _ in range(1, k):
        d2 = torch.cdist(z, torch.stack(centres)).pow(2).min(1).values  # (B,)
        centres.append(z[torch.multinomial(d2 + 1e-12, 1)[0]])  # all equal: uniform
    return torch.stack(centres)


class KMeansHead(Head):
    def __init__(self, code_width: int, clusters: int, kmeans_weight: float) -> None:
        super().__init__()
        self.kmeans_weight = kmeans_weight
        self.register_buffer("centres", torch.zeros(clusters, code_width))
        self.register_buffer("counts", torch.zeros(clusters))
        self.register_buffer("seeded", torch.zeros((), dtype=torch.bool))

    def forward(self, x: Tensor, z: Tensor, x_hat: Tensor) -> tuple[Tensor, Tensor]:
        z = z.flatten(1).float()  # (B, C)
        if self.training and not bool(self.seeded):
            self._seed(z.detach())
        # a copy: the centres move after this batch, before its backward pass
        d2 = torch.cdist(z, self.centres.clone()).pow(2)  # (B, K)
        nearest, assigned = d2.min(1)
        score = nearest.clamp_min(0).sqrt()
        if not self.training:
            return score, z.new_zeros(())
        self._update(z.detach(), assigned)
        return score, self.kmeans_weight * nearest.mean() / z.shape[1]

    @torch.no_grad()
    def _seed(self, z: Tensor) -> None:
        self.centres.copy_(kmeans_pp(z, len(self.centres)))
        self.seeded.fill_(True)

    @torch.no_grad()
    def _update(self, z: Tensor, assigned: Tensor) -> None:
        k = len(self.centres)
        n = torch.bincount(assigned, minlength=k).to(z.dtype)  # (K,)
        sums = torch.zeros_like(self.centres).index_add_(0, assigned, z)
        self.counts += n
        step = (n / self.counts.clamp_min(1))[:, None]  # 0 for a centre no code chose
        means = sums / n.clamp_min(1)[:, None]
        self.centres += step * (means - self.centres)


@register_head("kmeans", clusters=4, kmeans_weight=0.1)
def _kmeans(s: dict[str, Any], width: int) -> KMeansHead:
    return KMeansHead(width, int(s["clusters"]), float(s["kmeans_weight"]))
