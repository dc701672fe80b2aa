"""Checks on input data: one place that turns bad arrays into clear InputErrors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import scipy.sparse
import torch
from torch.utils.data import Dataset

from .errors import InputError, NonNumericError

KINDS = {2: "vectors (n, d)", 4: "images (n, c, h, w)", 5: "clips (n, c, t, h, w)"}


def check_array(X: Any, name: str = "X", min_samples: int = 1) -> np.ndarray:
    """-> a real numeric array of rank 2, 4 or 5 with finite values and at least
    ``min_samples`` rows, in its own dtype (a memory map stays one: checked block by block)."""
    arr = _numeric(X, name)
    if arr.ndim not in KINDS:
        hint = {
            1: " (Reshape your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for "
            "one sample)",
            3: " (add a channel axis for grayscale images: X[:, None])",
        }.get(arr.ndim, "")
        raise InputError(
            f"{name} has shape {arr.shape}; expected {', '.join(KINDS.values())}{hint}"
        )
    if arr.size == 0:  # scikit-learn's wording
        what = "sample(s)" if arr.shape[0] == 0 else "feature(s)"
        raise InputError(
            f"{name} is empty: 0 {what} (shape={arr.shape}) while a minimum of "
            f"{max(min_samples, 1) if arr.shape[0] == 0 else 1} is required."
        )
    if arr.shape[0] < min_samples:
        raise InputError(f"{name} has {arr.shape[0]} sample(s); at least {min_samples} needed")
    if np.issubdtype(arr.dtype, np.floating):
        _check_values(arr, name)
    return arr


def _numeric(X: Any, name: str) -> np.ndarray:
    """X as a real numeric array (numbers held as Python objects converted), or an error."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    if scipy.sparse.issparse(X):
        raise InputError(f"{name} is a sparse matrix: sparse input is not supported (X.toarray())")
    try:
        arr = np.asarray(X)
        if arr.dtype == object:
            arr = arr.astype(np.float64)
    except TypeError as exc:  # objects that are not numbers
        raise NonNumericError(f"{name} has non-numeric values ({exc}); encode them first") from None
    except ValueError as exc:  # ragged lists, or strings
        raise InputError(f"{name} cannot be read as numbers: {exc}") from None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise NonNumericError(
            f"{name} has non-numeric values (dtype {arr.dtype}); encode them first"
        )
    if np.iscomplexobj(arr):
        raise InputError(f"{name}: Complex data not supported (dtype {arr.dtype}); give reals")
    return arr


def _blocks(arr: np.ndarray, values: int = 1 << 22) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) blocks of about ``values`` values each, for bounded extra memory."""
    step = max(1, values // max(1, arr[0].size))
    for start in range(0, len(arr), step):
        yield start, arr[start : start + step]


def _check_values(arr: np.ndarray, name: str) -> None:
    """NaN, infinite values and values that float32 cannot hold, block by block."""
    limit = float(np.finfo(np.float32).max)
    bad, first = 0, None
    for start, block in _blocks(arr):
        wrong = ~np.isfinite(block)
        if arr.dtype.itemsize > 4:
            wrong |= np.abs(block) > limit
        if wrong.any():
            bad += int(wrong.sum())
            if first is None:
                first = start + int(np.flatnonzero(wrong.reshape(len(block), -1).any(1))[0])
    if bad:
        raise InputError(
            f"{name} contains {bad} NaN or infinite value(s) (in float32), first in sample {first}"
        )


def check_finite_batch(batch: torch.Tensor, name: str = "X") -> None:
    """For data streamed from a Dataset, where the whole array is never in memory."""
    if not torch.isfinite(batch).all():
        raise InputError(f"{name} contains NaN or infinite values")


def dataset_sample_shape(dataset: Dataset, name: str = "X", min_samples: int = 1) -> tuple:
    """Shape of one sample of a torch Dataset (items are tensors or (tensor, ...) tuples)."""
    try:
        n = len(dataset)  # type: ignore[arg-type]
    except TypeError:
        raise InputError(f"{name} is a Dataset without __len__; memae needs its size") from None
    if n < min_samples:
        raise InputError(f"{name} has {n} sample(s); at least {min_samples} needed")
    first = torch.as_tensor(first_item(dataset[0]))
    if first.dim() + 1 not in KINDS:
        raise InputError(
            f"{name} items have shape {tuple(first.shape)}; expected one sample of "
            f"{', '.join(KINDS.values())}"
        )
    return tuple(first.shape)


def first_item(item: Any) -> Any:
    """Dataset items may be (x, label, ...) tuples: the data is the first element."""
    return item[0] if isinstance(item, tuple | list) else item


def check_shape(
    sample_shape: tuple, expected: tuple, name: str = "X", owner: str = "MemAEDetector"
) -> None:
    """Refuse samples whose shape is not the one the model was trained on."""
    if tuple(sample_shape) == tuple(expected):
        return
    if len(sample_shape) == len(expected) == 1:  # scikit-learn's wording, for tables
        raise InputError(
            f"{name} has {sample_shape[0]} features, but {owner} is expecting "
            f"{expected[0]} features as input (the model was trained on {tuple(expected)})"
        )
    raise InputError(
        f"{name} samples have shape {tuple(sample_shape)} but the model was trained on "
        f"{tuple(expected)}"
    )
