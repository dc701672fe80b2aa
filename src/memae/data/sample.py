"""The embedded real-data sample: 6,000 MNIST digits shipped inside the package."""

from __future__ import annotations

from importlib import resources

import numpy as np


def load_mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """-> images (6000, 1, 28, 28) uint8, labels (6000,) int64 (see MNIST_SAMPLE.md)."""
    with (
        resources.files("memae.data").joinpath("mnist_sample.npz").open("rb") as fh,
        np.load(fh) as z,
    ):
        return z["images"][:, None].copy(), z["labels"].astype(np.int64)
