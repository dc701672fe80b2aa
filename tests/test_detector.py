import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from torch.utils.data import TensorDataset

import memae.persist.atomic
from memae import CheckpointError, InputError, MemAEDetector
from memae.errors import NotFittedError


def small(model="memae", **kw):
    return MemAEDetector(
        model,
        epochs=kw.pop("epochs", 8),
        lr=3e-3,
        batch_size=32,
        random_state=kw.pop("random_state", 0),
        **kw,
    )


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, size=(240, 6)).astype(np.float32)
    return small().fit(X), X


def test_init_only_stores_and_clone_works():
    det = MemAEDetector("ae", epochs=3, model_options={"hidden": [8, 4]}, random_state=1)
    assert det.get_params()["epochs"] == 3 and not hasattr(det, "model_")
    twin = clone(det)
    assert twin.get_params() == det.get_params() and twin is not det
    twin.set_params(epochs=5, model="memae")
    assert (twin.epochs, twin.model, det.epochs) == (5, "memae", 3)
    MemAEDetector(epochs=-1)  # validation waits for fit
    with pytest.raises(InputError, match="epochs"):
        MemAEDetector(epochs=-1).fit(np.zeros((4, 2)))
    with pytest.raises(InputError, match="lr_schedule"):
        MemAEDetector(lr_schedule="step").fit(np.zeros((4, 2)))
    with pytest.raises(InputError, match="compile"):  # e.g. the string of a bench model spec
        MemAEDetector(compile="false").fit(np.zeros((4, 2)))
    with pytest.raises(InputError, match="channels_last="):
        MemAEDetector(channels_last="yes").fit(np.zeros((4, 1, 4, 4)))
    with pytest.raises(InputError, match="channels_last is for images"):
        MemAEDetector(channels_last=True).fit(np.zeros((4, 2)))
    with pytest.raises(InputError, match="error_sigma"):
        MemAEDetector(error_sigma=-1.0).fit(np.zeros((4, 2)))
    with pytest.raises(InputError, match="error_sigma smooths images"):
        MemAEDetector(error_sigma=1.0).fit(np.zeros((4, 2)))
    for top in (0.0, 1.5, "all"):
        with pytest.raises(InputError, match="error_top"):
            MemAEDetector(error_top=top).fit(np.zeros((4, 2)))


def test_cosine_schedule_trains_and_differs_from_constant(blobs):
    normal, anomalies = blobs
    const = small(epochs=4).fit(normal).decision_function(anomalies)
    cosine = small(epochs=4, lr_schedule="cosine").fit(normal).decision_function(anomalies)
    assert np.isfinite(cosine).all() and not np.allclose(const, cosine)


def test_detects_shifted_blobs_and_thresholds_without_labels(blobs):
    normal, anomalies = blobs
    det = small(contamination=0.1, epochs=15).fit(normal)
    scores = det.decision_function(np.r_[normal[:30], anomalies])
    labels = np.r_[np.zeros(30), np.ones(30)]
    assert roc_auc_score(labels, scores) > 0.95
    assert det.decision_scores_.shape == (len(normal),) and det.labels_.shape == (len(normal),)
    assert 0.0 < det.labels_.mean() < 0.3
    # derived from the scores, not a second copy of the training rows' size
    assert "labels_" not in vars(det)
    np.testing.assert_array_equal(det.labels_, det.decision_scores_ > det.threshold_)
    assert set(np.unique(det.predict(anomalies))) <= {0, 1}
    assert det.predict(anomalies).mean() > 0.8
    assert det.predict(anomalies, threshold=1e9).sum() == 0
    np.testing.assert_array_equal(det.score_samples(anomalies), -det.decision_function(anomalies))
    usage = det.memory_usage_
    assert 0 < usage["slots_addressed"] <= 50 and usage["mean_nonzero_per_query"] > 0
    w = det.addressing(normal)
    assert w.shape == (len(normal), 50)
    np.testing.assert_allclose(w.sum(1), 1, rtol=1e-5)
    assert usage["slots_addressed"] == int((w > 0).any(0).sum())
    with pytest.raises(InputError, match="no memory"):
        small("ae", epochs=1).fit(normal).addressing(normal)


def test_threshold_is_the_quantile_of_held_out_scores(blobs):
    normal, _ = blobs
    det = small(threshold_quantile=0.5, validation_fraction=0.0, epochs=2).fit(normal)
    assert det.threshold_ == pytest.approx(np.quantile(det.decision_scores_, 0.5))


