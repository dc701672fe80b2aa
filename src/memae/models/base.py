"""The autoencoder every family shares: encoder -> bottleneck -> decoder, and its typed output.

A family (mlp, conv2d, conv3d, ...) only supplies the encoder and decoder; the bottleneck
(none, l1 penalty, memory, gaussian) is what makes AE, AE-l1, MemAE and VAE variants.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..erasure import parse_eraser
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
    """encoder -> [flatten] -> bottleneck -> [unflatten] -> decoder.

    An encoder may also return skip connections, ``(z, skips)``, that its decoder takes as
    ``decoder(z, skips)`` (U-Net). With ``erasers`` (ARNet) the model restores: it is trained on
    (erased input, original) pairs and scored on every erased view of an input.
    """

    def __init__(
        self,
        backbone: Backbone,
        bottleneck: Bottleneck,
        flatten: bool,
        erasers: list[str] | None = None,
        normalize_views: bool = False,
    ) -> None:
        super().__init__()
        self.encoder = backbone.encoder
        self.bottleneck = bottleneck
        self.decoder = backbone.decoder
        self.latent_shape = backbone.latent_shape
        self.flatten = flatten
        self.eraser_names = list(erasers or [])
        self.erasers = [parse_eraser(n) for n in self.eraser_names]
        self.normalize_views = normalize_views
        # per-view weights of the restoration error (1, or 1 / the view's mean training error)
        self.register_buffer("view_weights", torch.ones(max(1, len(self.erasers))))

    @property
    def memory(self) -> Memory | None:
        return getattr(self.bottleneck, "memory", None)

    def encode(self, x: Tensor) -> tuple[Tensor, list[Tensor] | None]:
        out = self.encoder(x)
        z, skips = out if isinstance(out, tuple) else (out, None)  # z: (B, C, *S)
        return (z.flatten(1) if self.flatten else z), skips  # (B, C * prod(S)) when flat

    def decode(self, z: Tensor, skips: list[Tensor] | None = None) -> Tensor:
        if self.flatten:
            z = z.reshape(z.shape[0], *self.latent_shape)
        return self.decoder(z) if skips is None else self.decoder(z, skips)

    def forward(self, x: Tensor) -> ModelOutput:
        z, skips = self.encode(x)
        z_hat, weights, aux = self.bottleneck(z)
        return ModelOutput(self.decode(z_hat, skips), weights, aux)

    def training_pair(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(input, target): x itself, or each sample under one eraser drawn at random (from
        ``generator``, a CPU generator, when given)."""
        if not self.erasers:
            return x, x
        pick = torch.randint(len(self.erasers), (x.shape[0],), generator=generator)
        pick = pick.to(x.device)
        erased = x.clone()
        for i, erase in enumerate(self.erasers):
            rows = pick == i
            if rows.any():
                erased[rows] = erase(x[rows])
        return erased, x

    def views(self, x: Tensor) -> list[Tensor]:
        """The inputs whose outputs are compared with x at test time."""
        return [erase(x) for erase in self.erasers] if self.erasers else [x]

    @torch.no_grad()
    def decode_memory_slots(self) -> Tensor:
        """Paper Fig. 3: decode every memory slot on its own -> (N, *input_shape)."""
        if self.memory is None:
            raise ValueError("this model has no memory")
        if not isinstance(self.decoder, nn.Sequential):
            raise ValueError("a decoder with skip connections cannot decode a slot alone")
        spatial = () if self.flatten else tuple(self.latent_shape[1:])
        return self.decode(self.memory.decode_slots(spatial))
