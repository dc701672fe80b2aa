"""Arrays or a torch Dataset, seen as a sized collection of equally shaped samples in batches."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from .errors import InputError
from .validation import check_array, check_finite_batch, dataset_sample_shape, first_item


class Samples:
    """Validated data: ``shape`` of one sample, ``len()`` samples, ``batches()`` of float32.

    Arrays are held as given (a memory-mapped ``.npy`` stays on disk: a batch reads its rows);
    a torch Dataset is read item by item, in DataLoader worker processes when ``workers``."""

    def __init__(self, X: Any, name: str = "X", min_samples: int = 1) -> None:
        self.name = name
        self.dataset: Dataset | None = None
        self.array: Tensor | None = None
        self.mapped: np.ndarray | None = None
        if isinstance(X, Dataset):
            self.dataset = X
            self.shape = dataset_sample_shape(X, name, min_samples)
            self.n = len(X)  # type: ignore[arg-type]
            return
        arr = check_array(X, name, min_samples)
        if arr.dtype != np.float32 or not arr.flags.writeable:  # a memory map, or to convert
            self.mapped = arr  # rows read (as float32) batch by batch
        else:
            self.array = torch.from_numpy(arr)
        self.shape = tuple(arr.shape[1:])
        self.n = len(arr)

    def __len__(self) -> int:
        return self.n

    def chunks(
        self,
        indices: Tensor | None = None,
        batch_size: int = 256,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        min_last: int = 2,
    ) -> list[Tensor]:
        """The batches of ``indices`` (all samples when None) as index tensors, shuffled by
        ``generator`` when ``shuffle``. When shuffling (training) a trailing batch of fewer
        than ``min_last`` samples is merged into the previous one, so BatchNorm never sees a
        batch of size 1 (and each of ``min_last`` ranks gets a share)."""
        idx = torch.arange(self.n, dtype=torch.int32) if indices is None else indices
        if shuffle:
            idx = idx[torch.randperm(len(idx), generator=generator, dtype=torch.int32)]
        chunks = [c for c in idx.split(batch_size) if len(c)]
        if shuffle and len(chunks) > 1 and len(chunks[-1]) < min_last:
            chunks[-2:] = [torch.cat(chunks[-2:])]
        return chunks

    def batches(
        self,
        indices: Tensor | None = None,
        batch_size: int = 256,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Tensor]:
        """Yield (B, *shape) CPU float32 batches of ``indices`` (see ``chunks``)."""
        for chunk in self.chunks(indices, batch_size, shuffle, generator):
            yield self.take(chunk)

    def reader(self, workers: int = 0, pin: bool = False) -> InProcess | Loader:
        """-> a function from index chunks to their batches, in order. A Dataset is read by
        ``workers`` DataLoader processes (kept for the whole fit; ``pin``: into pinned memory,
        for non-blocking copies to a GPU); arrays are read in this process."""
        if self.dataset is None or (workers == 0 and not pin):
            return InProcess(self)
        return Loader(self, workers, pin)

    def take(self, chunk: Tensor) -> Tensor:
        """The samples ``chunk`` as one (B, *shape) float32 CPU batch."""
        if self.array is not None:  # (index_select: a plain row gather, no advanced indexing)
            return self.array.index_select(0, chunk)
        if self.mapped is not None:
            order = chunk.argsort()  # read the file front to back
            rows = np.asarray(self.mapped[chunk[order].numpy()], dtype=np.float32)
            batch = torch.empty((len(chunk), *self.shape))
            batch[order] = torch.from_numpy(rows)
            return batch
        return read_items(self.dataset, chunk, self.shape, self.name)


def read_items(dataset: Any, chunk: Tensor, shape: tuple[int, ...], name: str) -> Tensor:
    """The Dataset items ``chunk`` stacked into a float32 batch, each checked."""
    indices = chunk.tolist()
    return stack_items(indices, [dataset[i] for i in indices], shape, name)


def stack_items(indices: list[int], items: list[Any], shape: tuple[int, ...], name: str) -> Tensor:
    """Items (tensors, or tuples whose first element is one) -> a checked float32 batch."""
    tensors = [torch.as_tensor(first_item(item)) for item in items]
    for i, t in zip(indices, tensors, strict=True):
        if tuple(t.shape) != shape:
            raise InputError(f"{name}[{i}] has shape {tuple(t.shape)}, not {shape}")
    batch = torch.stack(tensors).float()
    check_finite_batch(batch, name)
    return batch


class InProcess:
    """Batches read in this process, in the order of the index chunks given."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def __call__(self, chunks: list[Tensor]) -> Iterator[Tensor]:
        return (self.samples.take(c) for c in chunks)

    def close(self) -> None:
        pass


class Loader:
    """A torch DataLoader over a Dataset whose batches are the index chunks it is called with."""

    def __init__(self, samples: Samples, workers: int, pin: bool) -> None:
        self.sampler = _Chunks()
        self.loader = DataLoader(
            _Indexed(samples.dataset),
            batch_sampler=self.sampler,
            num_workers=workers,
            collate_fn=functools.partial(_collate, shape=samples.shape, name=samples.name),
            pin_memory=pin,
            persistent_workers=workers > 0,
            # worker seeds from a generator of its own: reading moves no training randomness
            # (erasers, re-seeding), so workers or none give the same fit
            generator=torch.Generator().manual_seed(0),
        )

    def close(self) -> None:
        """Stop the worker processes now (they outlive a pass, for the next epoch)."""
        iterator = getattr(self.loader, "_iterator", None)
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self.loader._iterator = None

    def __call__(self, chunks: list[Tensor]) -> Iterator[Tensor]:
        self.sampler.chunks = chunks
        for batch in self.loader:
            if isinstance(batch, str):  # a worker's InputError, as one line
                raise InputError(batch)
            yield batch


class _Chunks(Sampler):
    """The batch sampler: the chunks of the pass about to start (read in the main process)."""

    def __init__(self) -> None:
        self.chunks: list[Tensor] = []

    def __iter__(self) -> Iterator[list[int]]:
        return iter([c.tolist() for c in self.chunks])

    def __len__(self) -> int:
        return len(self.chunks)


class _Indexed(Dataset):
    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __getitem__(self, i: int) -> tuple[int, Any]:
        return i, self.dataset[i]

    def __len__(self) -> int:
        return len(self.dataset)


def _collate(items: list[tuple[int, Any]], shape: tuple[int, ...], name: str) -> Tensor | str:
    """Worker side: the checked batch, or the error's message (re-raised in the main process)."""
    try:
        return stack_items([i for i, _ in items], [item for _, item in items], shape, name)
    except InputError as exc:
        return str(exc)
