"""How ARNet's per-view restoration errors combine into a score, on one MNIST class.

    python benchmarks/arnet_views.py --cls 8 --epochs 10

Trains ARNet (U-Net 16-32-64, cosine lr) on the class's official training images and prints
the test AUROC of each erased view alone, of their mean (the default score), of the mean
without the identity view, of the mean of per-view errors divided by their training means
(the ``normalize_views`` option) and of the maximum over views.
"""

from __future__ import annotations

import argparse

from sklearn.metrics import roc_auc_score

from memae import MemAEDetector
from memae.data.images import load_image_dataset
from memae.data.protocols import standard_split


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cls", type=int, default=8)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--data-dir", default="../shared/data/mnist")
    a = p.parse_args()
    ds = load_image_dataset("mnist", a.data_dir)
    split = standard_split(ds.train_X, ds.train_y, ds.test_X, ds.test_y, a.cls)
    det = MemAEDetector(
        "arnet",
        epochs=a.epochs,
        lr=1e-3,
        batch_size=64,
        lr_schedule="cosine",
        random_state=0,
        model_options={"channels": [16, 32, 64]},
    ).fit(split.train)
    test, y = det.view_errors(split.test), split.test_labels
    train_mean = det.view_errors(split.train).mean(1, keepdims=True)
    names = det.model_.eraser_names
    for name, err in zip(names, test, strict=True):
        print(f"{name:<10} {roc_auc_score(y, err):.4f}")
    rules = {
        "mean of all views": test.mean(0),
        "mean without identity": test[1:].mean(0),
        "normalised mean": (test / train_mean).mean(0),
        "max over views": test.max(0),
    }
    for rule, score in rules.items():
        print(f"{rule:<22} {roc_auc_score(y, score):.4f}")


if __name__ == "__main__":
    main()
