"""Fitting a network on samples: seeding, the split, the scaler, device and layout, the
"auto" training settings, the training loop (Adam on reconstruction + auxiliary loss) and the
best-validation epoch."""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import faults
from .distributed import ONE, World, broadcast_buffers, sum_all
from .models import Autoencoder
from .params import AUTO, PRECISIONS
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
    resumed_epochs: int = 0  # epochs that came from a resumed training state, not this run

    @property
    def best_val_loss(self) -> float:
        """nan before training, and for a loaded model (its losses are not saved)."""
        if 0 <= self.best_epoch < len(self.val_loss):
            return self.val_loss[self.best_epoch]
        return float("nan")


def reconstruction_loss(
    model: Autoencoder,
    x: Tensor,
    generator: torch.Generator | None = None,
    forward: Callable[[Tensor], Any] | None = None,
) -> tuple[Tensor, Tensor]:
    """The model's reconstruction loss (``Autoencoder.reconstruction_loss``: the mean squared
    error of the output against the target, x or the original of an erased or noisy x) and its
    auxiliary loss. ``generator`` draws the erasers or the noise; ``forward`` runs the model (a
    compiled or distributed wrapper of it; ``model`` itself when None)."""
    inputs, target = model.training_pair(x, generator)
    out = (model if forward is None else forward)(inputs)
    return model.reconstruction_loss(out, target), out.aux_loss.float()


@torch.no_grad()
def evaluate_loss(model: Autoencoder, batches: Iterable[Tensor], world: World = ONE) -> float:
    """The reconstruction loss (mean squared error per element; a likelihood model's NLL), no
    auxiliary term, in eval mode, over the batches of every rank.

    Restoring models draw the same erasers on every call (a fixed seed), so the losses of
    two epochs compare the same views and best-epoch selection is not noise."""
    model.eval()
    total, count = 0.0, 0
    views = torch.Generator().manual_seed(VALIDATION_VIEWS_SEED)
    for x in batches:
        if len(x) == 0:  # a rank whose share of a small split is empty
            continue
        rec, _ = reconstruction_loss(model, x, views)
        total += float(rec) * x.shape[0]
        count += x.shape[0]
    total, count = sum_all(world, total, count)
    return total / max(count, 1)


class TrainingStopped(KeyboardInterrupt):
    """Training stopped on request (SIGINT, SIGTERM) at a batch boundary; ``epoch`` epochs
    were complete (the training state, when there is one, holds the last saved of them)."""

    def __init__(self, epoch: int) -> None:
        super().__init__(f"training stopped after {epoch} complete epoch(s)")
        self.epoch = epoch


_STOP = {"requested": False}


def request_stop(*_: object) -> None:
    """Ask a running ``train`` to stop at the next batch boundary (a signal handler)."""
    _STOP["requested"] = True


class StateStore(Protocol):
    """Where a run keeps its training state, so that it can be resumed (``persist.trainstate``)."""

    def load(self, model: nn.Module, opt: Any, schedule: Any) -> tuple | None: ...

    def save(
        self,
        model: nn.Module,
        opt: Any,
        schedule: Any,
        history: TrainHistory,
        best: Any,
        final: bool = False,
    ) -> None: ...


Batch = tuple[Tensor, float]  # this rank's samples, and the loss weight of its share
T = TypeVar("T")


class Sized(Generic[T]):
    """An iterable that knows its length (one epoch's batches, for the progress bar)."""

    def __init__(self, items: Iterable[T], n: int) -> None:
        self.items, self.n = items, n

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return self.n


