"""What every benchmark shares: model specs and building the detector for one."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import re
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from ..detector import MemAEDetector
from ..errors import CheckpointError, InputError
from ..models import VARIANTS
from ..params import BY_NAME
from .baselines import BASELINES, PYOD_REFERENCES, PyODReference

log = logging.getLogger(__name__)


def parse_model(spec: str) -> tuple[str, dict[str, Any]]:
    """``memae`` or ``memae:similarity=cosine:mem_slots=200`` -> (name, options)."""
    name, *pairs = spec.split(":")
    known = [*BASELINES, *PYOD_REFERENCES, *VARIANTS]
    if name not in known:
        raise InputError(f"unknown model {name!r}; choose from {', '.join(known)}")
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"model option {pair!r} in {spec!r} is not key=value")
        options[key] = _value(key, value)
    return name, options


def _value(key: str, text: str) -> Any:
    """A detector parameter is read as its table entry reads it (``channels_last=1`` is True);
    a model option as a JSON list, an int, a float or a name."""
    if key in BY_NAME:
        with contextlib.suppress(ValueError):  # else as a model option; the detector says why
            return BY_NAME[key].read(text)
    if text.startswith("["):  # a list, e.g. channels=[16,32,64]
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise InputError(f"model option value {text!r} is not a JSON list") from None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def make_detector(spec: str, seed: int, training: dict[str, Any], device: str) -> Any:
    """A fresh, unfitted detector for ``spec``: a classic baseline, a PyOD reference, or a
    ``MemAEDetector`` with the benchmark's ``training`` settings (spec options override them;
    options that are not detector parameters go to ``model_options``)."""
    name, options = parse_model(spec)
    if name in BASELINES:
        return BASELINES[name](random_state=seed, **options)
    if name in PYOD_REFERENCES:
        return PyODReference(name, random_state=seed, **options)
    # this process's torch threads: all of them, or a worker's share under --jobs (the rows
    # keep the figures of the thread count they were measured with; a spec may override it)
    params = {"threads": torch.get_num_threads(), **training, **options}
    top = {k: v for k, v in params.items() if k in BY_NAME}
    extra = {k: v for k, v in params.items() if k not in top}
    model_options = {**(top.pop("model_options", None) or {}), **extra}
    return MemAEDetector(
        name, random_state=seed, device=device, **top, model_options=model_options or None
    )


def training_overrides(base: dict[str, Any], bench: Any) -> dict[str, Any]:
    """``base`` training settings with the bench's own ``epochs``, ``lr``, ``batch_size`` (where
    given) and ``compile`` (where true) put over them."""
    out = dict(base)
    for k in ("epochs", "lr", "batch_size"):
        if getattr(bench, k, None) is not None:
            out[k] = getattr(bench, k)
    if getattr(bench, "compile", False):
        out["compile"] = True
    return out


def with_budget(
    training: dict[str, Any], budgets: dict[str, int], spec: str, epochs_given: int | None
) -> dict[str, Any]:
    """``training`` with the epochs of ``spec``'s own budget in this preset (``budgets``: model
    name -> epochs, each chosen on that model's training loss by the rule of
    ``benchmarks/epoch_budget.py``), unless the bench was given its epochs; a model without a
    budget keeps the preset's epochs, and a spec's own ``epochs=`` is put over both."""
    name = parse_model(spec)[0]
    if epochs_given is None and name in budgets:
        return {**training, "epochs": int(budgets[name])}
    return training


def budget_note(budgets: dict[str, int], epochs_given: int | None) -> str:
    """What a results page says of the epochs each model trained for (``with_budget``)."""
    if epochs_given is not None:
        return "the bench's --epochs"
    if not budgets:
        return "the preset's, every model"
    return f"{budgets} (chosen on training loss), others the preset's"


def slug(spec: str) -> str:
    """File-name-safe form of a model spec: ``arnet:channels=[8,16]`` -> ``arnet_channels_8_16``."""
    return re.sub(r"[^\w.-]+", "_", spec).strip("_")


def fit_and_score(
    spec: str,
    seed: int,
    training: dict[str, Any],
    device: str,
    train: Any,
    test: Any,
    score: Callable[[Any, Any], Any] | None = None,
    state_dir: Path | None = None,
) -> tuple[Any, Any, dict[str, Any]]:
    """Fit a fresh detector for ``spec`` on ``train`` and score ``test`` (by ``score(det,
    test)`` where given, ``decision_function`` otherwise). ``state_dir``: a ``MemAEDetector``
    keeps its training state there and continues one it finds, so that a killed bench goes on
    with the fit it was in (``resumed_epochs``: the epochs that ``fit_s`` does not cover).

    -> (detector, scores, row fields: fit_s, score_s and, for ``MemAEDetector`` models,
    epochs, lr, best epoch and its held-out loss, resumed epochs and memory usage)."""
    det = make_detector(spec, seed, training, device)
    start = time.perf_counter()
    _fit(det, train, state_dir)
    fit_s = time.perf_counter() - start
    if score is not None:
        scores = score(det, test)
    else:
        scores = np.asarray(det.decision_function(test), dtype=float)
    info: dict[str, Any] = {"fit_s": fit_s, "score_s": time.perf_counter() - start - fit_s}
    if isinstance(det, MemAEDetector):
        info |= {
            "epochs": det.schedule_.epochs,
            "lr": det.schedule_.lr,
            "best_epoch": det.history_.best_epoch + 1,
            "best_val_loss": det.history_.best_val_loss,
            "resumed_epochs": det.history_.resumed_epochs,
        }
        if det.memory_usage_:
            info |= {
                "slots_addressed": det.memory_usage_["slots_addressed"],
                "nonzero_per_query": det.memory_usage_["mean_nonzero_per_query"],
                "effective_slots": det.memory_usage_["effective_slots"],
            }
    return det, scores, info


def _fit(det: Any, train: Any, state_dir: Path | None) -> None:
    """``det.fit(train)``; a ``MemAEDetector`` keeps its state in ``state_dir`` (for the runner
    to remove once the row is in) and continues one left there."""
    if state_dir is None or not isinstance(det, MemAEDetector):
        det.fit(train)
        return
    try:
        det.fit(train, state_dir=state_dir, resume="auto", keep_state=True)
    except CheckpointError as exc:  # of other settings or a broken save: no use to this fit
        log.warning("%s: starting the fit over", exc)
        det.fit(train, state_dir=state_dir, keep_state=True)


Fitted = tuple[Any, np.ndarray, dict[str, Any]]  # what fit_and_score returns
Tag = TypeVar("Tag")


def job_threads(jobs: int) -> int:
    """Torch threads of each of ``jobs`` parallel jobs: this process's threads shared out."""
    return max(1, torch.get_num_threads() // jobs)


def fit_many(
    work: Iterable[tuple[Tag, tuple[Any, ...]]], jobs: int = 1
) -> Iterator[tuple[Tag, Fitted]]:
    """``fit_and_score(*args)`` for each ``(tag, args)`` of ``work`` -> ``(tag, result)`` as each
    finishes.

    ``jobs`` = 1 runs them one after another in this process, taking ``work`` lazily. More jobs
    run that many worker processes at once, each with its share of this process's torch threads
    (small models use two cores better as two one-thread jobs than as one two-thread job).
    A row's figures depend on its job's thread count only up to floating-point rounding."""
    if jobs <= 1:
        for tag, args in work:
            yield tag, fit_and_score(*args)
        return
    pool = ProcessPoolExecutor(
        jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=torch.set_num_threads,
        initargs=(job_threads(jobs),),
    )
    try:
        futures = {pool.submit(fit_and_score, *args): tag for tag, args in work}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        pool.shutdown(cancel_futures=True)
