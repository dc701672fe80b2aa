"""scikit-learn's estimator checks on MemAEDetector, and the parts of its contract they leave
out: scoring changes nothing on the estimator, load places the model where its caller says."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from memae import MemAEDetector

# memae's labels follow PyOD: predict gives 1 for an anomaly and 0 for a normal sample, where
# scikit-learn's outlier detectors give -1 and +1; the checks below compare those labels
LABELS = "predict follows PyOD (1 = anomaly, 0 = normal), not scikit-learn's -1 / +1"
EXPECTED_FAILURES = {
    "check_outliers_fit_predict": LABELS,
    "check_outliers_train": LABELS,
}


def _small() -> MemAEDetector:
    return MemAEDetector("memae", epochs=2, batch_size=16, threads=1, random_state=0)


@parametrize_with_checks([_small()], expected_failed_checks=lambda est: EXPECTED_FAILURES)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def _state(det: MemAEDetector) -> dict:
    """Every attribute of the estimator and every tensor of its network, copied."""
    attrs = {k: copy.deepcopy(v) for k, v in vars(det).items() if k != "model_"}
    return attrs | {f"net.{k}": v.clone() for k, v in det.model_.state_dict().items()}


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if type(a).__eq__ is object.__eq__ and hasattr(a, "__dict__"):  # a Scaler: its fields
        return type(a) is type(b) and _equal(vars(a), vars(b))
    return bool(a == b)


@pytest.mark.parametrize("model", ["memae", "mnad", "memae-local"])
def test_scoring_leaves_the_estimator_unchanged(model):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 6)).astype(np.float32)
    det = MemAEDetector(model, epochs=2, batch_size=16, threads=1, random_state=0).fit(X)
    before = _state(det)
    det.decision_function(X)
    det.score_samples(X)
    det.predict(X)
    det.addressing(X)
    det.reconstruct(X)
    after = _state(det)
    assert before.keys() == after.keys()
    changed = [k for k in before if not _equal(before[k], after[k])]
    assert not changed, f"scoring changed {changed}"


def test_load_places_the_model_on_the_callers_device(tmp_path):
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    MemAEDetector("ae", epochs=1, threads=1, random_state=0, device="auto").fit(X).save(
        tmp_path / "m"
    )
    as_saved = MemAEDetector.load(tmp_path / "m")
    assert as_saved.device == "auto"  # the parameter it was trained with
    on_cpu = MemAEDetector.load(tmp_path / "m", device="cpu")
    assert on_cpu.device == "cpu" and next(on_cpu.model_.parameters()).device.type == "cpu"
    np.testing.assert_array_equal(on_cpu.decision_function(X), as_saved.decision_function(X))
