"""Evaluation protocols of the papers: how normal and anomalous data are split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass
class OneClassSplit:
    """Training data (normal only), test data and test labels (1 = anomaly)."""

    train: np.ndarray
    test: np.ndarray
    test_labels: np.ndarray
    train_index: np.ndarray  # rows of the source arrays, for provenance and leak checks
    test_index: np.ndarray


def one_class_split(
    X: np.ndarray,
    y: np.ndarray,
    normal_class: int,
    seed: int = 0,
    train_share: float = 2 / 3,
    anomaly_share: float = 0.3,
) -> OneClassSplit:
    """MemAE Table 1: the class's samples split train:test 2:1; anomalies drawn from the other
    classes so that ``anomaly_share`` of the test set is anomalous. (The 10% validation hold-out
    comes from the detector's ``validation_fraction``.)"""
    y = np.asarray(y)
    if len(X) != len(y):
        raise InputError(f"{len(X)} samples but {len(y)} labels")
    rng = np.random.default_rng(seed)
    normal = np.flatnonzero(y == normal_class)
    others = np.flatnonzero(y != normal_class)
    if len(normal) < 3:
        raise InputError(f"class {normal_class} has {len(normal)} samples; at least 3 needed")
    normal = rng.permutation(normal)
    n_train = int(round(len(normal) * train_share))
    train, test_normal = normal[:n_train], normal[n_train:]
    n_anom = int(round(len(test_normal) * anomaly_share / (1 - anomaly_share)))
    if n_anom > len(others):
        raise InputError(f"need {n_anom} anomalies but only {len(others)} samples of other classes")
    anomalies = rng.choice(others, size=n_anom, replace=False)
    test = np.concatenate([test_normal, anomalies])
    labels = np.concatenate([np.zeros(len(test_normal), int), np.ones(n_anom, int)])
    order = rng.permutation(len(test))
    test, labels = test[order], labels[order]
    return OneClassSplit(X[train], X[test], labels, train, test)


def standard_split(
    train_X: np.ndarray,
    train_y: np.ndarray,
    test_X: np.ndarray,
    test_y: np.ndarray,
    normal_class: int,
) -> OneClassSplit:
    """The protocol of ARNet and most later work: train on the class's images of the official
    training split; test on the whole official test set (anomaly = any other class)."""
    train = np.flatnonzero(np.asarray(train_y) == normal_class)
    if len(train) < 2:
        raise InputError(f"class {normal_class} has {len(train)} training samples")
    labels = (np.asarray(test_y) != normal_class).astype(int)
    return OneClassSplit(train_X[train], test_X, labels, train, np.arange(len(test_X)))


def kdd_split(labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """DAGMM / MemAE Table 3: a random 50/50 split of all rows; training uses only the normal
    class (label 0) of the first half, testing all rows of the second half.
    -> (train indices, test indices)."""
    labels = np.asarray(labels)
    order = np.random.default_rng(seed).permutation(len(labels))
    half = len(labels) // 2
    first, second = order[:half], order[half:]
    return np.sort(first[labels[first] == 0]), np.sort(second)


def inlier_split(
    labels: np.ndarray, seed: int, train_share: float = 0.6
) -> tuple[np.ndarray, np.ndarray]:
    """ODDS suite: train on ``train_share`` of the inliers; test on the other inliers and every
    outlier. -> (train indices, test indices)."""
    labels = np.asarray(labels)
    inliers = np.random.default_rng(seed).permutation(np.flatnonzero(labels == 0))
    n_train = int(round(len(inliers) * train_share))
    test = np.concatenate([inliers[n_train:], np.flatnonzero(labels != 0)])
    return np.sort(inliers[:n_train]), np.sort(test)
