"""MemAEDetector: the scikit-learn / PyOD style estimator around every registered model.

Three clean levels: ``decision_function`` gives raw scores (higher = more anomalous),
``threshold_`` is learned without labels from held-out normal data, ``predict`` gives 0/1.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import weakref
from collections.abc import Iterator
from numbers import Integral
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.utils import check_random_state
from torch import Tensor

from . import distributed, persist
from .data.encoder import TableEncoder, as_features, is_frame
from .distributed import World
from .errors import CheckpointError, InputError, NotFittedError
from .fitting import (
    INDEX,
    FitConfig,
    Schedule,
    TrainHistory,
    count_parameters,
    fit_network,
    resolve_device,
    resolve_inference_batch,
    resolve_schedule,
    seed_everything,
    split_indices,
)
from .memory import UsageMeter, collapse
from .models import Autoencoder, create_model, family_defaults, resolve_family
from .params import MODEL_KEYS, check_params
from .persist import TrainState
from .plan import RunPlan
from .preprocessing import Scaler, resolve_mode
from .runtime import cpu_count, local_processes, resolve_threads, step_flops, torch_threads
from .samples import Samples
from .scoring import ScoreOutput, Scorer, checked_scores, quantile_threshold
from .validation import check_shape

log = logging.getLogger(__name__)


class MemAEDetector(OutlierMixin, BaseEstimator):
    """Reconstruction-based anomaly detector, trained on normal data only.

    Args:
        model: a registered variant (``memae.models.list_models()``: ``ae``, ``memae``,
            ``memae-local``, ``memae-map``, ``mnad``, ``memae-pred``, ``arnet``, ...).
        family: ``mlp``, ``conv2d``, ``conv3d``, ``unet``, ``map``, ``pred``; None picks it
            from the sample rank.
        mem_slots: the memory's N (None: the family's paper value).
        shrink_threshold: lam of the hard shrinkage (None: 1/N).
        similarity: ``dot``, ``cosine`` or ``scaled_dot`` addressing (None: the family's).
        temperature: divides the cosine similarity.
        entropy_weight: alpha of the entropy loss (None: 2e-4).
        model_options: further options of the family (e.g. ``hidden`` for mlp, ``layers`` for
            conv2d, ``channels`` for conv3d) or the bottleneck (``l1_weight``, ``kl_weight``,
            ``memory_on``).
        epochs: training epochs (``auto``: the family's budget for the data's size).
        batch_size: training batch (``auto``: the family's).
        lr: Adam's learning rate (``auto``: the family's; the paper's 1e-4 is one argument away).
        weight_decay: Adam's weight decay.
        lr_schedule: ``constant`` (paper) or ``cosine`` (decay to 0 over the epochs).
        validation_fraction: share of the data held out to pick the best epoch and the threshold.
        contamination: expected share of anomalies; the threshold is the (1 - contamination)
            quantile of the held-out scores, unless ``threshold_quantile`` gives the quantile.
        scaling: ``auto``, ``minmax``, ``global``, ``standard`` or ``none`` (fitted on the
            training split).
        error_sigma: images and clips: smooth the residual by a Gaussian of this many pixels
            before squaring it (0: the plain per-pixel squared error). Small misplacements of
            an edge then count less than missing or added structure.
        error_top: score by the mean of this fraction of positions with the largest error
            (pixels, clip positions or features; 1: the mean over all, as in the papers).
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``, ...; under
            ``torchrun`` a bare ``cuda`` is each rank's own GPU.
        threads: torch intra-op threads for fitting and scoring, like scikit-learn's
            ``n_jobs``. ``auto``: one for a step too small to gain from more (the tabular
            nets), otherwise the cores that are idle when the work starts (shared out among a
            torchrun job's processes on the machine); ``MEMAE_THREADS`` overrides ``auto``.
            Scores are bit-reproducible for a fixed thread count: set it for exact reruns.
        precision: ``fp32``, or ``bf16`` / ``fp16`` mixed precision for the training steps
            (autocast; fp16 with a gradient scaler). Weights stay fp32, and scores are always
            computed in fp32.
        loader_workers: DataLoader worker processes that read a Dataset's items while the
            model trains (pinned memory and non-blocking copies with a GPU); ``auto``: none on
            CPU, where the training threads use the cores, up to 8 with a GPU. Arrays are
            read in the main process.
        compile: train through ``torch.compile`` (the first epoch pays the compilation; the
            saved model is the same plain module). Scores match eager training up to
            floating-point differences that training amplifies, not bit for bit. On a 2-core
            CPU it gains little (1.15-1.2x per step, 5% on a 10-epoch ARNet fit).
        channels_last: images and clips: train in the channels-last memory layout, which
            CPU convolutions run faster (1.03-1.3x per training step on a 2-core CPU, most for
            wider nets); the fitted model is converted back. Like ``compile``, equal to the
            default up to rounding only.
        inference_batch_size: batch size for scoring; ``auto``: 4096 for vectors, 256 for
            images and clips.
        random_state: seed; the same seed gives the same scores on CPU.
        verbose: show a progress bar with the loss.
    """

    def __init__(
        self,
        model: str = "memae",
        *,
        family: str | None = None,
        mem_slots: int | None = None,
        shrink_threshold: float | None = None,
        similarity: str | None = None,
        temperature: float | None = None,
        entropy_weight: float | None = None,
        model_options: dict[str, Any] | None = None,
        epochs: int | str = "auto",
        batch_size: int | str = "auto",
        lr: float | str = "auto",
        weight_decay: float = 0.0,
        lr_schedule: str = "constant",
        validation_fraction: float = 0.1,
        contamination: float = 0.1,
        threshold_quantile: float | None = None,
        scaling: str = "auto",
        error_sigma: float = 0.0,
        error_top: float = 1.0,
        device: str = "auto",
        threads: int | str = "auto",
        precision: str = "fp32",
        loader_workers: int | str = "auto",
        compile: bool = False,
        channels_last: bool = False,
        inference_batch_size: int | str = "auto",
        random_state: int | None = None,
        verbose: int = 0,
    ) -> None:
        self.model = model
        self.family = family
        self.mem_slots = mem_slots
        self.shrink_threshold = shrink_threshold
        self.similarity = similarity
        self.temperature = temperature
        self.entropy_weight = entropy_weight
        self.model_options = model_options
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.validation_fraction = validation_fraction
        self.contamination = contamination
        self.threshold_quantile = threshold_quantile
        self.scaling = scaling
        self.error_sigma = error_sigma
        self.error_top = error_top
        self.device = device
        self.threads = threads
        self.precision = precision
        self.loader_workers = loader_workers
        self.compile = compile
        self.channels_last = channels_last
        self.inference_batch_size = inference_batch_size
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        X: Any,
        y: Any = None,
        *,
        encoder: TableEncoder | None = None,
        state_dir: str | os.PathLike | None = None,
        resume: bool | Literal["auto"] = False,
        keep_state: bool = False,
    ) -> MemAEDetector:
        """Train on ``X`` (normal data; ``y`` is ignored): arrays (n, d), (n, c, h, w),
        (n, c, t, h, w), a torch Dataset of such samples, or a pandas DataFrame (its numeric
        columns as numbers, every other column one-hot encoded: ``memae.data.encoder``).

        ``encoder``: the fitted ``TableEncoder`` that made ``X`` from a raw table (as
        ``memae.data.readers.read_data`` returns it), or that encodes the DataFrame ``X``. The
        detector keeps it as ``encoder_`` (None for arrays), saves it, and encodes every
        DataFrame it scores with it, so a raw table scores as at training.

        ``state_dir``: keep the training state there after epochs (``memae.persist.trainstate``),
        removed once training completes unless ``keep_state`` (then the caller removes it
        once what it fits for is saved); ``resume``: continue the state found there (the same
        parameters and data), bit for bit as if never stopped; ``"auto"``: continue one if
        there is one (rank 0 decides, under torchrun), start afresh otherwise.

        check -> split and seed -> build -> fit the network (``memae.fitting``) -> calibrate
        ARNet's views -> score the data -> threshold on the held-out scores."""
        if resume not in (True, False, "auto"):
            raise InputError(f"resume must be True, False or 'auto', not {resume!r}")
        X, encoder = _encoded(X, encoder)
        data = Samples(X, "X", min_samples=2)
        device = distributed.local_device(resolve_device(self._checked().device))
        self._check_data(data.shape)
        world = distributed.join(device)
        seed = distributed.gather(world, self._seed())[0]  # rank 0's, when drawn at random
        generator = seed_everything(seed)
        val_idx, train_idx = split_indices(len(data), self.validation_fraction, generator)
        net = self._build(data.shape)
        plan = self._plan(data, len(train_idx), net, device, world)
        schedule = Schedule(plan.epochs, plan.batch_size, plan.lr)
        distributed.check_same(world, "data and schedule", (len(data), data.shape, schedule))
        self.family_defaults_ = family_defaults(plan.family)  # saved with it (checkpoint)
        if world.size > 1:  # each rank its own noise (erasers, sampling) from here on
            torch.manual_seed(seed + world.rank)
        _warn_if_oversized(net, len(train_idx) * math.prod(data.shape))
        threads = plan.threads
        family = plan.family
        cfg = self._fit_config(data, plan, device, world)
        self.plan_ = plan
        self.run_ = {
            **world.describe(),
            "device": str(device),
            "threads": threads,
            "precision": self.precision,
        }
        log.info(
            "training %s (%s) on %d samples of shape %s, %d held out, on %s: %s, %s",
            self.model,
            family,
            len(train_idx),
            data.shape,
            len(val_idx),
            cfg.device,
            schedule,
            self.run_,
        )
        if resume == "auto":  # one decision for every rank, by rank 0, which writes the state
            present = world.main and state_dir is not None and persist.present(state_dir)
            resume = distributed.gather(world, present)[0]
        state = self._train_state(state_dir, resume, data, seed, schedule, generator)
        with torch_threads(threads):
            fitted = fit_network(net, data, train_idx, val_idx, cfg, generator, state)
            if state is not None and world.main and not keep_state:
                state.remove()
            self.model_, self.scaler_, self.history_ = fitted.net, fitted.scaler, fitted.history
            self.input_shape_, self.seed_ = tuple(data.shape), seed
            self.schedule_, self.encoder_ = schedule, encoder
            self._calibrate(data, val_idx, world)
        return self

    def plan(self, X: Any) -> RunPlan:
        """What ``fit(X)`` would do, every ``auto`` setting resolved (``memae.plan``); trains
        nothing and changes nothing on the estimator."""
        data = Samples(_encoded(X, None)[0], "X", min_samples=2)
        device = distributed.local_device(resolve_device(self._checked().device))
        self._check_data(data.shape)
        world = distributed.current()
        if distributed.launched() and world.size == 1:  # under torchrun, before joining
            world = World(0, int(os.environ["WORLD_SIZE"]))
        n_val = len(split_indices(len(data), self.validation_fraction, torch.Generator())[0])
        return self._plan(data, len(data) - n_val, self._build(data.shape), device, world)

    def _checked(self) -> MemAEDetector:
        self._check_params()
        return self

    def _plan(
        self, data: Samples, n_train: int, net: Autoencoder, device: torch.device, world: World
    ) -> RunPlan:
        family = resolve_family(self.model, data.shape, self.family)
        schedule = resolve_schedule(family, n_train, self.epochs, self.batch_size, self.lr)
        if min(schedule.batch_size, n_train) < world.size:
            raise InputError(
                f"{world.size} ranks need a batch_size and training rows of at least as many "
                f"(batch_size {schedule.batch_size}, {n_train} training rows)"
            )
        per_step = schedule.batch_size / world.size
        return RunPlan(
            family=family,
            samples=len(data),
            train_rows=n_train,
            held_out=len(data) - n_train,
            epochs=schedule.epochs,
            batch_size=schedule.batch_size,
            lr=schedule.lr,
            scaling=resolve_mode(self.scaling, len(data.shape)),
            device=str(device),
            ranks=world.size,
            threads=resolve_threads(self.threads, lambda: step_flops(net, data.shape) * per_step),
            loader_workers=self._workers(data, device),
            inference_batch_size=self._inference_batch(data.shape),
            precision=self.precision,
        )

    def _calibrate(self, data: Samples, val_idx: Tensor, world: World) -> None:
        """Set ARNet's view weights, the training scores, the memory usage and the threshold
        from the trained network; each rank scores its part of the data."""
        if self.model_.normalize_views:  # ARNet option: each view's error / its training mean
            self.model_.view_weights.copy_(1.0 / self._view_errors(data).mean(1).clamp_min(1e-12))
        meter = UsageMeter(self.model_.memory.num_slots) if self.model_.memory else None
        mine = world.part(torch.arange(len(data), dtype=INDEX)) if world.size > 1 else None
        scores, _ = self._score(data, meter=meter, indices=mine)
        parts = distributed.gather(world, (scores, meter))
        if len(parts) > 1:
            scores = np.concatenate([part for part, _ in parts])
        self.memory_usage_ = UsageMeter.merge([m for _, m in parts]).summary() if meter else None
        self._warn_collapse()
        self.decision_scores_ = scores
        held_out = scores[val_idx.numpy()] if len(val_idx) else scores
        self.threshold_ = quantile_threshold(held_out, self._quantile())

    def _train_state(
        self,
        state_dir: str | os.PathLike | None,
        resume: bool,
        data: Samples,
        seed: int,
        schedule: Schedule,
        generator: torch.Generator,
    ) -> TrainState | None:
        if state_dir is None:
            if resume:
                raise InputError("resume=True needs the state_dir of the run to continue")
            return None
        fingerprint = {
            "params": persist.jsonable(self.get_params(deep=False) | {"verbose": 0}),
            "samples": len(data),
            "shape": list(data.shape),
            "seed": seed,
            "schedule": dataclasses.asdict(schedule),
        }
        return TrainState(state_dir, fingerprint, generator, resume)

    def _workers(self, data: Samples, device: torch.device) -> int:
        """DataLoader workers: none for arrays; ``auto``: none on CPU, up to 8 with a GPU."""
        if data.dataset is None:
            return 0
        if self.loader_workers != "auto":
            return int(self.loader_workers)
        if device.type != "cuda":
            return 0
        return max(0, min(8, cpu_count() // local_processes() - 1))

    def _check_data(self, shape: tuple[int, ...]) -> None:
        if self.error_sigma and len(shape) < 3:
            raise InputError(f"error_sigma smooths images and clips, not shape {shape}")
        if self.channels_last and len(shape) not in (3, 4):
            raise InputError(f"channels_last is for images and clips, not shape {shape}")

    def _build(self, shape: tuple[int, ...]) -> Autoencoder:
        try:
            return create_model(self.model, shape, family=self.family, **self._model_kwargs())
        except ValueError as exc:
            msg = f"cannot build model {self.model!r} for samples {shape}: {exc}"
            raise InputError(msg) from None

    def _fit_config(
        self, data: Samples, plan: RunPlan, device: torch.device, world: World
    ) -> FitConfig:
        return FitConfig(
            schedule=Schedule(plan.epochs, plan.batch_size, plan.lr),
            weight_decay=float(self.weight_decay),
            lr_schedule=self.lr_schedule,
            scaling=plan.scaling,
            device=device,
            compile=bool(self.compile),
            channels_last=bool(self.channels_last),
            precision=self.precision,
            workers=plan.loader_workers,
            inference_batch_size=plan.inference_batch_size,
            verbose=bool(self.verbose) and world.main,
            world=world,
        )

    def _warn_collapse(self) -> None:
        sign = collapse(self.memory_usage_)
        memory = self.model_.memory
        if sign and not hasattr(memory, "shrink_threshold"):  # MNAD's items: no such settings
            log.warning("memory collapse: %s", sign)
        elif sign:
            log.warning(
                "memory collapse: %s. Address by cosine similarity and re-seed dead slots "
                "(similarity='cosine', model_options reseed=10: conv2d's defaults), lower "
                "shrink_threshold (now %g), or use a memory per location (model_options "
                "memory_on='location')",
                sign,
                memory.shrink_threshold,
            )

    # ------------------------------------------------------------------ scoring
    def decision_function(self, X: Any) -> np.ndarray:
        """Anomaly score per sample: mean squared reconstruction error (higher = more anomalous)."""
        return self._score(self._samples(X), check_range=True)[0]

    def score_maps(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Images and clips: ``decision_function(X)`` and ``error_maps(X)`` from one pass."""
        data = self._image_samples(X)
        scores, maps = self._score(data, maps=True, check_range=True)
        return scores, maps

    def score_samples(self, X: Any) -> np.ndarray:
        """scikit-learn's sign, as ``IsolationForest.score_samples``: higher = more normal, the
        negative of ``decision_function`` (which follows PyOD: higher = more anomalous)."""
        return -self.decision_function(X)

    def predict(self, X: Any, threshold: float | None = None) -> np.ndarray:
        """0 = normal, 1 = anomaly; ``threshold`` overrides the learned ``threshold_``."""
        thr = self._fitted("threshold_") if threshold is None else float(threshold)
        return (self.decision_function(X) > thr).astype(int)

    def error_maps(self, X: Any) -> np.ndarray:
        """Per-position squared error, channel mean: (n, h, w) images, (n, t, h, w) clips."""
        return self.score_maps(X)[1]

    def reconstruct(self, X: Any) -> np.ndarray:
        """Reconstructions in the input's own units (scaling undone)."""
        data = self._samples(X)
        return np.concatenate(
            [
                self.scaler_.inverse(o.model.reconstruction).cpu().numpy()
                for o in self._outputs(data)
            ]
        )

    def restorations(self, X: Any) -> tuple[list[str], np.ndarray, np.ndarray]:
        """ARNet: each erased view of X and the model's restoration of it, in input units.

        -> (view names, erased (V, n, *shape), restored (V, n, *shape)); a plain autoencoder
        has the one view ``"identity"`` (the input and its reconstruction)."""
        net, erased, restored = self._fitted("model_").eval(), [], []
        device = next(net.parameters()).device
        for batch in self._samples(X).batches(batch_size=self._inference_batch()):
            with torch.no_grad():
                views = net.views(self.scaler_(batch.to(device)))
                outs = [net(v).reconstruction for v in views]
            erased.append(torch.stack([self.scaler_.inverse(v) for v in views]).cpu())
            restored.append(torch.stack([self.scaler_.inverse(o) for o in outs]).cpu())
        names = list(self.model_.eraser_names) or ["identity"]
        return names, torch.cat(erased, 1).numpy(), torch.cat(restored, 1).numpy()

    def view_errors(self, X: Any) -> np.ndarray:
        """Mean squared error of each sample under each view, unweighted: (V, n)."""
        return self._view_errors(self._samples(X)).cpu().numpy()

    def addressing(self, X: Any) -> np.ndarray:
        """Memory addressing weights after shrinkage: (n, N) for a flat memory, (n, N, *S) per
        location."""
        data = self._samples(X)
        if self.model_.memory is None:
            raise InputError(f"model {self.model!r} has no memory")
        return np.concatenate([o.model.weights.cpu().numpy() for o in self._outputs(data)])

    def decode_memory(self) -> np.ndarray:
        """Paper Fig. 3: every memory slot decoded on its own, in input units, (N, *shape)."""
        net = self._fitted("model_")
        if net.memory is None:
            raise InputError(f"model {self.model!r} has no memory")
        return self.scaler_.inverse(net.decode_memory_slots()).cpu().numpy()

    # ------------------------------------------------------------------ save / load
    def save(self, path: str | os.PathLike) -> None:
        """Write ``path/config.json`` and ``path/model.safetensors`` (atomically); the format
        is ``memae.persist.schema``'s."""
        self._fitted("model_")
        if not distributed.current().main:  # in a distributed job rank 0 writes
            return
        tensors = {f"model.{k}": v for k, v in self.model_.state_dict().items()}
        tensors |= {f"scaler.{k}": v for k, v in self.scaler_.state_dict().items()}
        tensors["decision_scores"] = torch.from_numpy(self.decision_scores_.astype(np.float32))
        schedule, plan = getattr(self, "schedule_", None), getattr(self, "plan_", None)
        fields = {
            "params": self.saved_params(),
            "input_shape": list(self.input_shape_),
            "scaling": self.scaler_.mode,
            "threshold": self.threshold_,
            "seed": self.seed_,
            "best_epoch": self.history_.best_epoch,
            "schedule": dataclasses.asdict(schedule) if schedule else None,
            "family_defaults": self.family_defaults_,  # those the network was built with
            "memory_usage": self.memory_usage_,
            "run": getattr(self, "run_", None),
            "plan": plan.as_dict() if plan else None,
            "encoder": self.encoder_.as_dict() if getattr(self, "encoder_", None) else None,
        }
        persist.write_model(path, fields, tensors)

    def saved_params(self) -> dict[str, Any]:
        """The parameters as JSON values (a RandomState seed is not saved: None)."""
        params = self.get_params(deep=False)
        if not isinstance(params["random_state"], Integral | type(None)):
            params["random_state"] = None
        return persist.jsonable(params)

    def export_onnx(self, path: str | os.PathLike, opset: int = 17) -> Path:
        """Write the whole detector (scaling, views, network, scoring rule, threshold) as one
        ONNX file, scored by ``memae.onnx.OnnxDetector``; needs ``memae[onnx]``."""
        from .onnx import export

        self._fitted("model_")
        return export(self, path, opset=opset)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> MemAEDetector:
        """Rebuild a saved detector on ``device`` (None: the device it was saved with);
        refuses foreign, newer, corrupt or inconsistent folders with a ``CheckpointError``
        naming the problem."""
        fields, tensors = persist.read_model(path)
        try:
            det = cls(**fields["params"])
            if device is not None:
                det.device = device
            det._check_params()
            shape = tuple(int(s) for s in fields["input_shape"])
            defaults = fields["family_defaults"]
            net = create_model(
                det.model, shape, family=det.family, **{**defaults, **det._model_kwargs()}
            )
            mode = str(fields["scaling"])
            det.threshold_ = float(fields["threshold"])
            if fields.get("schedule"):
                det.schedule_ = Schedule(**fields["schedule"])
            saved = fields.get("encoder")
            det.encoder_ = None if saved is None else TableEncoder.from_dict(saved)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{path}/config.json is inconsistent: {exc}") from None
        if fields.get("plan") is not None:
            try:
                det.plan_ = RunPlan(**fields["plan"])
            except TypeError as exc:
                raise CheckpointError(f"{path}/config.json has a malformed plan: {exc}") from None
        scaler_shape = shape if mode in ("minmax", "standard") else (1,) * len(shape)
        expected = {f"model.{k}": tuple(v.shape) for k, v in net.state_dict().items()}
        expected |= {"scaler.offset": scaler_shape, "scaler.scale": scaler_shape}
        persist.match_tensors(path, expected, tensors)
        net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        det.model_ = net.to(resolve_device(det.device)).eval()
        det.scaler_ = Scaler(mode, tensors["scaler.offset"], tensors["scaler.scale"])
        det.input_shape_ = shape
        det.family_defaults_ = defaults
        det.seed_ = fields.get("seed")
        det.history_ = TrainHistory(best_epoch=int(fields["best_epoch"]))
        det.memory_usage_ = fields.get("memory_usage")
        if fields.get("run") is not None:
            det.run_ = fields["run"]
        det.decision_scores_ = tensors["decision_scores"].double().numpy()
        return det

    # ------------------------------------------------------------------ internals
    def _check_params(self) -> None:
        check_params(self.get_params(deep=False))
        try:
            resolve_device(self.device)
        except ValueError as exc:
            raise InputError(f"invalid parameter: {exc}") from None

    def _model_kwargs(self) -> dict[str, Any]:
        kw = {k: getattr(self, k) for k in MODEL_KEYS if getattr(self, k) is not None}
        return {**kw, **(self.model_options or {})}

    def _quantile(self) -> float:
        return (
            self.threshold_quantile
            if self.threshold_quantile is not None
            else 1 - self.contamination
        )

    def _seed(self) -> int:
        if isinstance(self.random_state, Integral):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    @property
    def n_features_in_(self) -> int:
        """Values per sample seen in ``fit``: d for tables, c*h*w for images, c*t*h*w for clips."""
        return int(np.prod(self._fitted("input_shape_")))

    @property
    def predicts_(self) -> int:
        """Clips: the last frames the model predicts from the others (0: it reconstructs)."""
        return int(self._fitted("model_").predicts)

    @property
    def labels_(self) -> np.ndarray:
        """0/1 labels of the training data: ``decision_scores_`` above ``threshold_`` (derived,
        not stored: on a table of millions of rows that is megabytes)."""
        return (self._fitted("decision_scores_") > self.threshold_).astype(int)

    def _fitted(self, attr: str) -> Any:
        if not hasattr(self, attr):
            raise NotFittedError("this detector is not fitted yet: call fit() or load() first")
        return getattr(self, attr)

    def _samples(self, X: Any) -> Samples:
        self._fitted("model_")
        data = Samples(as_features(X, getattr(self, "encoder_", None)), "X")
        check_shape(data.shape, self.input_shape_)
        return data

    def _image_samples(self, X: Any) -> Samples:
        data = self._samples(X)
        if len(data.shape) < 3:
            raise InputError("error maps exist for images and clips, not for vectors")
        return data

    def scorer(self) -> Scorer:
        """The one scoring path (``memae.scoring.Scorer``) of the fitted model under this
        detector's ``error_sigma`` and ``error_top``; a torch module, in eval mode."""
        net = self._fitted("model_")
        scorer = Scorer(net, self.scaler_, self.error_sigma, self.error_top)
        return scorer.to(next(net.parameters()).device).eval()

    @torch.no_grad()
    def _outputs(self, data: Samples, indices: Tensor | None = None) -> Iterator[ScoreOutput]:
        """The scorer's output per inference batch of ``indices`` (all samples), in order."""
        scorer = self.scorer()
        device = scorer.offset.device
        with torch_threads(self._scoring_threads()):
            for batch in data.batches(indices, batch_size=self._inference_batch()):
                yield scorer(batch.to(device))

    def _inference_batch(self, shape: tuple[int, ...] | None = None) -> int:
        """The scoring batch for samples of ``shape`` (the fitted model's by default)."""
        rank = len(shape if shape is not None else self._fitted("input_shape_"))
        return resolve_inference_batch(self.inference_batch_size, rank)

    def _scoring_threads(self) -> int:
        """``threads`` for a scoring pass; the FLOPs of a batch are counted once per model."""
        if next(self.model_.parameters()).device.type != "cpu":
            return torch.get_num_threads()  # a GPU scores; the CPU threads hardly matter
        batch = self._inference_batch()
        flops = lambda: _sample_flops(self.model_, tuple(self.input_shape_)) * batch  # noqa: E731
        return resolve_threads(self.threads, flops)

    @torch.no_grad()
    def _view_errors(self, data: Samples) -> Tensor:
        """(V, n): mean squared error of each sample under each view, unweighted."""
        scorer, parts = self.scorer(), []
        for batch in data.batches(batch_size=self._inference_batch()):
            errs, _, _ = scorer.view_errors(batch.to(scorer.offset.device))
            parts.append(errs.flatten(2).mean(2))
        return torch.cat(parts, 1)

    def _score(
        self,
        data: Samples,
        meter: UsageMeter | None = None,
        maps: bool = False,
        check_range: bool = False,
        indices: Tensor | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """-> (scores (n,), error maps (n, *map) when ``maps``) in one pass; ``meter`` counts
        the memory addressing; ``check_range`` warns of data unlike the training data's range."""
        scores = np.empty(len(data) if indices is None else len(indices))  # filled in place
        error_maps, ranges, n = [], [], 0
        for out in self._outputs(data, indices):
            ranges.append(out.input_range.tolist())  # floats: no small tensors left in the heap
            scores[n : n + len(out.score)] = out.score.double().cpu().numpy()
            n += len(out.score)
            if maps:
                error_maps.append(out.error_map.cpu().numpy())
            if meter is not None and out.model.weights is not None:
                meter.update(out.model.weights)
        all_scores = checked_scores(scores, ranges if check_range else None, self.scaler_.mode)
        return all_scores, (np.concatenate(error_maps) if maps else None)


def _encoded(X: Any, encoder: TableEncoder | None) -> tuple[Any, TableEncoder | None]:
    """-> (the samples, the table encoder): a DataFrame encoded by ``encoder``, or by one
    fitted on it; anything else as it is."""
    if is_frame(X) and encoder is None:
        encoder = TableEncoder.fit_frame(X)
    return as_features(X, encoder), encoder


# the FLOPs of one sample per fitted network, counted once: a cache beside the estimator, so
# that scoring leaves the estimator's own state unchanged
_FLOPS: weakref.WeakKeyDictionary[Autoencoder, dict] = weakref.WeakKeyDictionary()


def _sample_flops(net: Autoencoder, shape: tuple[int, ...]) -> float:
    known = _FLOPS.setdefault(net, {})
    if shape not in known:
        known[shape] = step_flops(net, shape, train=False)
    return known[shape]


def _warn_if_oversized(net: Autoencoder, values: int) -> None:
    """A large model with far more parameters than the training data has values memorises
    it (small tables under the mlp preset's floor widths are not warned about)."""
    params = count_parameters(net)
    if params > 20 * values and params > 100_000:
        log.warning(
            "the model has %s parameters for %s training values (%.0fx): it can memorise the "
            "data; use a narrower net (model_options hidden=[...], layers, channels) or more rows",
            f"{params:,}",
            f"{values:,}",
            params / values,
        )
