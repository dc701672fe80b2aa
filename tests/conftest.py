import os
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(relative: str) -> Path:
    """A file or folder of the real benchmark data (../shared/data). Absent, the test skips
    on a workstation and fails in CI (the CI environment variable set), where it must be."""
    path = SHARED_DATA / relative
    if not path.exists():
        message = f"benchmark data {path} is absent (see ../shared/data/README.md)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{message}; CI runs beside it")
        pytest.skip(message)
    return path


@pytest.fixture(autouse=True)
def _small_threads():
    torch.set_num_threads(2)


@pytest.fixture
def blobs():
    """Normal vectors around 0 and anomalies around 4, width 6."""
    rng = np.random.default_rng(0)
    normal = rng.normal(0, 1, size=(240, 6)).astype(np.float32)
    anomalies = rng.normal(4, 1, size=(30, 6)).astype(np.float32)
    return normal, anomalies


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST IDX files of ../shared/data; the test skips when they are absent."""
    return shared_data("mnist/t10k-images-idx3-ubyte.gz").parent
