"""The memory of MNAD (Park et al., CVPR 2020, "Learning Memory-guided Normality for Anomaly
Detection"), as a bottleneck beside MemAE's.

Queries q (one per feature-map position, L2-normalised over channels) read N unit-norm items p:

    w_m  = softmax_m(q . p_m)                 read weights, over the items
    p^   = sum_m w_m p_m                      the read item
    z^   = fuse([q, p^])                      the query and its item, concatenated (2C -> C)

The decoder sees the query itself beside the read item, so the memory adds normal patterns
instead of replacing the code. The auxiliary loss is compact_weight * L_compact +
separate_weight * L_separate:

    L_compact  = mean ||q - p_1||^2                            p_1: the item nearest q
    L_separate = mean max(||q - p_1||^2 - ||q - p_2||^2 + margin, 0)   p_2: the second nearest

Items are not learned by gradient: after each training forward, item m moves to
normalise(p_m + sum_k v'_km q_k) over the queries k whose nearest item it is, v' being the
softmax over those queries of q_k . p_m divided by its largest value (the paper's update).
The paper also updates items while testing; here scoring never changes the model.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .bottlenecks import Bottleneck, register_bottleneck


class MNADMemory(nn.Module):
    """N unit-norm items, read by softmax over q . p and moved by the queries they are nearest."""

    def __init__(self, num_slots: int, dim: int) -> None:
        super().__init__()
        if num_slots < 2 or dim < 1:
            raise ValueError(f"MNAD's memory needs >= 2 items and dim >= 1, got {num_slots}, {dim}")
        self.num_slots, self.dim = num_slots, dim
        self.register_buffer("items", F.normalize(torch.randn(num_slots, dim), dim=1))

    def forward(self, q: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Unit queries (Q, C) -> read items (Q, C), weights (Q, N), similarities (Q, N)."""
        sim = q @ self.items.t()
        w = torch.softmax(sim, dim=1)
        return w @ self.items, w, sim

    @torch.no_grad()
    def update(self, q: Tensor, sim: Tensor) -> None:
        """The paper's update from one batch of unit queries (Q, C) and their similarities."""
        mine = F.one_hot(sim.argmax(1), self.num_slots).bool()  # (Q, N): query k's nearest
        v = torch.softmax(sim, dim=0).masked_fill(~mine, 0.0)  # over queries, per item
        v = v / v.max(0, keepdim=True).values.clamp_min(1e-12)
        # a new tensor, not in place: this forward's graph still holds the old items
        self.items = F.normalize(self.items + v.t() @ q, dim=1)

    def extra_repr(self) -> str:
        return f"num_slots={self.num_slots}, dim={self.dim}"


class MNADBottleneck(Bottleneck):
    """The read [q, p^] fused back to C channels, with the compactness and separateness terms."""

    def __init__(
        self, num_slots: int, dim: int, compact_weight: float, separate_weight: float, margin: float
    ) -> None:
        super().__init__()
        self.memory = MNADMemory(num_slots, dim)
        self.fuse = nn.Linear(2 * dim, dim)
        self.compact_weight, self.separate_weight = compact_weight, separate_weight
        self.margin = margin

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        """z: (B, C[, *S]) -> (B, C[, *S]), read weights (B, N[, *S]), auxiliary loss."""
        dim, last = self.memory.dim, z.dim() - 1  # a positive axis: ONNX mishandles -1 here
        q = F.normalize(z.movedim(1, last).reshape(-1, dim).float(), dim=1)  # (Q, C)
        read, w, sim = self.memory(q)
        fused = self.fuse(torch.cat([q, read], dim=1))  # (Q, C)
        aux = fused.new_zeros(())
        if self.training:
            top2 = sim.topk(2, dim=1).indices  # (Q, 2): the nearest and second nearest items
            items = self.memory.items
            d1 = (q - items[top2[:, 0]]).pow(2).sum(1)
            d2 = (q - items[top2[:, 1]]).pow(2).sum(1)
            aux = self.compact_weight * d1.mean()
            aux = aux + self.separate_weight * F.relu(d1 - d2 + self.margin).mean()
            self.memory.update(q.detach(), sim.detach())
        spatial = z.shape[2:]
        out = fused.reshape(z.shape[0], *spatial, dim).movedim(last, 1).to(z.dtype)
        weights = w.reshape(z.shape[0], *spatial, self.memory.num_slots).movedim(last, 1)
        return out, weights, aux

    def decode_slots(self, spatial: tuple[int, ...] = ()) -> Tensor:
        """Each item alone as the decoder's input, fuse([p, p]): (N, C[, *S])."""
        items = self.memory.items
        code = self.fuse(torch.cat([items, items], dim=1)).detach()
        if not spatial:
            return code
        return code.reshape(*code.shape, *([1] * len(spatial))).expand(-1, -1, *spatial)


@register_bottleneck("mnad", mnad_items=10, compact_weight=0.1, separate_weight=0.1, margin=1.0)
def _mnad(s: dict[str, Any], width: int, paper_slots: int, numel: int, pos: int) -> Bottleneck:
    """The paper's 10 items and loss weights 0.1 / 0.1 (its released defaults), margin 1."""
    return MNADBottleneck(
        int(s["mnad_items"]),
        width,
        float(s["compact_weight"]),
        float(s["separate_weight"]),
        float(s["margin"]),
    )
