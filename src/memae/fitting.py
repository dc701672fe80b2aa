"""Fitting a network on samples: seeding, the split, the scaler, device and layout, the
"auto" training settings, the training loop (Adam on reconstruction + auxiliary loss) and the
best-validation epoch."""

from __future__ import annotations

import copy
import logging
import os
import random
import signal
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .models import Autoencoder
from .params import AUTO
from .preprocessing import Scaler
from .samples import Samples

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; -> a torch Generator for splits and shuffling."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


VALIDATION_VIEWS_SEED = 0


@dataclass
class TrainHistory:
    train_loss: list[float] = field(default_factory=list)  # reconstruction + auxiliary
    val_loss: list[float] = field(default_factory=list)  # reconstruction only
    best_epoch: int = -1

    @property
    def best_val_loss(self) -> float:
        """nan before training, and for a loaded model (its losses are not saved)."""
        if 0 <= self.best_epoch < len(self.val_loss):
            return self.val_loss[self.best_epoch]
        return float("nan")


def reconstruction_loss(
    model: Autoencoder, x: Tensor, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Mean squared error of the output against the target (x, or the original of an erased x
    for restoring models) and the model's auxiliary loss. ``generator`` draws the erasers."""
    inputs, target = model.training_pair(x, generator)
    out = model(inputs)
    rec = torch.mean((out.reconstruction - target) ** 2)
    return rec, out.aux_loss


@torch.no_grad()
def evaluate_loss(model: Autoencoder, batches: Iterable[Tensor]) -> float:
    """Mean squared reconstruction error per element (no auxiliary term), in eval mode.

    Restoring models draw the same erasers on every call (a fixed seed), so the losses of
    two epochs compare the same views and best-epoch selection is not noise."""
    model.eval()
    total, count = 0.0, 0
    views = torch.Generator().manual_seed(VALIDATION_VIEWS_SEED)
    for x in batches:
        rec, _ = reconstruction_loss(model, x, views)
        total += float(rec) * x.shape[0]
        count += x.shape[0]
    return total / max(count, 1)


class TrainingStopped(KeyboardInterrupt):
    """Training stopped on request (SIGINT, SIGTERM) at a batch boundary; ``epoch`` epochs
    were complete, and saved in the training state when there is one."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"training stopped after {epoch} complete epoch(s)")
        self.epoch = epoch


_STOP = {"requested": False}


def request_stop(*_: object) -> None:
    """Ask a running ``train`` to stop at the next batch boundary (a signal handler)."""
    _STOP["requested"] = True


class StateStore(Protocol):
    """Where a run keeps its training state, so that it can be resumed (``memae.trainstate``)."""

    def load(self, model: nn.Module, opt: Any, schedule: Any) -> tuple | None: ...

    def save(
        self, model: nn.Module, opt: Any, schedule: Any, history: TrainHistory, best: Any
    ) -> None: ...


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
    state: StateStore | None = None,
) -> TrainHistory:
    """Train in place and leave the model at the epoch with the lowest validation
    reconstruction loss (training loss when there is no validation split).

    ``train_batches``/``val_batches`` return a fresh iterable of ready (scaled, on-device)
    batches each call. ``compile``: the steps run through ``torch.compile(model)``, which
    shares the model's parameters, so ``model`` itself is what is trained and returned.
    ``state``: the training state is saved after every epoch, and a saved one is resumed.
    """
    step_model = torch.compile(model) if compile else model
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = None
    if lr_schedule == "cosine":  # decays to 0 over the epochs: a calm end to pick the best from
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    elif lr_schedule != "constant":
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    history, best_state = TrainHistory(), None
    resumed = state.load(model, opt, schedule) if state is not None else None
    if resumed is not None:
        history, best_state = resumed
    _STOP["requested"] = False
    bar = tqdm(total=epochs, desc="train", unit="epoch", disable=not verbose, leave=False)
    bar.update(len(history.train_loss))  # epochs a resumed state already holds
    for epoch in range(len(history.train_loss), epochs):
        batches = tqdm(
            train_batches(),
            desc=f"epoch {epoch + 1}",
            unit="batch",
            disable=not verbose,
            leave=False,
        )  # progress within an epoch, for long ones
        history.train_loss.append(_epoch(step_model, opt, batches, epoch))
        if schedule is not None:
            schedule.step()
        score = evaluate_loss(step_model, val_batches()) if val_batches else history.train_loss[-1]
        history.val_loss.append(score)
        if best_state is None or score < history.best_val_loss:
            history.best_epoch = epoch
            best_state = copy.deepcopy(model.state_dict())
        if state is not None:
            state.save(model, opt, schedule, history, best_state)
        bar.update()
        bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", val=f"{score:.4g}")
        log.debug("epoch %d: train %.5g val %.5g", epoch + 1, history.train_loss[-1], score)
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    log.info(
        "best epoch %d of %d (val loss %.5g)", history.best_epoch + 1, epochs, history.best_val_loss
    )
    model.eval()
    return history


def _epoch(model: nn.Module, opt: Any, batches: Iterable[Tensor], epoch: int) -> float:
    """One pass of Adam steps -> the mean training loss; stops at a batch boundary when asked."""
    model.train()
    total, count = 0.0, 0
    for i, x in enumerate(batches):
        if _STOP["requested"]:
            raise TrainingStopped(epoch)
        rec, aux = reconstruction_loss(model, x)
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
        if KILL_AT in os.environ:  # tests only; no string built per step otherwise
            fault_point(f"epoch {epoch + 1} batch {i + 1}")
    return total / max(count, 1)


KILL_AT = "MEMAE_KILL_AT"  # tests: SIGKILL at the step named here ("epoch 2 batch 3", "swap")


def fault_point(name: str) -> None:
    """Tests: SIGKILL this process at the step named by ``MEMAE_KILL_AT`` (SIGINT for
    ``int:NAME``)."""
    wanted = os.environ.get(KILL_AT)
    if wanted == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if wanted == f"int:{name}":
        os.kill(os.getpid(), signal.SIGINT)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {device!r}: {exc}") from None


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ----------------------------------------------------------------------------- "auto" settings
@dataclass(frozen=True)
class Budget:
    """A family's ``auto`` training: about ``samples`` training samples seen (epochs =
    samples / n_train within ``epochs``), batches of ``batch_size`` (at most an eighth of the
    training rows, at least 8, so small tables still take several steps an epoch), Adam ``lr``.
    """

    samples: int
    epochs: tuple[int, int]
    batch_size: int
    lr: float


# Sized from the benches' settings: ODDS (mlp: 300,000 samples in 10-200 epochs, batch 128, lr
# 1e-3), MNIST (conv2d: 100 epochs of ~5,400 digits), ARNet MNIST (unet: 50 epochs), Ped2 `cpu`
# (conv3d: 20 epochs of ~1,200 clips); chosen on training data and ODDS, never on a test split.
AUTO_TRAINING: dict[str, Budget] = {
    "mlp": Budget(300_000, (10, 200), 128, 1e-3),
    "conv2d": Budget(500_000, (10, 100), 64, 1e-3),
    "unet": Budget(250_000, (10, 50), 64, 1e-3),
    "conv3d": Budget(25_000, (5, 60), 16, 1e-3),
}
DEFAULT_BUDGET = AUTO_TRAINING["conv2d"]  # families registered later without a budget


@dataclass(frozen=True)
class Schedule:
    epochs: int
    batch_size: int
    lr: float


def resolve_schedule(
    family: str, n_train: int, epochs: int | str, batch_size: int | str, lr: float | str
) -> Schedule:
    """Replace each ``"auto"`` by the family's rule for ``n_train`` training samples."""
    budget = AUTO_TRAINING.get(family, DEFAULT_BUDGET)
    if epochs == AUTO:
        lo, hi = budget.epochs
        epochs = int(np.clip(round(budget.samples / max(1, n_train)), lo, hi))
    if batch_size == AUTO:
        batch_size = int(min(budget.batch_size, max(8, n_train // 8)))
    if lr == AUTO:
        lr = budget.lr
    return Schedule(int(epochs), int(batch_size), float(lr))


# ----------------------------------------------------------------------------- fitting
@dataclass(frozen=True)
class FitConfig:
    """The training part of a detector's parameters, ``auto`` already resolved."""

    schedule: Schedule
    weight_decay: float
    lr_schedule: str
    scaling: str
    device: torch.device
    compile: bool
    channels_last: bool
    inference_batch_size: int
    verbose: bool


@dataclass
class Fitted:
    net: Autoencoder
    scaler: Scaler
    history: TrainHistory
    val_idx: Tensor  # held-out sample indices, sorted (empty without a validation split)


def split_indices(n: int, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """-> (held-out, training) indices, each sorted; at least one of each when fraction > 0."""
    perm = torch.randperm(n, generator=generator)
    n_val = min(max(1, round(n * fraction)), n - 1) if fraction > 0 else 0
    return perm[:n_val].sort().values, perm[n_val:].sort().values


def memory_layout(rank: int, channels_last: bool) -> torch.memory_format:
    """Images (rank 3) and clips (rank 4) may train channels-last; everything else as is."""
    if not channels_last:
        return torch.contiguous_format
    return torch.channels_last if rank == 3 else torch.channels_last_3d


def fit_network(
    net: Autoencoder,
    data: Samples,
    train_idx: Tensor,
    val_idx: Tensor,
    cfg: FitConfig,
    generator: torch.Generator,
    state: StateStore | None = None,
) -> Fitted:
    """Fit the scaler on the training rows, train ``net`` on them (best epoch on ``val_idx``),
    and return it on ``cfg.device`` in the plain layout."""
    layout = memory_layout(len(data.shape), cfg.channels_last)
    scaler = Scaler.fit(cfg.scaling, data.batches(train_idx, cfg.inference_batch_size), data.shape)
    net = net.to(cfg.device, memory_format=layout)

    def ready(idx: Tensor, shuffle: bool) -> Iterator[Tensor]:
        bs = cfg.schedule.batch_size if shuffle else cfg.inference_batch_size
        for b in data.batches(idx, bs, shuffle=shuffle, generator=generator):
            yield scaler(b.to(cfg.device)).contiguous(memory_format=layout)

    history = train(
        net,
        lambda: ready(train_idx, True),
        (lambda: ready(val_idx, False)) if len(val_idx) else None,
        epochs=cfg.schedule.epochs,
        lr=cfg.schedule.lr,
        weight_decay=cfg.weight_decay,
        lr_schedule=cfg.lr_schedule,
        compile=cfg.compile,
        verbose=cfg.verbose,
        state=state,
    )
    return Fitted(net.to(memory_format=torch.contiguous_format), scaler, history, val_idx)
