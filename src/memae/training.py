"""The training loop: Adam on reconstruction + auxiliary loss, best-validation checkpoint, seeds."""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .models import Autoencoder

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; -> a torch Generator for splits and shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass
class TrainHistory:
    train_loss: list[float] = field(default_factory=list)  # reconstruction + auxiliary
    val_loss: list[float] = field(default_factory=list)  # reconstruction only
    best_epoch: int = -1

    @property
    def best_val_loss(self) -> float:
        return self.val_loss[self.best_epoch] if self.best_epoch >= 0 else float("nan")


def reconstruction_loss(model: Autoencoder, x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean squared error of the output against the target (x, or the original of an erased x
    for restoring models) and the model's auxiliary loss."""
    inputs, target = model.training_pair(x)
    out = model(inputs)
    rec = torch.mean((out.reconstruction - target) ** 2)
    return rec, out.aux_loss


@torch.no_grad()
def evaluate_loss(model: Autoencoder, batches: Iterable[Tensor]) -> float:
    """Mean squared reconstruction error per element (no auxiliary term), in eval mode."""
    model.eval()
    total, count = 0.0, 0
    for x in batches:
        rec, _ = reconstruction_loss(model, x)
        total += float(rec) * x.shape[0]
        count += x.shape[0]
    return total / max(count, 1)


def train(
    model: Autoencoder,
    train_batches: Callable[[], Iterable[Tensor]],
    val_batches: Callable[[], Iterable[Tensor]] | None,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    compile: bool = False,
    verbose: bool = False,
) -> TrainHistory:
    """Train in place and leave the model at the epoch with the lowest validation
    reconstruction loss (training loss when there is no validation split).

    ``train_batches``/``val_batches`` return a fresh iterable of ready (scaled, on-device)
    batches each call. ``compile``: the steps run through ``torch.compile(model)``, which
    shares the model's parameters, so ``model`` itself is what is trained and returned.
    """
    step_model = torch.compile(model) if compile else model
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = None
    if lr_schedule == "cosine":  # decays to 0 over the epochs: a calm end to pick the best from
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    elif lr_schedule != "constant":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    history = TrainHistory()
    best_state: dict[str, Tensor] | None = None
    bar = tqdm(range(epochs), desc="train", unit="epoch", disable=not verbose, leave=False)
    for epoch in bar:
        step_model.train()
        total, count = 0.0, 0
        for x in train_batches():
            rec, aux = reconstruction_loss(step_model, x)
            loss = rec + aux
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"training loss became {float(loss)} at epoch {epoch + 1}; lower lr"
                )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * x.shape[0]
            count += x.shape[0]
        history.train_loss.append(total / max(count, 1))
        if schedule is not None:
            schedule.step()
        score = evaluate_loss(step_model, val_batches()) if val_batches else history.train_loss[-1]
        history.val_loss.append(score)
        if best_state is None or score < history.best_val_loss:
            history.best_epoch = epoch
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", val=f"{score:.4g}")
        log.debug("epoch %d: train %.5g val %.5g", epoch + 1, history.train_loss[-1], score)
    if best_state is not None:
        model.load_state_dict(best_state)
    log.info(
        "best epoch %d of %d (val loss %.5g)", history.best_epoch + 1, epochs, history.best_val_loss
    )
    model.eval()
    return history


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
