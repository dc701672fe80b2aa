import numpy as np
import pytest

from memae import InputError
from memae.data.protocols import one_class_split
from memae.data.sample import load_mnist_sample
from memae.metrics import evaluate, top_fraction_threshold


def test_one_class_split_sizes_ratio_and_no_leak():
    X, y = load_mnist_sample()
    s = one_class_split(X, y, normal_class=3, seed=0)
    n3 = int((y == 3).sum())
    assert len(s.train) == round(n3 * 2 / 3)
    assert (y[s.train_index] == 3).all()
    assert s.test_labels.mean() == pytest.approx(0.3, abs=0.01)
    assert ((y[s.test_index] != 3) == s.test_labels.astype(bool)).all()
    assert not set(s.train_index) & set(s.test_index)
    assert len(set(s.test_index)) == len(s.test_index)
    again = one_class_split(X, y, normal_class=3, seed=0)
    np.testing.assert_array_equal(again.test_index, s.test_index)
    other = one_class_split(X, y, normal_class=3, seed=1)
    assert not np.array_equal(other.test_index, s.test_index)


def test_embedded_sample_is_real_mnist():
    X, y = load_mnist_sample()
    assert X.shape == (6000, 1, 28, 28) and X.dtype == np.uint8
    assert np.bincount(y).tolist() == [592, 671, 581, 608, 623, 514, 608, 651, 551, 601]


def test_metrics_from_raw_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.25])
    labels = np.array([0, 0, 0, 1, 1, 1])
    ev = evaluate(scores, labels, threshold=0.5)
    assert ev.auc == pytest.approx(8 / 9)  # ranking, not thresholded labels
    assert (ev.precision, ev.recall) == (1.0, pytest.approx(2 / 3))
    assert ev.f1 == pytest.approx(0.8)
    flagged = evaluate(scores, labels, None, flagged=np.array([0, 0, 1, 1, 1, 1]))
    assert flagged.precision == pytest.approx(0.75) and flagged.recall == 1.0
    assert "auc" in ev.table()


def test_top_fraction_flags_that_share():
    scores = np.arange(100.0)
    assert (scores > top_fraction_threshold(scores, 0.2)).sum() == 20


def test_metric_input_errors():
    with pytest.raises(InputError, match="single class"):
        evaluate(np.ones(3), np.zeros(3), 0.5)
    with pytest.raises(InputError, match="normal class"):
        evaluate(np.ones(3), np.array([0, 1, 2]), 0.5)
    with pytest.raises(InputError, match="3 scores but 2"):
        evaluate(np.ones(3), np.array([0, 1]), 0.5)


def test_smoothed_error_cancels_a_shifted_edge_but_keeps_a_missing_blob():
    import torch

    from memae.scoring import gaussian_smooth, squared_error

    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:12, 6:8] = 1.0  # a vertical stroke
    shifted = torch.roll(x, 1, dims=-1)  # drawn one pixel to the right
    missing = torch.zeros_like(x)  # the stroke left out
    assert squared_error(x, shifted).sum() == squared_error(x, missing).sum()  # plain: a tie
    ratio = squared_error(x, shifted, 1.0).sum() / squared_error(x, missing, 1.0).sum()
    assert ratio < 0.5  # smoothed: the shift costs far less than the missing stroke
    clip = torch.randn(2, 1, 3, 9, 9)
    assert gaussian_smooth(clip, 1.5).shape == clip.shape
    point = torch.zeros(1, 1, 15, 15)
    point[..., 7, 7] = 1.0
    assert torch.isclose(gaussian_smooth(point, 1.0).sum(), torch.tensor(1.0))


def test_seed_means_leave_out_a_seed_short_of_a_class():
    from memae.bench.results import per_class_markdown, seed_means

    rows = [
        {"model": "m", "seed": s, "class": c, "auc": str(a)}
        for s, c, a in [("0", "0", 0.9), ("0", "1", 0.7), ("1", "0", 0.5), ("2", "1", 0.6)]
    ]
    rows.append({"model": "m", "seed": "2", "class": "0", "auc": "0.8"})
    assert seed_means(rows, ["0", "1"]) == {"0": pytest.approx(0.8), "2": pytest.approx(0.7)}
    line = per_class_markdown(rows, ["m"], ["0", "1"]).splitlines()[-1]
    assert line.endswith("| 0.7500 ± 0.0707 | 2 |")  # seed 1 has no class 1: not averaged
