"""MNIST-style IDX files (raw or .gz): images -> (n, 1, h, w) uint8, labels -> (n,) int64."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import InputError

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def is_idx(path: str | os.PathLike) -> bool:
    """True when the file starts with an IDX magic number (two zero bytes, a type, a rank)."""
    try:
        with _open(path) as fh:
            head = fh.read(4)
    except (OSError, EOFError, gzip.BadGzipFile):
        return False
    return len(head) == 4 and head[:2] == b"\0\0" and head[2] in _DTYPES and 1 <= head[3] <= 4


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file; images gain a channel axis: (n, 1, h, w)."""
    path = Path(path)
    try:
        with _open(path) as fh:
            raw = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read IDX file {path}: {exc}") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _DTYPES:
        raise InputError(f"{path} is not an IDX file (bad magic number)")
    rank = raw[3]
    if len(raw) < 4 + 4 * rank:
        raise InputError(f"{path} is truncated (header incomplete)")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(rank))
    dtype = np.dtype(_DTYPES[raw[2]])
    need = int(np.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * rank :]
    if len(body) < need:
        raise InputError(f"{path} is truncated: {len(body)} of {need} data bytes present")
    arr = np.frombuffer(body[:need], dtype=dtype).reshape(dims)
    if rank == 3:
        return arr[:, None].copy()
    return arr.astype(np.int64) if rank == 1 else arr.copy()


def _open(path: str | os.PathLike):
    path = Path(path)
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if gz else open(path, "rb")  # noqa: SIM115
