"""Checkpoint format v1: a model folder with ``config.json`` and ``model.safetensors``.

``config.json`` holds the format tag and version, the estimator's parameters, the input shape,
the scaling mode, the threshold, the seed, the best epoch, the resolved training schedule and
the memory usage and how it was trained (``run``: ranks, backend, device, threads, precision;
absent in older folders); ``model.safetensors`` the network (``model.*``), the scaler
(``scaler.*``) and the training scores (``decision_scores``). Loading reads JSON and
safetensors only: nothing is ever unpickled, and every tensor is checked against the network
the config builds.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import math
import os
import shutil
import tempfile
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import safetensors.torch
import torch
from safetensors import SafetensorError
from safetensors.torch import save_file
from torch import Tensor

from . import __version__, distributed
from .errors import CheckpointError
from .fitting import Schedule, TrainHistory, fault_point, resolve_device
from .io import usual_modes
from .models import create_model, family_defaults, resolve_family
from .models.registry import BOTTLENECK_DEFAULTS
from .plan import RunPlan
from .preprocessing import Scaler

if TYPE_CHECKING:
    from .detector import MemAEDetector

FORMAT = "memae.detector"
FORMAT_VERSION = 2  # 2: the family's own defaults are recorded (an older memae refuses it)
CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def save(det: MemAEDetector, path: str | os.PathLike) -> None:
    """Write the fitted detector ``det`` to the folder ``path`` (see ``write``); in a
    distributed job rank 0 writes and the other ranks do nothing."""
    if not distributed.current().main:
        return
    tensors = {f"model.{k}": v for k, v in det.model_.state_dict().items()}
    tensors |= {f"scaler.{k}": v for k, v in det.scaler_.state_dict().items()}
    tensors["decision_scores"] = torch.from_numpy(det.decision_scores_.astype(np.float32))
    schedule = getattr(det, "schedule_", None)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "memae_version": __version__,
        "params": saved_params(det),
        "input_shape": list(det.input_shape_),
        "scaling": det.scaler_.mode,
        "threshold": det.threshold_,
        "seed": det.seed_,
        "best_epoch": det.history_.best_epoch + 1,  # counted from 1, as printed everywhere
        "epochs_counted_from": 1,
        "schedule": dataclasses.asdict(schedule) if schedule else None,
        "family_defaults": det.family_defaults_,  # those the network was built with
        "memory_usage": det.memory_usage_,
        "run": getattr(det, "run_", None),  # how it was trained: ranks, backend, precision
        # every auto setting as the fit resolved it (memae.plan)
        "plan": det.plan_.as_dict() if getattr(det, "plan_", None) else None,
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
    }
    write(path, config, tensors)


def saved_params(det: MemAEDetector) -> dict[str, Any]:
    """The detector's parameters as JSON values (a RandomState seed is not saved: None)."""
    params = det.get_params(deep=False)
    if not isinstance(params["random_state"], Integral | type(None)):
        params["random_state"] = None
    return jsonable(params)


