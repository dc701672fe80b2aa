"""The bottlenecks that make the variants: none (AE), l1 (AE-l1), memory (MemAE), gaussian
(VAE). Each is registered with its own settings and their defaults; ``create_model`` takes the
settings of every registered bottleneck and gives each builder the ones it declares."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..memory import ENTROPY_WEIGHT, TEMPERATURE, LocalMemory, Memory, addressing_entropy
from .settings import Builders

# builder(settings, code width, the family's paper N, number of input elements, positions of the
# code: 1 for a flat code, prod(S) for a feature map (C, *S)) -> Bottleneck
BOTTLENECKS: Builders[Bottleneck] = Builders()
register_bottleneck = BOTTLENECKS.register


class Bottleneck(nn.Module):
    """Identity bottleneck (plain AE); subclasses add a penalty or a memory."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        return z, None, z.new_zeros(())

    def decode_slots(self, spatial: tuple[int, ...] = ()) -> Tensor:
        """Each memory slot alone as the decoder's input, (N, C[, *S]) (paper Fig. 3)."""
        memory = getattr(self, "memory", None)
        if memory is None:
            raise ValueError("this model has no memory")
        return memory.decode_slots(spatial)


class L1Bottleneck(Bottleneck):
    """AE-l1: the latent passes unchanged, with weight * mean |z| as the auxiliary loss."""

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = weight

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        return z, None, self.weight * z.abs().mean()


class MemoryBottleneck(Bottleneck):
    """MemAE: the latent is replaced by its memory read-out; entropy_weight * E(w') is added."""

    def __init__(self, memory: Memory, entropy_weight: float) -> None:
        super().__init__()
        self.memory = memory
        self.entropy_weight = entropy_weight

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        read = self.memory(z)
        aux = self.entropy_weight * addressing_entropy(read.weights, dim=1)
        return read.output, read.weights, aux


class BlockBottleneck(Bottleneck):
    """Another bottleneck read on b x b blocks of a feature map (B, C, H, W): each block's
    C * b * b values are one query, and the read-out is put back in place (the block-wise
    memory of Hou et al., ICCV 2021, "Divide-and-Assemble"). b sets the granularity: 1 is one
    query per location, the whole map one query per image."""

    def __init__(self, inner: Bottleneck, block: int) -> None:
        super().__init__()
        self.inner = inner
        self.block = block

    @property
    def memory(self) -> nn.Module | None:
        return getattr(self.inner, "memory", None)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        blocks = F.pixel_unshuffle(z, self.block)  # (B, C * b * b, H / b, W / b)
        out, weights, aux = self.inner(blocks)  # weights (B, N, H / b, W / b)
        return F.pixel_shuffle(out, self.block), weights, aux  # (B, C, H, W)

    def decode_slots(self, spatial: tuple[int, ...] = ()) -> Tensor:
        """(N, C, *S): each slot as every block of the map."""
        inner = self.inner.decode_slots(tuple(n // self.block for n in spatial))
        return F.pixel_shuffle(inner, self.block)


class GaussianBottleneck(Bottleneck):
    """VAE: a per-position linear map to (mu, log-variance); samples while training, mu at eval.

    The KL divergence is divided by the number of input elements, so that kl_weight = 1 gives
    the ELBO on the scale of the mean squared reconstruction error.
    """

    def __init__(self, channels: int, kl_weight: float, input_numel: int) -> None:
        super().__init__()
        self.to_params = nn.Linear(channels, 2 * channels)
        self.kl_weight = kl_weight
        self.input_numel = input_numel

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        last = z.dim() - 1  # a positive axis: ONNX export mishandles -1 here
        mu, logvar = self.to_params(z.movedim(1, last)).movedim(last, 1).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1).mean()
        sample = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return sample, None, self.kl_weight * kl / self.input_numel


@register_bottleneck("none")
def _none(s: dict[str, Any], width: int, paper_slots: int, numel: int, pos: int) -> Bottleneck:
    return Bottleneck()


@register_bottleneck("l1", l1_weight=1e-3)
def _l1(s: dict[str, Any], width: int, paper_slots: int, numel: int, pos: int) -> Bottleneck:
    return L1Bottleneck(float(s["l1_weight"]))


MEMORY_DEFAULTS: dict[str, Any] = {
    "mem_slots": None,  # N; None -> the paper's value for the family
    "shrink_threshold": None,  # lam; None -> 1 / N, the low end of the paper's [1/N, 3/N]
    "similarity": "dot",
    "temperature": TEMPERATURE,
    "entropy_weight": ENTROPY_WEIGHT,  # alpha of Eq. 10
    "reseed": 0,  # batches between re-seedings of dead slots (0: never; not in the paper)
}


def _memory_options(s: dict[str, Any], paper_slots: int) -> tuple[int, dict[str, Any]]:
    slots = int(s["mem_slots"] or paper_slots)
    lam = s["shrink_threshold"]
    return slots, {
        "shrink_threshold": 1.0 / slots if lam is None else float(lam),
        "similarity": s["similarity"],
        "temperature": float(s["temperature"]),
        "reseed": int(s["reseed"]),
    }


@register_bottleneck("memory", **MEMORY_DEFAULTS)
def _memory(s: dict[str, Any], width: int, paper_slots: int, numel: int, pos: int) -> Bottleneck:
    slots, options = _memory_options(s, paper_slots)
    return MemoryBottleneck(Memory(slots, width, **options), float(s["entropy_weight"]))


@register_bottleneck("memory-local", **MEMORY_DEFAULTS)
def _local(s: dict[str, Any], width: int, paper_slots: int, numel: int, pos: int) -> Bottleneck:
    slots, options = _memory_options(s, paper_slots)
    memory = LocalMemory(pos, slots, width, **options)
    return MemoryBottleneck(memory, float(s["entropy_weight"]))


@register_bottleneck("gaussian", kl_weight=1.0)
def _gaussian(s: dict[str, Any], width: int, paper_slots: int, numel: int, pos: int) -> Bottleneck:
    return GaussianBottleneck(width, float(s["kl_weight"]), numel)
