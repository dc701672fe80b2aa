"""Real colour image sets in the MVTec AD layout (issue #37, item 4), made from ../shared/data.

- ``ped2 OUT``: UCSD Ped2 frames (3-channel JPEGs) with their pixel masks, as
  ``arnet_budget.py make`` links them: every 10th training frame as ``train/good``, every
  labelled test frame as ``test/good`` or ``test/anomaly`` with ``ground_truth/anomaly``.
- ``ped2 OUT --validation``: the same ``train/good``; the test images are held-out *training*
  frames (every 10th from the 5th; no test frame): half as ``test/good``, half with a 48x48
  patch of the frame pasted at least 80 rows above or below where it was (out of its place:
  grass on the walkway, walkway on the lawn; ``test/patch``, masks), for choosing a variant.
- ``digits OUT``: MNIST digits at 128x128, each drawn in its own colour on its own coloured
  background. ``train/good``: the first ``--train`` training digits (all classes). ``test/good``:
  ``--test`` test digits; ``test/scratch``, ``test/spot``, ``test/stain``: as many other test
  digits with a mark drawn over the stroke (a thick line in a foreign colour, a filled disc, or
  part of the stroke recoloured), each with its mask in ``ground_truth/<defect>/``. The marks
  are drawn from ``--seed``; nothing is chosen on them. ``--validation``: the test images are
  MNIST *training* digits after the first ``--train`` (no test digit), for choosing a variant.

    python benchmarks/colour_sets.py ped2 /tmp/colour/ped2
    python benchmarks/colour_sets.py digits /tmp/colour/digits
    memae bench image --dataset mvtec --data-dir /tmp/colour/digits --models ae,memae \\
        --seeds 0,1,2 --out runs/colour_digits
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from arnet_budget import SHARED, link_training, make
from PIL import Image, ImageDraw

from memae.data.idx import read_idx

MNIST = SHARED.parent / "mnist"
SIZE = 128
DEFECTS = ("scratch", "spot", "stain")


def _colour(rng: np.random.Generator, low: float, high: float) -> np.ndarray:
    return rng.uniform(low, high, 3)


def _digit(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 digit -> (128x128x3 float image in [0, 1], 128x128 stroke weight)."""
    stroke = np.asarray(Image.fromarray(x).resize((SIZE, SIZE), Image.BILINEAR)) / 255.0
    ink, paper = _colour(rng, 0.5, 1.0), _colour(rng, 0.0, 0.35)
    image = paper * (1 - stroke[..., None]) + ink * stroke[..., None]
    return image, stroke


def _mark(image: np.ndarray, stroke: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """Draw a ``kind`` mark over the stroke of ``image`` (in place) -> its mask (bool)."""
    ys, xs = np.nonzero(stroke > 0.5)
    i = rng.integers(len(ys))
    cy, cx = int(ys[i]), int(xs[i])  # a point on the stroke
    canvas = Image.new("L", (SIZE, SIZE))
    draw = ImageDraw.Draw(canvas)
    if kind == "scratch":
        angle, length = rng.uniform(0, np.pi), rng.uniform(30, 60)
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        draw.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=int(rng.integers(4, 8)))
    else:
        r = rng.uniform(8, 16)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    mask = np.asarray(canvas) > 0
    if kind == "stain":  # the stroke inside the disc takes another ink
        mask &= stroke > 0.2
        shift = _colour(rng, 0.5, 1.0)
        image[mask] = image[mask] * 0.2 + shift * stroke[mask][:, None] * 0.8
    else:
        image[mask] = _colour(rng, 0.3, 1.0)
    return mask


def _save(path: Path, image: np.ndarray) -> None:
    Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).save(path)


def digits(
    out: Path, train: int = 500, test: int = 100, seed: int = 0, validation: bool = False
) -> None:
    """Write the colour-digit category to ``out`` (see the module docstring)."""
    rng = np.random.default_rng(seed)
    pool = read_idx(MNIST / "train-images-idx3-ubyte.gz")[:, 0]
    train_x, held = pool[:train], pool[train:]
    source = held if validation else read_idx(MNIST / "t10k-images-idx3-ubyte.gz")[:, 0]
    test_x = source[: test * (1 + len(DEFECTS))]
    (out / "train" / "good").mkdir(parents=True, exist_ok=True)
    for i, x in enumerate(train_x):
        _save(out / "train" / "good" / f"{i:04d}.png", _digit(x, rng)[0])
    (out / "test" / "good").mkdir(parents=True, exist_ok=True)
    for i, x in enumerate(test_x[:test]):
        _save(out / "test" / "good" / f"{i:04d}.png", _digit(x, rng)[0])
    for d, kind in enumerate(DEFECTS, 1):
        (out / "test" / kind).mkdir(parents=True, exist_ok=True)
        (out / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
        for i, x in enumerate(test_x[d * test : (d + 1) * test]):
            image, stroke = _digit(x, rng)
            mask = _mark(image, stroke, kind, rng)
            _save(out / "test" / kind / f"{i:04d}.png", image)
            Image.fromarray(mask.astype(np.uint8) * 255).save(
                out / "ground_truth" / kind / f"{i:04d}_mask.png"
            )
    print(f"{out}: {train} training digits, {test} good and {test * len(DEFECTS)} marked tests")


def _frame(path: Path) -> np.ndarray:
    """A frame as an RGB array, or a one-line error naming the file."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB")).copy()
    except OSError as exc:
        raise SystemExit(f"{path}: not a readable image ({exc})") from None


def ped2_validation(out: Path, seed: int = 0, patch: int = 48) -> None:
    """Write the Ped2 validation category to ``out`` (see the module docstring)."""
    frames = sorted((SHARED / "training" / "frames").glob("*/*.jpg"))
    rng = np.random.default_rng(seed)
    link_training(out, frames[::10])  # make's train/good
    held = frames[5::10]
    for sub in ("test/good", "test/patch", "ground_truth/patch"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(held):
        image = _frame(f)
        name = f"{f.parent.name}_{f.stem}"
        if i % 2 == 0:
            Image.fromarray(image).save(out / "test" / "good" / f"{name}.png")
            continue
        h, w = image.shape[:2]
        (sy, ty), (sx, tx) = (rng.integers(0, n - patch, 2) for n in (h, w))
        while abs(int(sy) - int(ty)) < 80:
            sy, ty = rng.integers(0, h - patch, 2)
        image[ty : ty + patch, tx : tx + patch] = image[sy : sy + patch, sx : sx + patch].copy()
        mask = np.zeros((h, w), np.uint8)
        mask[ty : ty + patch, tx : tx + patch] = 255
        Image.fromarray(image).save(out / "test" / "patch" / f"{name}.png")
        Image.fromarray(mask).save(out / "ground_truth" / "patch" / f"{name}_mask.png")
    print(f"{out}: {len(frames[::10])} training frames, {len(held)} held-out tests")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="set", required=True)
    for name in ("ped2", "digits"):
        p = sub.add_parser(name)
        p.add_argument("out", type=Path)
        p.add_argument("--validation", action="store_true", help="test on held-out training data")
    p.add_argument("--train", type=int, default=500)
    p.add_argument("--test", type=int, default=100, help="per defect type, and good")
    p.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if a.set == "ped2":
        ped2_validation(a.out) if a.validation else make(a.out)
    else:
        digits(a.out, a.train, a.test, a.seed, a.validation)


if __name__ == "__main__":
    main()