def train(
    model: Autoencoder,
    train_batches: Callable[[], Iterable[Batch]],
    val_batches: Callable[[], Iterable[Tensor]] | None,
    *,
    epochs: int,
    lr: float,
    weight_decay: float = 0.0,
    lr_schedule: str = "constant",
    compile: bool = False,
    precision: str = "fp32",
    verbose: bool = False,
    state: StateStore | None = None,
    world: World = ONE,
) -> TrainHistory:
    """Train in place and leave the model at the epoch with the lowest validation
    reconstruction loss (training loss when there is no validation split).

    ``train_batches``/``val_batches`` return a fresh iterable of ready (scaled, on-device)
    batches of this rank each call; a training batch comes with the weight of its loss
    (``memae.distributed``; 1 in one process). ``compile``: the steps run through
    ``torch.compile``, which shares the model's parameters, so ``model`` itself is what is
    trained and returned. ``precision``: ``bf16`` or ``fp16`` run the steps under autocast
    (fp16 with a gradient scaler); weights, optimiser and losses stay fp32. ``state``: the
    training state is saved after epochs (by rank 0, as often as ``persist.trainstate`` says), and
    a saved one is resumed.
    """
    step = _step_module(model, world, compile)
    trainable = [p for p in model.parameters() if p.requires_grad]
    with flat_parameters(trainable, enabled=world.size == 1) as params:
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **_fused(model))
        schedule = None
        if lr_schedule == "cosine":  # decays to 0 over the epochs: a calm end to pick the best from
            schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
        elif lr_schedule != "constant":
            raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
        history, best_state = TrainHistory(), None
        resumed = state.load(model, opt, schedule) if state is not None else None
        if resumed is not None:
            history, best_state = resumed
        steps = Steps(model, step, opt, Precision(precision, _device_of(model)), world)
        _STOP["requested"] = False
        bar = tqdm(total=epochs, desc="train", unit="epoch", disable=not verbose, leave=False)
        bar.update(len(history.train_loss))  # epochs a resumed state already holds
        for epoch in range(len(history.train_loss), epochs):
            history.train_loss.append(steps.epoch(train_batches(), epoch, verbose))
            broadcast_buffers(world, model)  # rank 0's BatchNorm statistics on every rank
            if schedule is not None:
                schedule.step()
            score = (
                evaluate_loss(model, val_batches(), world)
                if val_batches
                else history.train_loss[-1]
            )
            history.val_loss.append(score)
            if best_state is None or score < history.best_val_loss:
                history.best_epoch = epoch
                best_state = copy.deepcopy(model.state_dict())
            if state is not None and world.main:
                state.save(model, opt, schedule, history, best_state, final=epoch == epochs - 1)
            bar.update()
            bar.set_postfix(loss=f"{history.train_loss[-1]:.4g}", val=f"{score:.4g}")
            log.debug("epoch %d: train %.5g val %.5g", epoch + 1, history.train_loss[-1], score)
        bar.close()
        if best_state is not None:
            model.load_state_dict(best_state)
        log.info(
            "best epoch %d of %d (val loss %.5g)",
            history.best_epoch + 1,
            epochs,
            history.best_val_loss,
        )
        model.eval()
        return history


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@contextlib.contextmanager
def flat_parameters(params: list[nn.Parameter], enabled: bool) -> Iterator[list[nn.Parameter]]:
    """What Adam steps: ``params`` as they are, or (``enabled``, and all of one dtype and
    device) one flat parameter of which, inside the block, each parameter and its gradient is
    a slice (in its own layout; gradients accumulate into the slices in place, so
    ``zero_grad(set_to_none=False)``). Adam's arithmetic per element is the same; its step is
    one fused op on one tensor instead of Python work for each, which counts on small nets
    (benchmarks/RESULTS.md, the 2,000,000-row table). On leaving, every parameter gets its own
    storage back. Not under DistributedDataParallel, whose gradients are its buckets' views."""
    if not enabled or len(params) < 2 or len({(p.dtype, p.device) for p in params}) > 1:
        yield params
        return
    like = params[0]
    flat = nn.Parameter(like.new_empty(sum(p.numel() for p in params)))
    flat.grad = torch.zeros_like(flat)
    offset = 0
    for p in params:
        n = p.numel()
        view = flat.detach()[offset : offset + n].as_strided(p.shape, p.stride())
        view.copy_(p.detach())
        p.data = view
        p.grad = flat.grad[offset : offset + n].as_strided(p.shape, p.stride())
        offset += n
    try:
        yield [flat]
    finally:
        for p in params:
            p.data = p.data.clone()  # (clone keeps the layout)
            p.grad = None


def _fused(model: nn.Module) -> dict[str, bool]:
    """Adam's fused kernel (one op per step for all parameters instead of several per tensor)
    where torch has it for these parameters."""
    device = _device_of(model)
    ok = device.type in ("cpu", "cuda") and all(p.is_floating_point() for p in model.parameters())
    return {"fused": True} if ok else {}


def _step_module(model: Autoencoder, world: World, compile: bool) -> Callable[[Tensor], Any]:
    """What runs a training step's forward: the model, wrapped by DistributedDataParallel
    across ranks and by torch.compile when asked; all share the model's parameters."""
    step: Any = model
    if world.size > 1:
        from torch.nn.parallel import DistributedDataParallel

        device = _device_of(model)
        ids = [device.index] if device.type == "cuda" else None
        # gradients as views of the all-reduce buckets: no copy, and any layout (channels-last);
        # buffers broadcast from rank 0 before each forward (the memory's re-seeding relies on it)
        step = DistributedDataParallel(
            model, device_ids=ids, gradient_as_bucket_view=True, broadcast_buffers=True
        )
    if compile and not model.compilable:
        log.warning(
            "%s cannot be trained through torch.compile; training it eagerly", type(model).__name__
        )
        compile = False
    return torch.compile(step) if compile else step


