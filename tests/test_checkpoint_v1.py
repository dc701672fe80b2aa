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
def test_v1_folder_loads_and_scores_the_same(name):
    folder = FIXTURES / name
    det = MemAEDetector.load(folder / "model", device="cpu")
    X = np.load(folder / "inputs.npy")
    np.testing.assert_allclose(
        det.decision_function(X), np.load(folder / "scores.npy"), rtol=1e-5, atol=1e-7
    )
    if (folder / "error_maps.npy").exists():
        np.testing.assert_allclose(
            det.error_maps(X), np.load(folder / "error_maps.npy"), rtol=1e-5, atol=1e-7
        )
    assert det.predict(X).shape == (len(X),)
