"""Model folders saved by format v1 before the detector was split (tests/fixtures/make_v1.py)
load and score their inputs as they did when saved."""

from pathlib import Path

import numpy as np
import pytest

from memae import MemAEDetector

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "v1"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())


def test_every_family_has_a_fixture():
    families = {name.split("_")[0] for name in CASES}
    assert families == {"mlp", "conv2d", "conv3d", "unet"}
    assert {"mlp_vae", "unet_arnet"} <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_v1_folder_loads_and_scores_the_same(name, tmp_path):
    folder = FIXTURES / name
    det = MemAEDetector.load(folder / "model", device="cpu")
    X = np.load(folder / "inputs.npy")
    np.testing.assert_allclose(
        det.decision_function(X), np.load(folder / "scores.npy"), rtol=1e-5, atol=1e-7
    )
    if (folder / "error_maps.npy").exists():  # per pixel, so rounding shows more: another
        # processor's kernels (AVX-512 or not) move a U-Net's maps by up to 2e-4 relative
        np.testing.assert_allclose(
            det.error_maps(X), np.load(folder / "error_maps.npy"), rtol=1e-3, atol=1e-7
        )
    assert det.predict(X).shape == (len(X),)
    det.save(tmp_path / "again")  # saved again, it keeps the defaults it was built with
    again = MemAEDetector.load(tmp_path / "again")
    np.testing.assert_array_equal(again.decision_function(X), det.decision_function(X))


def test_only_restoring_models_carry_view_weights(tmp_path):
    from safetensors.torch import load_file

    v1 = load_file(FIXTURES / "mlp_memae" / "model" / "model.safetensors")
    assert "model.view_weights" in v1  # written by format v1 before the split; still loads
    det = MemAEDetector.load(FIXTURES / "mlp_memae" / "model")
    det.save(tmp_path / "m")
    assert "model.view_weights" not in load_file(tmp_path / "m" / "model.safetensors")
    X = np.load(FIXTURES / "mlp_memae" / "inputs.npy")
    again = MemAEDetector.load(tmp_path / "m")
    np.testing.assert_array_equal(again.decision_function(X), det.decision_function(X))
    arnet = MemAEDetector.load(FIXTURES / "unet_arnet" / "model")
    assert arnet.model_.view_weights.shape == (4,)


def test_the_best_epoch_is_counted_from_one_in_config_and_output(tmp_path, capsys):
    import json

    from memae.cli import main

    old = MemAEDetector.load(FIXTURES / "mlp_memae" / "model")
    v1 = json.loads((FIXTURES / "mlp_memae" / "model" / "config.json").read_text())
    assert old.history_.best_epoch == v1["best_epoch"]  # counted from 0 before
    X = np.random.default_rng(0).normal(size=(80, 3))
    np.savetxt(tmp_path / "t.csv", X, delimiter=",", header="a,b,c", comments="")
    assert (
        main(["train", str(tmp_path / "t.csv"), "--out", str(tmp_path / "m"), "--epochs", "3"]) == 0
    )
    printed = int(capsys.readouterr().out.split("best epoch ")[1].split(",")[0])
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["best_epoch"] == printed
    assert MemAEDetector.load(tmp_path / "m").history_.best_epoch == printed - 1
