"""A run's training state, saved after every epoch so that a stopped or killed run resumes:
the weights, Adam's moments, the lr schedule, the RNG states (torch's and the shuffling
generator's), the loss history and the best epoch's weights. A folder of safetensors + JSON
written like a model folder (``memae.checkpoint.write``: whole or not at all); nothing is
pickled. Resuming on the same machine and thread count continues the run bit for bit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from . import checkpoint
from .errors import CheckpointError
from .fitting import TrainHistory

FORMAT = "memae.train_state"


class TrainState:
    """The ``StateStore`` of one run: ``path`` is the state folder; ``fingerprint`` what must
    match for a state to be resumed (the parameters, data size and schedule); ``resume``
    whether to continue a state found there (otherwise an old state is replaced)."""

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

    def save(
        self,
        model: nn.Module,
        opt: torch.optim.Optimizer,
        schedule: Any,
        history: TrainHistory,
        best: dict[str, Tensor] | None,
    ) -> None:
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
        checkpoint.write(self.path, config, tensors, kind="state")

    def load(
        self, model: nn.Module, opt: torch.optim.Optimizer, schedule: Any
    ) -> tuple[TrainHistory, dict[str, Tensor] | None] | None:
        """Restore a saved state into ``model``, ``opt``, ``schedule`` and the RNGs -> (history,
        best weights); None when there is nothing to resume."""
        if not self.resume:
            return None
        if not self.path.exists():
            raise CheckpointError(f"no training state to resume at {self.path}")
        config, tensors = checkpoint.read(self.path)
        if config.get("format") != FORMAT:
            raise CheckpointError(f"{self.path} is not a memae training state")
        if config.get("fingerprint") != self.fingerprint:
            raise CheckpointError(
                f"{self.path} is the state of another run (other parameters or data); "
                "train without --resume to start over"
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
        shutil.rmtree(self.path, ignore_errors=True)


def _part(tensors: dict[str, Tensor], prefix: str) -> dict[str, Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
