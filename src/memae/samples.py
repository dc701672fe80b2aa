"""Arrays or a torch Dataset, seen as a sized collection of equally shaped samples in batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from .errors import InputError
from .validation import check_array, check_finite_batch, dataset_sample_shape, first_item


class Samples:
    """Validated data: ``shape`` of one sample, ``len()`` samples, ``batches()`` of float32."""

    def __init__(self, X: Any, name: str = "X", min_samples: int = 1) -> None:
        self.name = name
        if isinstance(X, Dataset):
            self.dataset: Dataset | None = X
            self.array: Tensor | None = None
            self.shape = dataset_sample_shape(X, name, min_samples)
            self.n = len(X)  # type: ignore[arg-type]
        else:
            self.dataset = None
            self.array = torch.from_numpy(check_array(X, name, min_samples))
            self.shape = tuple(self.array.shape[1:])
            self.n = len(self.array)

    def __len__(self) -> int:
        return self.n

    def batches(
        self,
        indices: Tensor | None = None,
        batch_size: int = 256,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
    ) -> Iterator[Tensor]:
        """Yield (B, *shape) CPU float32 batches of ``indices`` (all samples when None).

        A trailing batch of one sample is merged into the previous one when shuffling (training),
        so BatchNorm never sees a batch of size 1.
        """
        idx = torch.arange(self.n) if indices is None else indices
        if shuffle:
            idx = idx[torch.randperm(len(idx), generator=generator)]
        chunks = list(idx.split(batch_size))
        if shuffle and len(chunks) > 1 and len(chunks[-1]) == 1:
            chunks[-2:] = [torch.cat(chunks[-2:])]
        for chunk in chunks:
            yield self._take(chunk)

    def _take(self, chunk: Tensor) -> Tensor:
        if self.array is not None:
            return self.array[chunk]
        items = [torch.as_tensor(first_item(self.dataset[int(i)])) for i in chunk]
        for i, t in zip(chunk, items, strict=True):
            if tuple(t.shape) != self.shape:
                raise InputError(
                    f"{self.name}[{int(i)}] has shape {tuple(t.shape)}, not {self.shape}"
                )
        batch = torch.stack(items).float()
        check_finite_batch(batch, self.name)
        return batch