def test_same_seed_same_scores_other_seed_differs(blobs):
    normal, anomalies = blobs
    a = small(random_state=7).fit(normal).decision_function(anomalies)
    b = small(random_state=7).fit(normal).decision_function(anomalies)
    c = small(random_state=8).fit(normal).decision_function(anomalies)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_dataset_input_matches_arrays(blobs):
    normal, anomalies = blobs
    a = small(epochs=3).fit(normal).decision_function(anomalies)
    det = small(epochs=3).fit(TensorDataset(torch.from_numpy(normal)))
    b = det.decision_function(TensorDataset(torch.from_numpy(anomalies), torch.zeros(30)))
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_save_load_gives_identical_scores(fitted, tmp_path):
    det, X = fitted
    det.save(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["format"] == "memae.detector" and cfg["params"]["model"] == "memae"
    back = MemAEDetector.load(tmp_path / "m")
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))
    assert back.threshold_ == det.threshold_ and back.get_params() == det.get_params()
    np.testing.assert_array_equal(back.predict(X), det.predict(X))


@pytest.mark.parametrize("model", ["ae", "vae", "memae-nonspar"])
def test_images_and_error_maps_for_other_variants(model, tmp_path):
    rng = np.random.default_rng(1)
    X = rng.random((40, 1, 12, 12), dtype=np.float32)
    det = small(model, epochs=2).fit(X)
    assert det.error_maps(X[:5]).shape == (5, 12, 12)
    assert det.reconstruct(X[:3]).shape == (3, 1, 12, 12)
    det.save(tmp_path / model)
    back = MemAEDetector.load(tmp_path / model)
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))


def test_error_sigma_smooths_the_residual_and_survives_save_load(tmp_path):
    X = np.random.default_rng(3).random((40, 1, 12, 12), dtype=np.float32)
    det = small("ae", epochs=2).fit(X)
    plain, plain_maps = det.decision_function(X), det.error_maps(X[:4])
    det.set_params(error_sigma=1.0)  # scoring only: the trained network is unchanged
    smooth, smooth_maps = det.decision_function(X), det.error_maps(X[:4])
    assert smooth_maps.shape == plain_maps.shape and not np.allclose(smooth, plain)
    assert (smooth <= plain + 1e-7).all()  # a blur (kernel summing to 1) never adds energy
    det.save(tmp_path / "m")
    back = MemAEDetector.load(tmp_path / "m")
    assert back.error_sigma == 1.0
    np.testing.assert_array_equal(back.decision_function(X), smooth)


def test_error_top_averages_the_largest_errors_and_survives_save_load(tmp_path):
    X = np.random.default_rng(4).random((40, 1, 12, 12), dtype=np.float32)
    det = small("ae", epochs=2).fit(X)
    maps = det.error_maps(X).reshape(len(X), -1)  # (n, 144) per-pixel errors
    np.testing.assert_allclose(det.decision_function(X), maps.mean(1), rtol=1e-5)
    det.set_params(error_top=0.1)  # scoring only: the mean of the 15 largest of 144
    expected = np.sort(maps, 1)[:, -15:].mean(1)
    np.testing.assert_allclose(det.decision_function(X), expected, rtol=1e-5)
    det.save(tmp_path / "m")
    back = MemAEDetector.load(tmp_path / "m")
    assert back.error_top == 0.1
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))
    vectors = small("ae", epochs=1, error_top=0.5).fit(X.reshape(40, -1)[:, :8])
    assert vectors.decision_function(X.reshape(40, -1)[:, :8]).shape == (40,)


def test_clips_get_per_frame_error_maps():
    X = np.random.default_rng(2).random((6, 1, 4, 16, 16), dtype=np.float32)
    det = small(epochs=1, mem_slots=8, model_options={"channels": [4, 4, 8, 8]}).fit(X)
    assert det.error_maps(X).shape == (6, 4, 16, 16)
    assert det.memory_usage_["num_slots"] == 8


