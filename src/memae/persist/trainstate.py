"""A run's training state, saved after epochs so that a stopped or killed run resumes: the
weights, Adam's moments, the lr schedule, the RNG states (torch's and the shuffling
generator's), the loss history and the best epoch's weights. A folder of safetensors + JSON
written like a model folder (``atomic.write_folder``: whole or not at all); nothing is
pickled. Resuming on the same machine and thread count continues the run bit for bit.

It is saved after the first and the last epoch, and after each epoch between that ends at
least 1 / ``SAVE_SHARE`` times the last save's duration after that save: every epoch once
epochs take longer than ~100 saves (a fraction of a second for a small net), every few epochs
for tiny fits, so keeping a state slows a fit by at most ~1%, and a killed tiny fit redoes at
most that much training."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import CheckpointError
from ..fitting import TrainHistory
from .atomic import read_folder, recover, write_folder

FORMAT = "memae.train_state"
SAVE_SHARE = 0.01  # the share of training time that saving the state may take


class TrainState:
    """The ``StateStore`` of one run: ``path`` is the state folder; ``fingerprint`` what must
    match for a state to be resumed (the parameters, data size and schedule); ``resume``
    whether to continue the state there (otherwise an old state is replaced)."""

    def __init__(
        self,
        path: str | os.PathLike,
        fingerprint: dict[str, Any],
        generator: torch.Generator,
        resume: bool = False,
    ) -> None:
        self.path = Path(path)
        self.fingerprint = fingerprint
        self.generator = generator
        self.resume = resume
        self._due = 0.0  # perf_counter time before which a save is skipped (SAVE_SHARE)

    def save(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        schedule: Any,
        history: TrainHistory,
        best: dict[str, Tensor] | None,
        final: bool = False,
    ) -> None:
        """Save after an epoch when due (``SAVE_SHARE``), and after the ``final`` one always."""
        start = time.perf_counter()
        if start < self._due and not final:
            return
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        tensors |= {f"best.{k}": v for k, v in (best or {}).items()}
        opt_state = opt.state_dict()
        for i, per_param in opt_state["state"].items():
            for name, value in per_param.items():
                tensors[f"opt.{i}.{name}"] = torch.as_tensor(value)
        tensors["rng.torch"] = torch.get_rng_state()
        tensors["rng.shuffle"] = self.generator.get_state()
        config = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "epochs_done": len(history.train_loss),
            "train_loss": history.train_loss,
            "val_loss": history.val_loss,
            "best_epoch": history.best_epoch,
            "opt_param_groups": opt_state["param_groups"],
            "schedule": schedule.state_dict() if schedule is not None else None,
        }
        write_folder(self.path, config, tensors, kind="state")
        end = time.perf_counter()
        self._due = end + (end - start) / SAVE_SHARE

    def load(
        self, model: nn.Module, opt: torch.optim.Optimizer, schedule: Any
    ) -> tuple[TrainHistory, dict[str, Tensor] | None] | None:
        """Restore a saved state into ``model``, ``opt``, ``schedule`` and the RNGs -> (history,
        best weights); None when there is nothing to resume."""
        if not self.resume:
            return None
        if not self.path.exists():
            raise CheckpointError(f"no training state to resume at {self.path}")
        config, tensors = read_folder(self.path)
        if config.get("format") != FORMAT:
            raise CheckpointError(f"{self.path} is not a memae training state")
        if config.get("fingerprint") != self.fingerprint:
            raise CheckpointError(
                f"{self.path} is the state of another run (other parameters, data size or schedule)"
            )
        try:
            model.load_state_dict(_part(tensors, "model."))
            best = _part(tensors, "best.") or None
            state = {}
            for key, value in tensors.items():
                if key.startswith("opt."):
                    _, i, name = key.split(".", 2)
                    state.setdefault(int(i), {})[name] = value
            opt.load_state_dict({"state": state, "param_groups": config["opt_param_groups"]})
            if schedule is not None:
                schedule.load_state_dict(config["schedule"])
            torch.set_rng_state(tensors["rng.torch"])
            self.generator.set_state(tensors["rng.shuffle"])
            losses = list(config["train_loss"])
            history = TrainHistory(
                losses, list(config["val_loss"]), int(config["best_epoch"]), len(losses)
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"{self.path} is inconsistent: {exc}") from None
        return history, best

    def remove(self) -> None:
        remove(self.path)


def present(path: str | os.PathLike) -> bool:
    """Whether ``path`` holds a training state to resume (after finishing a killed save)."""
    path = Path(path)
    recover(path)
    return path.is_dir()


def remove(path: str | os.PathLike) -> None:
    """Discard the training state at ``path`` (once what it was kept for is saved)."""
    shutil.rmtree(path, ignore_errors=True)


def _part(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
