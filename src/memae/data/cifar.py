"""CIFAR-10 / CIFAR-100 "python version" batches, read with a restricted unpickler.

The batches are Python pickles; this reader only lets the unpickler build numpy arrays and plain
containers, so a tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from ..errors import InputError

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """One pickled batch -> dict with str keys (data, labels / fine_labels / coarse_labels)."""
    try:
        with open(path, "rb") as fh:
            raw = _SafeUnpickler(fh, encoding="bytes").load()
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise InputError(f"cannot read CIFAR batch {path}: {exc}") from None
    if not isinstance(raw, dict) or b"data" not in raw and "data" not in raw:
        raise InputError(f"{path} is not a CIFAR batch (no 'data' entry)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in raw.items()}


def _images(batch: dict, path: Path) -> np.ndarray:
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise InputError(f"{path}: CIFAR data must be (n, 3072), got {data.shape}")
    return data.reshape(-1, 3, 32, 32)


def _find(root: Path, names: list[str], subdir: str) -> Path:
    for base in (root, root / subdir):
        if all((base / n).is_file() for n in names):
            return base
    raise InputError(f"{root} holds no CIFAR files {names[0]}... (nor {root / subdir})")


def load_cifar10(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> train images (50000, 3, 32, 32) uint8, train labels, test images, test labels."""
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    base = _find(Path(root), names, "cifar-10-batches-py")
    parts = []
    for group in (names[:5], names[5:]):
        batches = [(read_batch(base / n), base / n) for n in group]
        X = np.concatenate([_images(b, p) for b, p in batches])
        y = np.concatenate([np.asarray(b["labels"], dtype=np.int64) for b, _ in batches])
        parts += [X, y]
    return tuple(parts)  # type: ignore[return-value]


def load_cifar100(root: str | Path, coarse: bool = True):
    """CIFAR-100 by its 20 superclasses (``coarse``) or 100 classes: same layout as CIFAR-10."""
    base = _find(Path(root), ["train", "test"], "cifar-100-python")
    key = "coarse_labels" if coarse else "fine_labels"
    parts = []
    for name in ("train", "test"):
        batch = read_batch(base / name)
        if key not in batch:
            raise InputError(f"{base / name} has no {key}")
        parts += [_images(batch, base / name), np.asarray(batch[key], dtype=np.int64)]
    return tuple(parts)