def load(cls: type[MemAEDetector], path: str | os.PathLike, device: str | None) -> MemAEDetector:
    """Rebuild a detector from ``path``; refuses foreign, newer, corrupt or inconsistent
    folders with a ``CheckpointError`` naming the problem."""
    config, tensors = read(path)
    _check_format(path, config)
    try:
        det = cls(**config["params"])
        if device is not None:
            det.device = device
        det._check_params()
        shape = tuple(int(s) for s in config["input_shape"])
        defaults = _family_defaults_as_saved(det, shape, config)
        net = create_model(
            det.model, shape, family=det.family, **{**defaults, **det._model_kwargs()}
        )
        threshold = float(config["threshold"])
        mode = str(config["scaling"])
        schedule = Schedule(**config["schedule"]) if config.get("schedule") else None
        # folders written before epochs_counted_from counted the best epoch from 0
        first = int(config.get("epochs_counted_from", 0))
        history = TrainHistory(best_epoch=int(config.get("best_epoch", first - 1)) - first)
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}/config.json is inconsistent: {exc}") from None
    _drop_unused_view_weights(path, net, tensors)
    scaler_shape = shape if mode in ("minmax", "standard") else (1,) * len(shape)
    expected = {f"model.{k}": tuple(v.shape) for k, v in net.state_dict().items()}
    expected |= {"scaler.offset": scaler_shape, "scaler.scale": scaler_shape}
    check_tensors(path, expected, tensors)
    if "decision_scores" not in tensors or tensors["decision_scores"].dim() != 1:
        raise CheckpointError(f"{path}/model.safetensors lacks the training scores")
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    det.model_ = net.to(resolve_device(det.device)).eval()
    det.scaler_ = Scaler(mode, tensors["scaler.offset"], tensors["scaler.scale"])
    det.input_shape_ = shape
    det.family_defaults_ = defaults
    det.threshold_ = threshold
    det.seed_ = config.get("seed")
    det.history_ = history
    if schedule is not None:
        det.schedule_ = schedule
    det.memory_usage_ = config.get("memory_usage")
    if config.get("run") is not None:
        det.run_ = config["run"]
    if config.get("plan") is not None:
        try:
            det.plan_ = RunPlan(**config["plan"])
        except TypeError as exc:
            raise CheckpointError(f"{path}/config.json has a malformed plan: {exc}") from None
    det.decision_scores_ = tensors["decision_scores"].double().numpy()
    return det


def _family_defaults_as_saved(
    det: MemAEDetector, shape: tuple[int, ...], config: dict
) -> dict[str, Any]:
    """The family's defaults as they were when the model was built, for every key it records
    or sets today (folders written before families had defaults of their own were built with
    the global ones)."""
    saved = config.get("family_defaults", {})
    now = family_defaults(resolve_family(det.model, shape, det.family))
    return {k: saved.get(k, BOTTLENECK_DEFAULTS[k]) for k in {*saved, *now}}


def _drop_unused_view_weights(path: Any, net: torch.nn.Module, tensors: dict) -> None:
    """Folders written before only restoring models had view weights carry all-ones weights
    for every model; a model without views drops them."""
    if "view_weights" in net.state_dict() or "model.view_weights" not in tensors:
        return
    if not bool((tensors.pop("model.view_weights") == 1).all()):
        raise CheckpointError(f"{path}: view weights on a model that has no views")


KNOWN_KEYS = {
    "format",
    "format_version",
    "memae_version",
    "params",
    "input_shape",
    "scaling",
    "threshold",
    "seed",
    "best_epoch",
    "epochs_counted_from",
    "schedule",
    "family_defaults",
    "memory_usage",
    "run",
    "plan",
    "tensors",
    "files",
}


def _check_format(path: Any, config: dict[str, Any]) -> None:
    if config.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a memae detector (config format is "
            f"{config.get('format')!r}, expected {FORMAT!r})"
        )
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer memae ({config.get('memae_version')}); "
            "upgrade to load it"
        )
    unknown = sorted(set(config) - KNOWN_KEYS)
    if unknown:
        raise CheckpointError(f"{path}/config.json has unknown keys: {_few(unknown)}")
    threshold = config.get("threshold")
    if not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise CheckpointError(f"{path}/config.json: the threshold {threshold!r} is not a number")


def check_tensors(path: Any, expected: dict[str, tuple], tensors: dict[str, Tensor]) -> None:
    """Every expected tensor present with its shape, nothing else but the training scores,
    every float finite."""
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected) - {"decision_scores"})
    wrong = sorted(
        k for k in set(expected) & set(tensors) if tuple(tensors[k].shape) != expected[k]
    )
    problems = []
    if missing:
        problems.append(f"missing {_few(missing)}")
    if extra:
        problems.append(f"unexpected {_few(extra)}")
    if wrong:
        problems.append(
            ", ".join(f"{k} is {tuple(tensors[k].shape)} not {expected[k]}" for k in wrong[:3])
        )
    if problems:
        raise CheckpointError(f"{path}: weights do not match the config: {'; '.join(problems)}")
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{path}: weights contain NaN or infinite values ({_few(bad)})")