@pytest.mark.parametrize(
    ("X", "match"),
    [
        (np.zeros((5, 3, 4)), "shape"),
        (np.zeros((5,)), "shape"),
        (np.zeros((0, 4)), "empty"),
        (np.zeros((1, 4)), "at least 2"),
        (np.array([[1.0, np.nan], [1.0, 2.0]]), "NaN"),
        (np.array([[1.0, np.inf], [1.0, 2.0]]), "NaN or infinite"),
        (np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
        ([[1, 2], [3]], "cannot be read"),
    ],
)
def test_bad_training_input_is_refused(X, match):
    with pytest.raises(InputError, match=match):
        small(epochs=1).fit(X)


def test_bad_scoring_input_is_refused(fitted):
    det, _ = fitted
    with pytest.raises(InputError, match=r"trained on \(6,\)"):
        det.decision_function(np.zeros((3, 5)))
    with pytest.raises(InputError, match="NaN"):
        det.decision_function(np.full((2, 6), np.nan))
    with pytest.raises(InputError, match="vectors"):
        det.error_maps(np.zeros((2, 6)))
    with pytest.raises(NotFittedError):
        MemAEDetector().decision_function(np.zeros((2, 6)))


def test_foreign_corrupt_or_mismatched_checkpoints_are_refused(fitted, tmp_path):
    det, _ = fitted
    folder = tmp_path / "m"
    det.save(folder)
    cfg_path, weights = folder / "config.json", folder / "model.safetensors"
    good_cfg, good_w = cfg_path.read_text(), weights.read_bytes()

    def expect(match):
        with pytest.raises(CheckpointError, match=match):
            MemAEDetector.load(folder)
        cfg_path.write_text(good_cfg)
        weights.write_bytes(good_w)

    with pytest.raises(CheckpointError, match="does not exist"):
        MemAEDetector.load(tmp_path / "nope")
    cfg_path.write_text("{not json")
    expect("not valid JSON")
    cfg_path.write_text(json.dumps({"format": "something-else"}))
    expect("not a memae detector")
    cfg = json.loads(good_cfg)
    cfg["params"]["mem_slots"] = 7
    cfg_path.write_text(json.dumps(cfg))
    expect("do not match")
    cfg = json.loads(good_cfg)
    cfg["params"]["no_such_param"] = 1
    cfg_path.write_text(json.dumps(cfg))
    expect("inconsistent")
    weights.write_bytes(good_w[: len(good_w) // 2])
    expect("corrupt or truncated")
    weights.write_bytes(b"\x80\x04pickle")
    expect("corrupt or truncated")
    weights.unlink()
    expect("missing")


def test_failed_save_keeps_the_previous_model(fitted, tmp_path, monkeypatch):
    det, X = fitted
    det.save(tmp_path / "m")
    before = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(memae.persist.atomic, "sha256", boom)
    with pytest.raises(OSError, match="disk full"):
        det.save(tmp_path / "m")
    after = {p.name: p.read_bytes() for p in (tmp_path / "m").iterdir()}
    assert after == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left behind


def test_memory_collapse_is_reported(blobs, caplog):
    normal, _ = blobs
    with caplog.at_level("WARNING", logger="memae.detector"):
        det = small(epochs=1, shrink_threshold=0.5).fit(normal)  # weights ~1/50 < 0.5
    assert det.memory_usage_["zero_rows_fraction"] > 0.5
    assert "memory collapse" in caplog.text


@pytest.mark.parametrize(
    "model, option, shape",
    [
        ("arnet", "compile", (1, 8, 8)),
        ("memae", "channels_last", (1, 8, 8)),
        ("memae", "channels_last", (1, 4, 8, 8)),
    ],
)
def test_faster_training_matches_the_default_and_saves_a_plain_module(
    tmp_path, model, option, shape
):
    X = np.random.default_rng(0).random((40, *shape)).astype(np.float32)
    opts = {"epochs": 2, "lr": 1e-4, "batch_size": 64, "random_state": 0, "device": "cpu"}
    if model == "arnet":
        opts["model_options"] = {"channels": [4, 8]}
    default = MemAEDetector(model, **opts).fit(X)
    fast = MemAEDetector(model, **{option: True}, **opts).fit(X)
    assert str(fast.model_) == str(default.model_)  # the same architecture, layer for layer
    shapes = {k: v.shape for k, v in default.model_.state_dict().items()}
    assert {k: v.shape for k, v in fast.model_.state_dict().items()} == shapes
    assert all(p.is_contiguous() for p in fast.model_.parameters())
    np.testing.assert_allclose(
        fast.decision_function(X), default.decision_function(X), rtol=1e-3, atol=1e-6
    )
    fast.save(tmp_path / "m")
    loaded = MemAEDetector.load(tmp_path / "m")
    assert loaded.get_params()[option] is True
    np.testing.assert_allclose(loaded.decision_function(X), fast.decision_function(X))


def test_warnings_where_the_result_is_likely_wrong(caplog):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 1, 8, 8)).astype(np.float32)
    det = MemAEDetector("ae", epochs=1, random_state=0).fit(images)
    with caplog.at_level("WARNING", logger="memae.detector"):
        det.decision_function(images[:5])
    assert caplog.text == ""  # data like the training data: no warning
    with caplog.at_level("WARNING", logger="memae.detector"):
        det.decision_function(images[:5] / 255.0)  # trained on 0-255, scored on 0-1
    assert "spans only" in caplog.text and "0-255" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="memae.detector"):
        det.decision_function(images[:5] * 100)
    assert "far outside the training range" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="memae.detector"):
        MemAEDetector("ae", epochs=1, random_state=0).fit(rng.normal(size=(20, 400)))
    assert "parameters for" in caplog.text and "training values" in caplog.text
