"""The memory module of MemAE (Gong et al., ICCV 2019, Sec. 3.3).

A query z (a C-vector) addresses N learnable slots m_i:

    d_i  = sim(z, m_i)                        dot product, or cosine / temperature
    w    = softmax(d)                         Eq. 4
    w'_i = relu(w_i - lam) * w_i / (|w_i - lam| + eps)      hard shrinkage, Eq. 7
    w'   = w' / ||w'||_1                      an all-zero row stays zero
    z^   = w' M                               Eq. 3

The entropy sum_i -w'_i log w'_i is the auxiliary loss of Eq. 10. A flat encoding (B, C) is one
query per sample; a feature map (B, C, *S) is one query per location. Optionally (``reseed``,
off by default: not in the paper), slots that no training query took as its largest weight for
``reseed`` batches are replaced by queries of the last of them, as vector-quantisation libraries
replace dead codes. Addressing runs in fp32
under mixed precision (the eps are below fp16's resolution). This file imports nothing else
from the package.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

SIMILARITIES = ("dot", "cosine", "scaled_dot")
# the memory's defaults, declared here once: the bottlenecks' settings and the estimator's
# parameter help take them from these
TEMPERATURE = 0.1  # divides the cosine similarity
ENTROPY_WEIGHT = 2e-4  # alpha of Eq. 10
SHRINK_RANGE = (0.0, 1.0)  # lam of Eq. 7: 0 <= lam < 1 (a weight is at most 1)


@dataclass
class MemoryRead:
    """What the memory returns: the read-out (same shape as the query) and the weights.

    ``weights`` has the slots on axis 1: (B, N) for a flat query, (B, N, *S) for a feature map.
    """

    output: Tensor
    weights: Tensor


def hard_shrink(w: Tensor, threshold: float, eps: float = 1e-12) -> Tensor:
    """Eq. 7: zero every weight below ``threshold``, keep the others (continuous ReLU form)."""
    shifted = w - threshold
    return F.relu(shifted) * w / (shifted.abs() + eps)


def l1_normalize(w: Tensor, dim: int = -1, eps: float = 1e-12) -> Tensor:
    """Rows divided by their L1 norm; an all-zero row stays all zero (never NaN)."""
    return w / w.abs().sum(dim=dim, keepdim=True).clamp_min(eps)


def addressing_entropy(weights: Tensor, dim: int = 1) -> Tensor:
    """Mean over queries of sum_i -w_i log w_i (0 log 0 taken as 0)."""
    ent = -(weights * torch.log(weights.clamp_min(1e-12))).sum(dim=dim)
    return ent.mean()


def _full_precision(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off inside (addressing in fp32 always), where it is on."""
    if device_type != "meta" and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return contextlib.nullcontext()