@dataclass(frozen=True)
class Precision:
    """Mixed precision of the training steps: autocast to bf16 or fp16 (with loss scaling)."""

    name: str
    device: torch.device

    def __post_init__(self) -> None:
        if self.name not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.name!r}")

    def autocast(self) -> Any:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)
        return torch.autocast(self.device.type, dtype=dtype, enabled=dtype is not None)

    def scaler(self) -> Any:
        return torch.amp.GradScaler(self.device.type, enabled=self.name == "fp16")


class Steps:
    """Adam steps over one epoch's batches, in this rank's share of each global batch."""

    def __init__(
        self, model: Autoencoder, step: Callable, opt: Any, precision: Precision, world: World
    ) -> None:
        self.model, self.step, self.opt = model, step, opt
        self.precision, self.world = precision, world
        self.grad_scaler = precision.scaler()

    def epoch(self, batches: Iterable[Batch], epoch: int, verbose: bool) -> float:
        """One pass -> the mean training loss over all ranks; stops at a batch boundary when
        asked, and on a loss that is not finite."""
        self.model.train()
        total, count = 0.0, 0
        bar = tqdm(
            faults.watch_batches(batches, epoch, self.world.rank),
            desc=f"epoch {epoch + 1}",
            unit="batch",
            disable=not verbose,
            leave=False,
        )  # progress within an epoch, for long ones
        for x, weight in bar:
            if _STOP["requested"]:
                raise TrainingStopped(epoch)
            loss = self._step(x, weight, epoch)
            total += loss * x.shape[0]
            count += x.shape[0]
        total, count = sum_all(self.world, total, count)
        return total / max(count, 1)

    def _step(self, x: Tensor, weight: float, epoch: int) -> float:
        with self.precision.autocast():
            rec, aux = reconstruction_loss(self.model, x, forward=self.step)
        loss = rec + aux
        value = float(loss.detach())  # the one read of the loss a step
        if not math.isfinite(value):
            raise FloatingPointError(f"training loss became {value} at epoch {epoch + 1}; lower lr")
        self.opt.zero_grad(set_to_none=False)  # in place (flat_parameters)
        scaled = loss * weight if weight != 1.0 else loss
        self.grad_scaler.scale(scaled).backward()
        self.grad_scaler.step(self.opt)
        self.grad_scaler.update()
        return value


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

    ``large``: for tables so large that small batches would cost an epoch many thousands of
    steps, rungs of (training rows above which, batch, lr): a 640-row step of the tabular net
    costs about twice a 64-row one, so an epoch takes a fraction of the time at the same quality.
    """

    samples: int
    epochs: tuple[int, int]
    batch_size: int
    lr: float
    large: tuple[tuple[int, int, float], ...] = ()


# Sized from the benches' settings: ODDS (mlp: 300,000 samples in 10-200 epochs, batch 128, lr
# 1e-3), MNIST (conv2d: 100 epochs of ~5,400 digits), ARNet MNIST (unet: 50 epochs), Ped2 `cpu`
# (conv3d: 20 epochs of ~1,200 clips); chosen on training data and ODDS, never on a test split.
# The mlp's rungs: chosen on the validation loss after one epoch of a 2,000,000-row table
# (benchmarks/large_table.py quality, seeds 0-4; RESULTS "(c) A 2,000,000-row table"): batch 640
# at lr 6e-3 kept batch 64's loss (its mean 3% lower on the machine of the timing, 0.4% lower on
# another); 768 and 1024 lost it at every lr tried.
_UNET_BUDGET = Budget(250_000, (10, 50), 64, 1e-3)
AUTO_TRAINING: dict[str, Budget] = {
    "mlp": Budget(
        300_000, (10, 200), 128, 1e-3, large=((512_000, 256, 2e-3), (1_024_000, 640, 6e-3))
    ),
    "conv2d": Budget(500_000, (10, 100), 64, 1e-3),
    "unet": _UNET_BUDGET,
    "map": _UNET_BUDGET,  # the same U-Net, without its skips
    "conv3d": Budget(25_000, (5, 60), 16, 1e-3),
    "pred": Budget(25_000, (5, 60), 16, 1e-3),  # the clips conv3d takes, one frame predicted
}
DEFAULT_BUDGET = AUTO_TRAINING["conv2d"]  # families registered later without a budget


INFERENCE_BATCH = {1: 4096}  # scoring batch by sample rank (vectors); 256 for images, clips


def resolve_inference_batch(setting: int | str, sample_rank: int) -> int:
    """``inference_batch_size``: as given, or ``auto``: large batches for the small tabular
    nets (2.3x the rows per second of 256 on a 10-column table), 256 for images and clips."""
    return int(setting) if setting != AUTO else INFERENCE_BATCH.get(sample_rank, 256)


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
        batch_size, rung_lr = budget.batch_size, budget.lr
        for rows, batch, rung in budget.large:
            if n_train > rows:
                batch_size, rung_lr = batch, rung
        batch_size = int(min(batch_size, max(8, n_train // 8)))
        lr = rung_lr if lr == AUTO else lr
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
    precision: str
    workers: int  # DataLoader worker processes for Dataset inputs
    inference_batch_size: int
    verbose: bool
    world: World = ONE


@dataclass
class Fitted:
    net: Autoencoder
    scaler: Scaler
    history: TrainHistory
    val_idx: Tensor  # held-out sample indices, sorted (empty without a validation split)


INDEX = torch.int32  # sample indices: half the memory of int64 (tables of millions of rows)


def split_indices(n: int, fraction: float, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """-> (held-out, training) indices, each sorted; at least one of each when fraction > 0."""
    perm = torch.randperm(n, generator=generator, dtype=INDEX).numpy()
    n_val = min(max(1, round(n * fraction)), n - 1) if fraction > 0 else 0
    # numpy sorts without torch's int64 argsort beside the values
    return torch.from_numpy(np.sort(perm[:n_val])), torch.from_numpy(np.sort(perm[n_val:]))


def memory_layout(rank: int, channels_last: bool) -> torch.memory_format:
    """Images (rank 3) and clips (rank 4) may train channels-last; everything else as is."""
    if not channels_last:
        return torch.contiguous_format
    return torch.channels_last if rank == 3 else torch.channels_last_3d


SCALER_CHUNK_VALUES = 1 << 20  # the scaler is fitted in chunks of about this many values


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
    and return it on ``cfg.device`` in the plain layout.

    Every rank draws the same shuffled global batches; each trains on its share of each, and
    validates on its share of ``val_idx`` (``memae.distributed``)."""
    layout = memory_layout(len(data.shape), cfg.channels_last)
    world, pin = cfg.world, cfg.device.type == "cuda"
    read = data.reader(cfg.workers, pin)
    chunk = max(cfg.inference_batch_size, SCALER_CHUNK_VALUES // math.prod(data.shape))
    scaler = Scaler.fit(cfg.scaling, read(data.chunks(train_idx, chunk)), data.shape)
    net = net.to(cfg.device, memory_format=layout)

    def ready(x: Tensor) -> Tensor:
        x = x.to(cfg.device, non_blocking=pin)
        return scaler(x).contiguous(memory_format=layout)

    def train_batches() -> Sized[Batch]:
        chunks = data.chunks(
            train_idx, cfg.schedule.batch_size, True, generator, min_last=max(2, world.size)
        )
        shares = [world.part(c) for c in chunks]
        batches = zip(chunks, shares, read(shares), strict=True)
        weighted = ((ready(x), len(share) * world.size / len(c)) for c, share, x in batches)
        return Sized(weighted, len(chunks))  # sized: the epoch bar shows its total

    def val_batches() -> Iterator[Tensor]:
        for x in read(data.chunks(world.part(val_idx), cfg.inference_batch_size)):
            yield ready(x)

    with _cudnn_autotune(cfg.device), contextlib.closing(read):
        history = train(
            net,
            train_batches,
            val_batches if len(val_idx) else None,
            epochs=cfg.schedule.epochs,
            lr=cfg.schedule.lr,
            weight_decay=cfg.weight_decay,
            lr_schedule=cfg.lr_schedule,
            compile=cfg.compile,
            precision=cfg.precision,
            verbose=cfg.verbose,
            state=state,
            world=world,
        )
    return Fitted(net.to(memory_format=torch.contiguous_format), scaler, history, val_idx)


@contextlib.contextmanager
def _cudnn_autotune(device: torch.device) -> Iterator[None]:
    """cudnn picks the fastest convolution algorithms for the fit's fixed shapes (CUDA only)."""
    if device.type != "cuda":
        yield
        return
    previous = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = previous
