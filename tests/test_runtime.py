"""How fits use the machine: threads chosen (not torch's one per core), mixed precision, a
DataLoader's workers for Datasets, and larger batches for very large tables."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from memae import InputError, MemAEDetector, runtime
from memae.fitting import flat_parameters, resolve_schedule
from memae.runtime import SMALL_STEP_FLOPS, resolve_threads, step_flops


class Recording(Dataset):
    """Vectors or images that note the torch threads and the process reading each item."""

    def __init__(self, X: np.ndarray) -> None:
        self.X = torch.from_numpy(X)
        self.seen: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> torch.Tensor:
        self.seen.append((torch.get_num_threads(), os.getpid()))
        return self.X[i]


@pytest.fixture
def no_thread_override(monkeypatch):
    monkeypatch.delenv(runtime.THREADS_ENV, raising=False)


def test_a_small_tabular_net_trains_on_one_thread_whatever_torch_was_set_to(
    blobs, no_thread_override
):
    torch.set_num_threads(2)  # torch's default on this 2-core machine: one thread per core
    data = Recording(blobs[0])
    det = MemAEDetector(epochs=2, random_state=0).fit(data)
    n_val = round(0.1 * len(data))
    training = 1 + (len(data) - n_val) * 3 + n_val * 2  # shape check, scaler, epochs, validation
    assert {threads for threads, _ in data.seen[1:training]} == {1}
    assert det.run_["threads"] == 1
    assert torch.get_num_threads() == 2  # the caller's setting is restored


def test_threads_auto_takes_the_idle_cores_for_large_steps(monkeypatch, no_thread_override):
    big = lambda: 10 * SMALL_STEP_FLOPS  # noqa: E731
    monkeypatch.setattr(runtime, "cpu_count", lambda: 8)
    monkeypatch.setattr(runtime, "idle_cores", lambda: 7.6)
    assert resolve_threads("auto", big) == 8
    monkeypatch.setattr(runtime, "idle_cores", lambda: 2.2)  # a busy machine: no oversubscription
    assert resolve_threads("auto", big) == 2
    monkeypatch.setattr(runtime, "idle_cores", lambda: 0.1)
    assert resolve_threads("auto", big) == 1
    monkeypatch.setattr(runtime, "idle_cores", lambda: 7.6)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")  # four torchrun ranks share the machine
    assert resolve_threads("auto", big) == 2
    assert resolve_threads("auto", lambda: SMALL_STEP_FLOPS / 2) == 1
    assert resolve_threads(3, big) == 3
    monkeypatch.setenv(runtime.THREADS_ENV, "5")
    assert resolve_threads("auto", big) == 5
    monkeypatch.setenv(runtime.THREADS_ENV, "many")
    with pytest.raises(InputError, match="MEMAE_THREADS"):
        resolve_threads("auto", big)


def test_idle_cores_reads_the_machine():
    idle = runtime.idle_cores(reuse=0)
    assert 0 <= idle <= runtime.cpu_count()


def test_step_flops_counts_without_computing():
    from memae.models import create_model

    net = create_model("memae", (10,))
    before = [p.clone() for p in net.parameters()]
    train, forward = step_flops(net, (10,)), step_flops(net, (10,), train=False)
    assert 2.5 * forward < train < 3.5 * forward  # backward costs about twice the forward
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert all(p.grad is None for p in net.parameters())


def test_step_flops_counts_a_re_seeding_memory():
    """conv2d's memory re-seeds dead slots by default; its count is the convolutions', not the
    fallback of each weight used once (which sent every conv2d fit to one thread)."""
    from memae.models import create_model

    net = create_model("memae", (1, 28, 28))
    assert net.memory.reseed
    train, forward = step_flops(net, (1, 28, 28)), step_flops(net, (1, 28, 28), train=False)
    assert 2.5 * forward < train < 3.5 * forward


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_scores_in_fp32(blobs, precision):
    normal, anomalies = blobs
    params = {"epochs": 15, "random_state": 0, "threads": 1}
    det = MemAEDetector(**params, precision=precision).fit(normal)
    full = MemAEDetector(**params).fit(normal)
    assert det.run_["precision"] == precision
    assert all(p.dtype == torch.float32 for p in det.model_.parameters())
    scores = det.decision_function(np.vstack([normal, anomalies]))
    assert np.isfinite(scores).all()
    # close to the fp32 fit: the same data, a rounder arithmetic
    assert det.history_.val_loss[-1] < 1.5 * full.history_.val_loss[-1]
    assert scores[len(normal) :].mean() > 3 * scores[: len(normal)].mean()


def test_a_dataset_is_read_by_loader_workers_with_the_same_result(no_thread_override):
    X = np.random.default_rng(0).random((60, 1, 12, 12), dtype=np.float32)
    params = {"epochs": 2, "random_state": 0, "threads": 1}
    in_workers, here = Recording(X), Recording(X)
    a = MemAEDetector(**params, loader_workers=1).fit(in_workers)
    b = MemAEDetector(**params, loader_workers=0).fit(here)
    np.testing.assert_array_equal(a.decision_scores_, b.decision_scores_)
    # training read its items in the worker, whose copy of the dataset noted them; the scaler
    # and the scoring read theirs here
    assert {pid for _, pid in in_workers.seen} == {os.getpid()}
    assert len(in_workers.seen) < len(here.seen)


def test_a_bad_item_read_by_a_worker_is_one_line():
    class Bad(Dataset):
        def __len__(self):
            return 40

        def __getitem__(self, i):
            return torch.full((1, 8, 8), float("nan") if i == 33 else 0.5)

    with pytest.raises(InputError, match="NaN or infinite") as err:
        MemAEDetector(epochs=1, loader_workers=1, random_state=0).fit(Bad())
    assert "\n" not in str(err.value)


def test_very_large_tables_get_larger_batches_and_a_scaled_lr():
    assert resolve_schedule("mlp", 500_000, "auto", "auto", "auto").batch_size == 128
    middle = resolve_schedule("mlp", 800_000, "auto", "auto", "auto")
    assert (middle.batch_size, middle.lr) == (256, 2e-3)
    large = resolve_schedule("mlp", 1_800_000, "auto", "auto", "auto")  # the 2M-row table's
    assert (large.batch_size, large.lr) == (640, 6e-3)
    assert resolve_schedule("mlp", 1_800_000, "auto", "auto", 1e-3).batch_size == 640
    assert resolve_schedule("mlp", 1_800_000, "auto", 64, "auto").lr == 1e-3  # given batch
    assert resolve_schedule("conv2d", 2_000_000, "auto", "auto", "auto").batch_size == 64


def _net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.Tanh(), torch.nn.Flatten(), torch.nn.Linear(16, 2)
    ).to(memory_format=torch.channels_last)


def _adam_steps(net: torch.nn.Module, params: list, x: torch.Tensor) -> None:
    opt = torch.optim.Adam(params, lr=1e-2, weight_decay=1e-3, fused=True)
    for _ in range(5):
        opt.zero_grad(set_to_none=False)
        (net(x) ** 2).mean().backward()
        opt.step()


def test_adam_steps_one_flat_parameter_with_the_same_result():
    """One fused Adam op a step on the tabular net instead of Python work per tensor (the
    step's cost at large batches, issue #20); the arithmetic per element is Adam's."""
    x = torch.randn(8, 3, 4, 4).to(memory_format=torch.channels_last)
    plain, flat = _net(), _net()
    _adam_steps(plain, list(plain.parameters()), x)
    params = list(flat.parameters())
    with flat_parameters(params, enabled=True) as stepped:
        assert len(stepped) == 1 and stepped[0].numel() == sum(p.numel() for p in params)
        storage = stepped[0].untyped_storage().data_ptr()
        assert all(p.untyped_storage().data_ptr() == storage for p in params)
        _adam_steps(flat, stepped, x)
    for a, b in zip(plain.parameters(), flat.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
        assert b.untyped_storage().nbytes() == b.nbytes and b.grad is None  # its own again
        assert b.stride() == a.stride()  # the layout kept (channels-last conv weights)
    with flat_parameters(params, enabled=False) as stepped:  # under DDP: as they are
        assert stepped == params
