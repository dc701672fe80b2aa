import numpy as np
import pytest
import torch

from memae import MemAEDetector
from memae.erasure import default_erasers, parse_eraser
from memae.models import create_model


def test_rotations_invert_and_compose():
    x = torch.randn(2, 3, 5, 5)
    r90, r270, r180 = (parse_eraser(n) for n in ("rot90", "rot270", "rot180"))
    torch.testing.assert_close(r270(r90(x)), x)
    torch.testing.assert_close(parse_eraser("rot90+rot90")(x), r180(x))
    torch.testing.assert_close(parse_eraser("rot0")(x), x)
    torch.testing.assert_close(parse_eraser("hflip+hflip")(x), x)
    assert not torch.allclose(r90(x), x)


def test_graying_makes_channels_equal_and_is_idempotent():
    x = torch.rand(2, 3, 4, 4)
    g = parse_eraser("gray")(x)
    torch.testing.assert_close(g[:, 0], x.mean(1))
    torch.testing.assert_close(g[:, 1], g[:, 2])
    torch.testing.assert_close(parse_eraser("gray")(g), g)
    gray_then_rot = parse_eraser("gray+rot90")(x)
    torch.testing.assert_close(gray_then_rot, parse_eraser("rot90")(g))


def test_default_sets_and_bad_names():
    assert default_erasers((1, 28, 28)) == ["rot0", "rot90", "rot180", "rot270"]
    assert default_erasers((3, 32, 32))[1] == "gray+rot90"
    assert default_erasers((1, 20, 30)) == ["rot0", "rot180"]
    with pytest.raises(ValueError, match="unknown erasing"):
        parse_eraser("rot45")
    with pytest.raises(ValueError, match="unknown erasing"):
        create_model("arnet", (1, 8, 8), erasers=["blur"])


def test_training_pairs_erase_the_input_and_keep_the_target():
    torch.manual_seed(0)
    model = create_model("arnet", (1, 6, 6))
    x = torch.randn(64, 1, 6, 6)
    inputs, target = model.training_pair(x)
    assert target is x
    rotated = [parse_eraser(n)(x) for n in model.eraser_names]
    match = torch.stack([(inputs == r).flatten(1).all(1) for r in rotated])  # (views, B)
    assert match.any(0).all()  # every input is one of the erased views
    assert match[1:].any()  # and not all of them are the identity


def test_arnet_detector_fit_save_load(tmp_path):
    rng = np.random.default_rng(0)
    X = np.zeros((60, 1, 12, 12), np.float32)
    X[:, :, 2:10, 5:7] = 1  # upright bars: orientation is learnable
    X += rng.random(X.shape, dtype=np.float32) * 0.1
    det = MemAEDetector(
        "arnet",
        epochs=2,
        lr=1e-3,
        random_state=0,
        model_options={"channels": [8, 16], "normalize_views": True},
    ).fit(X)
    weights = det.model_.view_weights
    assert weights.shape == (4,) and not torch.allclose(weights, torch.ones(4))
    assert det.error_maps(X[:3]).shape == (3, 12, 12)
    per_view = det.view_errors(X)  # (V, n); the weights are 1 / its per-view training mean
    assert per_view.shape == (4, 60)
    np.testing.assert_allclose(weights.numpy(), 1 / per_view.mean(1), rtol=1e-4)
    det.save(tmp_path / "arnet")
    back = MemAEDetector.load(tmp_path / "arnet")
    np.testing.assert_array_equal(back.decision_function(X), det.decision_function(X))
    torch.testing.assert_close(back.model_.view_weights, weights)
    names, erased, restored = det.restorations(X[:5])
    assert names == ["rot0", "rot90", "rot180", "rot270"]
    assert erased.shape == restored.shape == (4, 5, 1, 12, 12)
    np.testing.assert_allclose(erased[1], np.rot90(X[:5], 1, axes=(-2, -1)), atol=1e-5)
    np.testing.assert_allclose(restored[0], det.reconstruct(X[:5]), atol=1e-5)


def test_validation_loss_draws_the_same_views_every_call():
    """Best-epoch selection compares epochs on the same erased views, not on fresh draws."""
    from memae.fitting import evaluate_loss

    torch.manual_seed(0)
    model = create_model("arnet", (1, 8, 8), channels=[4, 8])
    batches = [torch.rand(16, 1, 8, 8), torch.rand(16, 1, 8, 8)]
    first = evaluate_loss(model, batches)
    torch.rand(3)  # the global generator moves on; the views must not
    assert evaluate_loss(model, batches) == first
