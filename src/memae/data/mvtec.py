"""MVTec AD category: ``train/good``, ``test/<defect>``, ``ground_truth/<defect>/*_mask.png``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from .readers import IMAGE_SUFFIXES


@dataclass
class MVTecCategory:
    name: str
    train: np.ndarray  # (n, c, h, w) uint8, defect-free
    test: np.ndarray  # (m, c, h, w) uint8
    labels: np.ndarray  # (m,) 1 = defective
    masks: np.ndarray  # (m, h, w) bool, all False for good images
    defects: list[str]  # defect type per test image ("good" for normal ones)


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read(path: Path, size: tuple[int, int], mode: str, resample) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert(mode).resize((size[1], size[0]), resample)
            a = np.asarray(im, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read image {path}: {exc}") from None
    return a.transpose(2, 0, 1) if a.ndim == 3 else a[None]


def load_mvtec(
    root: str | Path, image_size: tuple[int, int] = (128, 128), color: bool | None = None
) -> MVTecCategory:
    """One category folder, images resized to ``image_size`` (h, w)."""
    root = Path(root)
    good = root / "train" / "good"
    if not good.is_dir() or not (root / "test").is_dir():
        raise InputError(f"{root} is not an MVTec AD category (needs train/good and test/)")
    train_files = _images(good)
    if not train_files:
        raise InputError(f"{good} holds no images")
    if color is None:
        with Image.open(train_files[0]) as im:
            color = im.mode not in ("L", "I", "I;16", "1")
    mode = "RGB" if color else "L"
    train = np.stack([_read(p, image_size, mode, Image.BILINEAR) for p in train_files])
    test, masks, defects = [], [], []
    for defect_dir in sorted(d for d in (root / "test").iterdir() if d.is_dir()):
        for p in _images(defect_dir):
            test.append(_read(p, image_size, mode, Image.BILINEAR))
            defects.append(defect_dir.name)
            if defect_dir.name == "good":
                masks.append(np.zeros(image_size, bool))
                continue
            mask = root / "ground_truth" / defect_dir.name / f"{p.stem}_mask.png"
            if not mask.is_file():
                raise InputError(f"missing ground-truth mask {mask}")
            masks.append(_read(mask, image_size, "L", Image.NEAREST)[0] > 127)
    if not test:
        raise InputError(f"{root / 'test'} holds no images")
    labels = np.array([d != "good" for d in defects], dtype=int)
    return MVTecCategory(root.name, train, np.stack(test), labels, np.stack(masks), defects)
