"""The autoencoder every family shares: encoder -> bottleneck -> decoder, and its typed output.

A family (mlp, conv2d, conv3d, ...) only supplies the encoder and decoder; the bottleneck
(none, l1 penalty, memory, gaussian) is what makes AE, AE-l1, MemAE and VAE variants.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..memory import Memory, addressing_entropy


@dataclass
class ModelOutput:
    """reconstruction: like the input; weights: memory addressing (B, N[, *S]) or None;
    aux_loss: the scalar added to the reconstruction loss (entropy, l1 or KL term)."""

    reconstruction: Tensor
    weights: Tensor | None
    aux_loss: Tensor


@dataclass
class Backbone:
    """What a family builds: latent_shape is (C, *S) of the encoder output."""

    encoder: nn.Module
    decoder: nn.Module
    latent_shape: tuple[int, ...]
    memory_slots: int  # the paper's N for this family and input
    memory_on: str  # "flat": one query per sample; "location": one per feature-map position


class Bottleneck(nn.Module):
    """Identity bottleneck (plain AE); subclasses add a penalty or a memory."""

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor | None, Tensor]:
        return z, None, z.new_zeros(())


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
        mu, logvar = self.to_params(z.movedim(1, -1)).movedim(-1, 1).chunk(2, dim=1)
        logvar = logvar.clamp(-10, 10)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1).mean()
        sample = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return sample, None, self.kl_weight * kl / self.input_numel


class Autoencoder(nn.Module):
    """encoder -> [flatten] -> bottleneck -> [unflatten] -> decoder."""

    def __init__(self, backbone: Backbone, bottleneck: Bottleneck, flatten: bool) -> None:
        super().__init__()
        self.encoder = backbone.encoder
        self.bottleneck = bottleneck
        self.decoder = backbone.decoder
        self.latent_shape = backbone.latent_shape
        self.flatten = flatten

    @property
    def memory(self) -> Memory | None:
        return getattr(self.bottleneck, "memory", None)

    def encode(self, x: Tensor) -> Tensor:
        z = self.encoder(x)  # (B, C, *S)
        return z.flatten(1) if self.flatten else z  # (B, C * prod(S)) when flat

    def decode(self, z: Tensor) -> Tensor:
        if self.flatten:
            z = z.reshape(z.shape[0], *self.latent_shape)
        return self.decoder(z)

    def forward(self, x: Tensor) -> ModelOutput:
        z_hat, weights, aux = self.bottleneck(self.encode(x))
        return ModelOutput(self.decode(z_hat), weights, aux)

    @torch.no_grad()
    def decode_memory_slots(self) -> Tensor:
        """Paper Fig. 3: decode every memory slot on its own -> (N, *input_shape)."""
        if self.memory is None:
            raise ValueError("this model has no memory")
        spatial = () if self.flatten else tuple(self.latent_shape[1:])
        return self.decode(self.memory.decode_slots(spatial))