def _backup(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.old"


def recover(folder: Path) -> None:
    """Finish what a killed save left: the old folder put back if the new one never arrived,
    a leftover backup or temporary folder removed."""
    backup = _backup(folder)
    if backup.is_dir():
        if folder.exists():
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.rename(backup, folder)
    for stale in folder.parent.glob(f".{glob.escape(folder.name)}.*.tmp"):
        shutil.rmtree(stale, ignore_errors=True)


def _own(t: Tensor) -> Tensor:
    """``t`` on the CPU, contiguous, in storage of its own (safetensors refuses tensors that
    share one, as a training state's do: slices of one flat parameter, ``fitting``)."""
    t = t.detach().cpu().contiguous()
    return t if t.untyped_storage().nbytes() == t.nbytes else t.clone()


def write(
    folder: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, Tensor],
    kind: str = "model",
) -> None:
    """Write the model folder whole or not at all: a temporary folder beside it is filled
    (the weights, their sha256 in the config, the config; other files of an existing folder
    linked in), then swapped in by two renames. A kill at any step leaves the old folder or the
    new one (``recover`` puts the old one back if the kill fell between the renames).
    ``kind`` names the folder in the test fault points ("model swap", "state weights")."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"cannot save the model to {folder}: it is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        save_file({k: _own(v) for k, v in tensors.items()}, tmp / WEIGHTS)
        fault_point(f"{kind} weights")
        config = {**config, "files": {WEIGHTS: sha256(tmp / WEIGHTS)}}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        fault_point(f"{kind} config")
        _keep_other_files(folder, tmp)
        usual_modes(tmp)
        backup = _backup(folder)
        if folder.exists():
            os.rename(folder, backup)
            fault_point(f"{kind} backup")
        os.rename(tmp, folder)
        fault_point(f"{kind} swap")
        shutil.rmtree(backup, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _keep_other_files(folder: Path, tmp: Path) -> None:
    """Hard-link (copy across devices) what else the old folder holds into the new one."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        if entry.name in (CONFIG, WEIGHTS):
            continue
        if entry.is_dir():
            shutil.copytree(entry, tmp / entry.name, copy_function=_link_or_copy)
        else:
            _link_or_copy(entry, tmp / entry.name)


def _link_or_copy(src: Any, dst: Any) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """-> (config, tensors) of a model folder, or a ``CheckpointError`` naming the problem."""
    folder = Path(folder)
    if folder.parent.is_dir():
        recover(folder)
    if not folder.exists():
        raise CheckpointError(f"model folder {folder} does not exist")
    if not folder.is_dir():
        raise CheckpointError(
            f"{folder} is a file; a model is a folder with {CONFIG} and {WEIGHTS}"
        )
    for name in (CONFIG, WEIGHTS):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder} is not a memae model folder: {name} is missing")
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder / CONFIG} is corrupt: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{folder / CONFIG} is not a memae config (not a JSON object)")
    weights = (folder / WEIGHTS).read_bytes()  # read once: checked, then parsed
    _check_files(folder, config.get("files"), weights)
    try:
        tensors = safetensors.torch.load(weights)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{folder / WEIGHTS} is corrupt or truncated: {msg}") from None
    return config, tensors


def _check_files(folder: Path, files: Any, weights: bytes) -> None:
    """The checksum the config records of the ``weights`` bytes (folders saved before
    checksums have none)."""
    if files is None:
        return
    if not isinstance(files, dict) or set(files) != {WEIGHTS}:
        raise CheckpointError(f"{folder / CONFIG}: 'files' must hold the sha256 of {WEIGHTS}")
    if hashlib.sha256(weights).hexdigest() != files[WEIGHTS]:
        raise CheckpointError(
            f"{folder / WEIGHTS} is corrupt or truncated: its sha256 differs from the one "
            f"{CONFIG} records"
        )


def _few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
