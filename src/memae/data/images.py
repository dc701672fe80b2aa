"""Labelled image datasets for one-class benchmarks: MNIST, Fashion-MNIST, CIFAR-10/100, folders.

``load_image_dataset(name, root)`` -> ``ImageDataset`` with the official train/test split,
images as uint8 (n, c, h, w) and integer class labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .cifar import load_cifar10, load_cifar100
from .idx import read_idx
from .readers import read_image_folder

DATASETS = ("mnist", "fashion-mnist", "cifar10", "cifar100", "folder")
MNIST_CLASSES = [str(i) for i in range(10)]
FASHION_CLASSES = [
    "t-shirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle-boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]


@dataclass
class ImageDataset:
    name: str
    train_X: np.ndarray  # (n, c, h, w) uint8
    train_y: np.ndarray  # (n,) int class index
    test_X: np.ndarray | None
    test_y: np.ndarray | None
    classes: list[str]

    def all(self) -> tuple[np.ndarray, np.ndarray]:
        """Train and test together (the MemAE paper's protocol splits each class itself)."""
        if self.test_X is None:
            return self.train_X, self.train_y
        return np.concatenate([self.train_X, self.test_X]), np.concatenate(
            [self.train_y, self.test_y]
        )


def _idx_file(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem, stem.replace("-idx", ".idx")):
        if (root / name).is_file():
            return root / name
    raise InputError(f"{root} has no {stem}[.gz] (MNIST/Fashion-MNIST IDX layout)")


def load_idx_dataset(root: Path, name: str, classes: list[str]) -> ImageDataset:
    arrays = [
        read_idx(_idx_file(root, s))
        for s in (
            "train-images-idx3-ubyte",
            "train-labels-idx1-ubyte",
            "t10k-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
        )
    ]
    for X, y, part in ((arrays[0], arrays[1], "train"), (arrays[2], arrays[3], "t10k")):
        if len(X) != len(y):
            raise InputError(f"{root}: {part} has {len(X)} images but {len(y)} labels")
    return ImageDataset(name, *arrays, classes=classes)


def load_folder_dataset(root: Path, image_size: tuple[int, int] | None = None) -> ImageDataset:
    """``root/<class>/*`` (one split), or ``root/train/<class>/*`` and ``root/test/<class>/*``."""

    def labelled(path: Path, classes: list[str] | None):
        loaded = read_image_folder(path, image_size=image_size)
        if loaded.y is None:
            raise InputError(f"{path}: put the images in one sub-folder per class")
        names = classes or sorted(set(loaded.y.tolist()))
        unknown = sorted(set(loaded.y.tolist()) - set(names))
        if unknown:
            raise InputError(f"{path}: classes {unknown} are not in the training folders")
        return loaded.X, np.array([names.index(c) for c in loaded.y]), names

    if (root / "train").is_dir() and (root / "test").is_dir():
        train_X, train_y, classes = labelled(root / "train", None)
        size = image_size or tuple(train_X.shape[2:])
        test = read_image_folder(root / "test", image_size=size, color=train_X.shape[1] == 3)
        if test.y is None:
            raise InputError(f"{root / 'test'}: put the images in one sub-folder per class")
        test_y = np.array([classes.index(c) if c in classes else -1 for c in test.y])
        return ImageDataset("folder", train_X, train_y, test.X, test_y, classes)
    X, y, classes = labelled(root, None)
    return ImageDataset("folder", X, y, None, None, classes)


def load_image_dataset(
    name: str, root: str | Path, image_size: tuple[int, int] | None = None
) -> ImageDataset:
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"data folder {root} does not exist")
    if name == "mnist":
        return load_idx_dataset(root, name, MNIST_CLASSES)
    if name == "fashion-mnist":
        return load_idx_dataset(root, name, FASHION_CLASSES)
    if name == "cifar10":
        return ImageDataset(name, *load_cifar10(root), classes=CIFAR10_CLASSES)
    if name == "cifar100":
        return ImageDataset(
            name, *load_cifar100(root, coarse=True), classes=[f"superclass-{i}" for i in range(20)]
        )
    if name == "folder":
        return load_folder_dataset(root, image_size)
    raise InputError(f"unknown image dataset {name!r}; choose from {', '.join(DATASETS)}")
