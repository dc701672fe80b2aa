"""The autoencoder every family shares: encoder -> bottleneck -> decoder, and its typed output.

A family (mlp, conv2d, conv3d, ...) only supplies the encoder and decoder; the bottleneck
(``bottlenecks.py``: none, l1 penalty, memory, gaussian) is what makes AE, AE-l1, MemAE and
VAE variants; erasers (``restore.py``) make ARNet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from ..memory import Memory
from .bottlenecks import Bottleneck
from .heads import Head
from .restore import Restoration


@dataclass
class ModelOutput:
    """reconstruction: like the input; weights: memory addressing (B, N[, *S]) or None;
    aux_loss: the scalar added to the reconstruction loss (entropy, l1, KL or a head's term);
    score: (B,) the model's own anomaly score (a head's energy or distance, DSEBM's energy),
    reported instead of the reconstruction error; None for a reconstruction model."""

    reconstruction: Tensor
    weights: Tensor | None
    aux_loss: Tensor
    score: Tensor | None = None


@dataclass
class Backbone:
    """What a family builds: latent_shape is (C, *S) of the encoder output."""

    encoder: nn.Module
    decoder: nn.Module
    latent_shape: tuple[int, ...]
    memory_slots: int  # the paper's N for this family and input
    memory_on: str  # "flat": one query per sample; "location": one per feature-map position
    predicts: int = 0  # clips: the last frames predicted from the others (0: reconstruction)
    # U-Nets: (C, *S) of each skip connection the decoder uses, finest first, by level
    skip_shapes: dict[int, tuple[int, ...]] = field(default_factory=dict)


class Autoencoder(nn.Module):
    """encoder -> [flatten] -> bottleneck -> [unflatten] -> decoder.

    An encoder may also return skip connections, ``(z, skips)``, that its decoder takes as
    ``decoder(z, skips)`` (U-Net). With ``erasers`` (ARNet) the model restores: it is trained on
    (erased input, original) pairs and scored on every erased view of an input. A ``head``
    (``heads.py``: DAGMM's mixture, DCN's k-means) scores each sample from its input, code and
    reconstruction, and adds its term to the training loss.
    """

    compilable = True  # torch.compile can train it (no double backward inside)

    def __init__(
        self,
        backbone: Backbone,
        bottleneck: Bottleneck,
        flatten: bool,
        erasers: list[str] | None = None,
        normalize_views: bool = False,
        head: Head | None = None,
        skip_bottlenecks: dict[int, Bottleneck] | None = None,
    ) -> None:
        super().__init__()
        self.encoder = backbone.encoder
        self.bottleneck = bottleneck
        # memories on U-Net skip levels (memory at more than one scale), by level
        self.skip_bottlenecks = nn.ModuleDict(
            {str(k): b for k, b in sorted((skip_bottlenecks or {}).items())}
        )
        self.decoder = backbone.decoder
        self.latent_shape = backbone.latent_shape
        self.predicts = backbone.predicts
        self.flatten = flatten
        self.head = head
        self.restoration = Restoration(erasers, normalize_views) if erasers else None
        if self.restoration is not None:
            # per-view weights of the restoration error (1, or 1 / the view's training mean);
            # a buffer of the autoencoder itself, so checkpoints name it model.view_weights
            self.register_buffer("view_weights", torch.ones(len(self.restoration.erasers)))

    @property
    def onnx_blocker(self) -> str | None:
        """Why this model cannot be exported to ONNX; None when it can."""
        return getattr(self.head, "onnx_blocker", None)

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
        if len(self.skip_bottlenecks):
            skips = list(skips)
            for level, b in self.skip_bottlenecks.items():
                skips[int(level)], _, term = b(skips[int(level)])
                aux = aux + term
        x_hat = self.decode(z_hat, skips)
        if self.head is None:
            return ModelOutput(x_hat, weights, aux)
        score, term = self.head(x, z, x_hat)
        return ModelOutput(x_hat, weights, aux + term, score)

    def reconstruction_loss(self, out: ModelOutput, target: Tensor) -> Tensor:
        """The term fitted and validated: the mean squared error of the output against the
        target (a likelihood model fits its negative log-likelihood instead)."""
        return torch.mean((out.reconstruction.float() - target) ** 2)

    @property
    def eraser_names(self) -> list[str]:
        return self.restoration.names if self.restoration else []

    @property
    def normalize_views(self) -> bool:
        return bool(self.restoration and self.restoration.normalize_views)

    def target(self, x: Tensor) -> Tensor:
        """What the output is compared with: x, or the last ``predicts`` frames of a clip."""
        return x[:, :, x.shape[2] - self.predicts :] if self.predicts else x

    def training_pair(
        self, x: Tensor, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(input, target): (x, ``target(x)``), or (x erased, x) for a restoring model (ARNet)."""
        if self.restoration is None:
            return x, self.target(x)
        return self.restoration.training_pair(x, generator)

    def views(self, x: Tensor) -> list[Tensor]:
        """The inputs whose outputs are compared with x at test time."""
        return self.restoration.views(x) if self.restoration else [x]

    @torch.no_grad()
    def decode_memory_slots(self) -> Tensor:
        """Paper Fig. 3: decode every memory slot on its own -> (N, *input_shape)."""
        if self.memory is None:
            raise ValueError("this model has no memory")
        skips = getattr(self.decoder, "skip", None)  # a U-Net decoder's: which levels it takes
        if not isinstance(self.decoder, nn.Sequential) and (skips is None or any(skips)):
            raise ValueError("a decoder with skip connections cannot decode a slot alone")
        spatial = () if self.flatten else tuple(self.latent_shape[1:])
        slots = self.bottleneck.decode_slots(spatial)
        return self.decode(slots, None if skips is None else [None] * len(skips))
