"""Checkpoints: a folder with ``config.json`` and ``model.safetensors``, written atomically.

Loading reads JSON and safetensors only: nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor

from .errors import CheckpointError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a temporary file beside ``path``, then rename: a failure leaves ``path`` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    folder: str | os.PathLike, config: dict[str, Any], tensors: dict[str, Tensor]
) -> None:
    """Write both files into a temporary folder first; then move them into ``folder``."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"cannot save the model to {folder}: it is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp / WEIGHTS)
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if not folder.exists():
            os.replace(tmp, folder)
            return
        for name in (WEIGHTS, CONFIG):  # each replace is atomic; config last marks completion
            os.replace(tmp / name, folder / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_checkpoint(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    folder = Path(folder)
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
    try:
        tensors = load_file(folder / WEIGHTS)
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{folder / WEIGHTS} is corrupt or truncated: {msg}") from None
    return config, tensors