class Memory(nn.Module):
    """N x C memory addressed by similarity, with hard shrinkage and L1 renormalisation.

    Args:
        num_slots: N, the number of prototype vectors.
        dim: C, the query dimension (channels of a feature map, or the flat encoding width).
        shrink_threshold: lam of Eq. 7; 0 disables shrinkage (then no renormalisation either).
        similarity: ``"dot"`` (the authors' released code), ``"cosine"`` (the paper, Eq. 5), or
            ``"scaled_dot"``: the dot product over sqrt(C), as attention scales it, so that a
            wide code does not make the softmax one-hot from the start.
        temperature: divides the cosine similarity; without it |d| <= 1 and the softmax is
            nearly uniform over large memories. Ignored for ``"dot"``.
        reseed: every this many training batches, each slot that no query of those batches
            took as its largest weight becomes a random query of the last one, before the next
            batch is addressed (0: never). Its counts and replacements are buffers, so under
            DistributedDataParallel (which broadcasts buffers before each forward) every rank
            replaces the slots that rank 0's queries left dead by rank 0's picks.
    """

    def __init__(
        self,
        num_slots: int,
        dim: int,
        shrink_threshold: float = 0.0025,
        similarity: str = "dot",
        temperature: float = TEMPERATURE,
        reseed: int = 0,
    ) -> None:
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {similarity!r}")
        if num_slots < 1 or dim < 1:
            raise ValueError(f"memory needs num_slots >= 1 and dim >= 1, got {num_slots}, {dim}")
        if not SHRINK_RANGE[0] <= shrink_threshold < SHRINK_RANGE[1]:
            raise ValueError(f"shrink_threshold must be in [0, 1), got {shrink_threshold}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if reseed < 0:
            raise ValueError(f"reseed must be >= 0 batches, got {reseed}")
        self.num_slots = num_slots
        self.dim = dim
        self.shrink_threshold = shrink_threshold
        self.similarity = similarity
        self.temperature = temperature
        bound = 1.0 / math.sqrt(dim)  # the released code's init, like a linear layer's weight
        self.weight = nn.Parameter(torch.empty(num_slots, dim).uniform_(-bound, bound))
        self.reseed = reseed
        if reseed:  # top-1 hits since the last re-seeding, training batches seen, and the
            # replacements due before the next batch (the weight cannot change under its own
            # backward): buffers, so that a resumed training state re-seeds as the run would
            self.register_buffer("hits", torch.zeros(num_slots))
            self.register_buffer("batches", torch.zeros((), dtype=torch.long))
            self.register_buffer("pending", torch.zeros(num_slots, dim))
            self.register_buffer("due", torch.zeros(num_slots, dtype=torch.bool))

    def address(self, queries: Tensor, items: Tensor | None = None) -> Tensor:
        """(..., Q, C) queries -> (..., Q, N) addressing weights after shrinkage and
        renormalisation; ``items`` (..., N, C): the slots addressed (this memory's by default)."""
        items = self.weight if items is None else items
        if self.similarity == "dot":
            logits = queries @ items.transpose(-1, -2)
        elif self.similarity == "scaled_dot":
            logits = queries @ items.transpose(-1, -2) / math.sqrt(self.dim)
        else:
            unit = F.normalize(items, dim=-1).transpose(-1, -2)
            logits = F.normalize(queries, dim=-1) @ unit / self.temperature
        w = torch.softmax(logits, dim=-1)  # (..., Q, N)
        if self.shrink_threshold > 0:
            w = l1_normalize(hard_shrink(w, self.shrink_threshold), dim=-1)
        return w

    def forward(self, z: Tensor) -> MemoryRead:
        """z: (B, C) or (B, C, *S) -> read-out of the same shape, weights (B, N[, *S])."""
        if z.dim() < 2 or z.shape[1] != self.dim:
            raise ValueError(f"memory expects (B, {self.dim}, ...) queries, got {tuple(z.shape)}")
        spatial = z.shape[2:]
        last = z.dim() - 1  # (not -1: ONNX export writes a negative permutation for it)
        queries = z.movedim(1, last).reshape(-1, self.dim).float()  # (B * prod(S), C)
        if self.training and self.reseed:
            self._replace_due()
        with _full_precision(z.device.type):
            w = self.address(queries)  # (B * prod(S), N)
            read = w @ self.weight  # (B * prod(S), C)
        if self.training and self.reseed:
            self._count(queries.detach(), w.detach())
        out = read.reshape(z.shape[0], *spatial, self.dim).movedim(last, 1)
        weights = w.reshape(z.shape[0], *spatial, self.num_slots).movedim(last, 1)
        return MemoryRead(out, weights)

    @torch.no_grad()
    def _count(self, queries: Tensor, w: Tensor) -> None:
        """Note each slot's top-1 hits; every ``reseed`` batches, the dead ones are due."""
        self.hits += torch.bincount(w.argmax(1), minlength=self.num_slots).to(self.hits)
        self.batches += 1
        if int(self.batches) % self.reseed:
            return
        dead = (self.hits == 0).nonzero().flatten()
        if len(dead):
            picks = torch.randint(len(queries), (len(dead),), device=queries.device)
            self.pending[dead] = queries[picks].to(self.pending)
            self.due[dead] = True
        self.hits.zero_()

    @torch.no_grad()
    def _replace_due(self) -> None:
        if self.due.any():
            self.weight[self.due] = self.pending[self.due].to(self.weight)
            self.due.zero_()

    def decode_slots(self, spatial: tuple[int, ...] = ()) -> Tensor:
        """Each slot as a latent on its own: (N, C) for a flat memory, (N, C, *S) tiled for maps."""
        items = self.weight.detach()
        if not spatial:
            return items
        return items.reshape(self.num_slots, self.dim, *([1] * len(spatial))).expand(
            -1, -1, *spatial
        )

    def extra_repr(self) -> str:
        return (
            f"num_slots={self.num_slots}, dim={self.dim}, shrink_threshold={self.shrink_threshold},"
            f" similarity={self.similarity!r}, temperature={self.temperature}"
            + (f", reseed={self.reseed}" if self.reseed else "")
        )


class LocalMemory(Memory):
    """One memory of N slots for each of the P positions of a feature map (B, C, *S), P =
    prod(S): a query addresses only its own position's slots, so each place of a fixed camera's
    view keeps its own prototypes (a variant of this project, not in the paper). Addressing,
    shrinkage and the entropy loss are ``Memory``'s; weights are (B, N, *S), slot i of every
    position on axis 1. No re-seeding."""

    def __init__(self, positions: int, num_slots: int, dim: int, **kwargs: Any) -> None:
        if kwargs.get("reseed"):
            raise ValueError("a memory per position does not re-seed slots (reseed=0)")
        super().__init__(num_slots, dim, **kwargs)
        if positions < 1:
            raise ValueError(f"a memory per position needs positions >= 1, got {positions}")
        self.positions = positions
        bound = 1.0 / math.sqrt(dim)
        self.weight = nn.Parameter(torch.empty(positions, num_slots, dim).uniform_(-bound, bound))

    def forward(self, z: Tensor) -> MemoryRead:
        """z: (B, C, *S) with prod(S) = P -> read-out (B, C, *S), weights (B, N, *S); a flat
        code (B, C) is one position."""
        if z.dim() == 2 and self.positions == 1:
            read = self(z[:, :, None])
            return MemoryRead(read.output[:, :, 0], read.weights[:, :, 0])
        if z.dim() < 3 or z.shape[1] != self.dim or z[0, 0].numel() != self.positions:
            raise ValueError(
                f"memory expects (B, {self.dim}, *S) with {self.positions} positions, "
                f"got {tuple(z.shape)}"
            )
        queries = z.flatten(2).permute(2, 0, 1).float()  # (P, B, C)
        with _full_precision(z.device.type):
            w = self.address(queries)  # (P, B, N)
            read = w @ self.weight  # (P, B, C)
        out = read.permute(1, 2, 0).reshape(z.shape)
        weights = w.permute(1, 2, 0).reshape(z.shape[0], self.num_slots, *z.shape[2:])
        return MemoryRead(out, weights)

    def decode_slots(self, spatial: tuple[int, ...] = ()) -> Tensor:
        """(N, C, *S): slot i of every position, as one feature map."""
        return self.weight.detach().permute(1, 2, 0).reshape(self.num_slots, self.dim, *spatial)

    def extra_repr(self) -> str:
        return f"positions={self.positions}, " + super().extra_repr()


class UsageMeter:
    """Collapse diagnostics accumulated over batches of weights (B, N[, *S]): how many slots any
    query used, how many non-zero weights a query has on average (1 = one-hot, 0 = all-zero),
    and each slot's usage: the share of queries whose largest weight is on it."""

    def __init__(self, num_slots: int) -> None:
        self.used = torch.zeros(num_slots, dtype=torch.bool)
        self.top = torch.zeros(num_slots, dtype=torch.long)  # queries whose largest weight
        self.queries = 0
        self.nonzero = 0.0
        self.zero_rows = 0
        self.entropy = 0.0

    def update(self, weights: Tensor) -> None:
        w = weights.detach().movedim(1, weights.dim() - 1).reshape(-1, weights.shape[1]).cpu()
        nonzero = w > 0  # (Q, N)
        addressed = nonzero.any(dim=1)
        self.used |= nonzero.any(dim=0)
        self.top += torch.bincount(w[addressed].argmax(1), minlength=w.shape[1])
        self.queries += w.shape[0]
        self.nonzero += float(nonzero.sum())
        self.zero_rows += int((~addressed).sum())
        self.entropy += float(addressing_entropy(w, dim=1)) * w.shape[0]

    @classmethod
    def merge(cls, meters: list[UsageMeter]) -> UsageMeter:
        """One meter counting what all of ``meters`` counted (the ranks of a distributed fit)."""
        total = cls(meters[0].used.numel())
        for m in meters:
            total.used |= m.used
            total.top += m.top
            total.queries += m.queries
            total.nonzero += m.nonzero
            total.zero_rows += m.zero_rows
            total.entropy += m.entropy
        return total

    def summary(self) -> dict[str, Any]:
        """``effective_slots``: exp of the entropy of the slot usage, the number of equally used
        slots that would spread the queries as evenly (1: one slot takes every query)."""
        q = max(self.queries, 1)
        usage = self.top.double() / max(int(self.top.sum()), 1)
        spread = float(torch.exp(addressing_entropy(usage[None], dim=1)))
        return {
            "slots_addressed": int(self.used.sum()),
            "num_slots": int(self.used.numel()),
            "mean_nonzero_per_query": self.nonzero / q,
            "zero_rows_fraction": self.zero_rows / q,
            "mean_entropy": self.entropy / q,
            "effective_slots": spread if int(self.top.sum()) else 0.0,
            "top_slot_share": float(usage.max()),
            "slot_usage": [round(float(u), 6) for u in usage],
        }


COLLAPSED_SLOTS = 2.0  # fewer effective slots than this: one or two slots take the queries


def collapse(usage: dict[str, Any] | None) -> str | None:
    """The sign of a collapsed memory in ``UsageMeter.summary()``, in words; None if healthy."""
    if not usage:
        return None
    if usage["zero_rows_fraction"] > 0.5:
        return f"{usage['zero_rows_fraction']:.0%} of queries address no slot at all"
    effective = usage.get("effective_slots")
    if effective is not None and effective < COLLAPSED_SLOTS and usage["num_slots"] > 2:
        return (
            f"{effective:.1f} effective slots of {usage['num_slots']}: one slot takes "
            f"{usage['top_slot_share']:.0%} of the queries, so every reconstruction is nearly "
            "the same template"
        )
    return None
