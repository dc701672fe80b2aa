"""The one loop every bench runs: for each job whose key is not in the results table yet, fit a
fresh detector for its model spec on its training data and score its test data (in worker
processes when asked), turn that into the row's fields, and add the row (the table is written
after each row, so a rerun resumes; a ``MemAEDetector`` fit keeps its training state in
``state/`` beside the table until its row is in, so a rerun also goes on with the fit a killed
run was in)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from .. import distributed, persist
from .common import fit_many, slug
from .results import ResultsTable

Scorer = Callable[[Any, Any], Any]  # (fitted detector, test data) -> scores, or what a bench needs


@dataclass
class Job:
    """One row to compute. ``data`` returns (train, test) and is called only when the row is
    missing; ``context`` is whatever the bench needs to finish the row; ``score`` replaces
    ``decision_function`` (a module-level function, so that worker processes can take it)."""

    key: dict[str, Any]
    spec: str
    seed: int
    training: dict[str, Any]
    device: str
    data: Callable[[], tuple[Any, Any]]
    context: Any = None
    score: Scorer | None = field(default=None)

    def args(self) -> tuple[Any, ...]:
        train, test = self.data()
        return (self.spec, self.seed, self.training, self.device, train, test, self.score)


# (job, fitted detector, scores, fit/score info) -> the row's fields besides its key
RowFields = Callable[[Job, Any, Any, dict[str, Any]], dict[str, Any]]


def run_jobs(
    table: ResultsTable,
    jobs: Iterable[Job],
    row: RowFields,
    *,
    desc: str,
    total: int | None = None,
    workers: int = 1,
    after: Callable[[Job], None] | None = None,
) -> None:
    """Compute and add every missing row of ``jobs`` (``workers`` at once); ``after(job)``
    runs once its row is in the table. Under torchrun every rank runs every job, each fit
    spread over the ranks, and rank 0 writes the table."""
    bar = tqdm(total=total, desc=desc, unit="model", disable=not distributed.is_first_rank())

    def pending() -> Iterator[tuple[Job, tuple[Any, ...]]]:
        for job in jobs:
            if table.done(**job.key):
                if distributed.is_first_rank():  # a kill between the row and the removal
                    persist.remove(state_dir(table, job.key))
                bar.update()
                continue
            bar.set_postfix_str(" ".join(str(v) for v in job.key.values()))
            yield job, (*job.args(), state_dir(table, job.key))

    try:
        for job, (det, scores, info) in fit_many(pending(), workers):
            table.add({**job.key, **row(job, det, scores, info)})
            if distributed.is_first_rank():
                persist.remove(state_dir(table, job.key))
            bar.update()
            if after is not None:
                after(job)
    finally:
        bar.close()


def state_dir(table: ResultsTable, key: dict[str, Any]) -> Path:
    """Where the fit of the row ``key`` keeps its training state until the row is in ``table``
    (named for the key, and a hash of it: specs that slug alike stay apart)."""
    text = json.dumps({k: str(v) for k, v in key.items()}, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()[:10]
    return table.path.parent / "state" / f"{slug('_'.join(map(str, key.values())))[:100]}-{digest}"
