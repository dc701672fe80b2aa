"""The one atomic writer: files, staged output folders and model or state folders are written
whole or not at all (a temporary name beside the target, then a rename), with the modes a
plain ``open`` / ``mkdir`` would give under the umask, and one sha256 for the weights."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import safetensors.torch
from safetensors import SafetensorError
from torch import Tensor

from .. import faults
from ..errors import CheckpointError

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def usual_modes(path: Path) -> None:
    """Temporary files and folders are created 0600 / 0700; give ``path`` (and what it holds)
    0666 / 0777 less the umask, as ``open`` and ``mkdir`` do."""
    mask = os.umask(0)
    os.umask(mask)
    for entry in [path, *(path.rglob("*") if path.is_dir() else [])]:
        if not entry.is_symlink():
            os.chmod(entry, (0o777 if entry.is_dir() else 0o666) & ~mask)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` fills a temporary file beside ``path``, which then replaces ``path``: a
    failure leaves ``path`` as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        usual_modes(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8", newline=""))


@contextmanager
def staged_outputs(folder: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``folder`` for a run's outputs. When the block ends without
    an error each file moves into ``folder`` (one rename each); after an error nothing moves,
    so a failed run leaves earlier outputs untouched."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        yield stage
        usual_modes(stage)
        for entry in sorted(stage.rglob("*")):
            if entry.is_file():
                dest = folder / entry.relative_to(stage)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(entry, dest)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# ----------------------------------------------------------------- folders of JSON + weights
def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _backup(folder: Path) -> Path:
    return folder.parent / f".{folder.name}.old"


def recover(folder: str | os.PathLike) -> None:
    """Finish what a killed write left: the old folder put back if the new one never arrived,
    a leftover backup or temporary folder removed."""
    folder = Path(folder)
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


def write_folder(
    folder: str | os.PathLike,
    config: dict[str, Any],
    tensors: dict[str, Tensor],
    kind: str = "model",
) -> None:
    """Write ``config.json`` and ``model.safetensors`` into ``folder`` whole or not at all: a
    temporary folder beside it is filled (the weights, their sha256 in the config, the config;
    other files of an existing folder linked in), then swapped in by two renames. A kill at any
    step leaves the old folder or the new one (``recover`` puts the old one back if the kill
    fell between the renames). ``kind`` names the fault points ("model swap", "state weights")."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise CheckpointError(f"cannot save the model to {folder}: it is a file, not a folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    recover(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        weights = safetensors.torch.save({k: _own(v) for k, v in tensors.items()})
        (tmp / WEIGHTS).write_bytes(weights)
        faults.point(f"{kind} weights")
        config = {**config, "files": {WEIGHTS: sha256(weights)}}
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        faults.point(f"{kind} config")
        _keep_other_files(folder, tmp)
        usual_modes(tmp)
        backup = _backup(folder)
        if folder.exists():
            os.rename(folder, backup)
            faults.point(f"{kind} backup")
        os.rename(tmp, folder)
        faults.point(f"{kind} swap")
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


def read_folder(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """-> (config, tensors) of a folder ``write_folder`` wrote, or a ``CheckpointError``
    naming the problem (missing, not a folder, corrupt JSON, checksum, truncated weights)."""
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
    if sha256(weights) != files[WEIGHTS]:
        raise CheckpointError(
            f"{folder / WEIGHTS} is corrupt or truncated: its sha256 differs from the one "
            f"{CONFIG} records"
        )
