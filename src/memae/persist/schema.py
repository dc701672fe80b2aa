"""The model folder's schema (format ``memae.detector``, version 3) and its migrations.

``config.json`` holds the format tag and version, the estimator's parameters, the input shape,
the scaling mode, the threshold, the seed, the best epoch, the resolved training schedule, the
memory usage, how it was trained (``run``: ranks, backend, device, threads, precision), the run
plan, the fitted table encoder (``memae.data.encoder``; None but for tables), and the weights'
shapes and sha256; ``model.safetensors`` the
network (``model.*``), the scaler (``scaler.*``) and the training scores (``decision_scores``).

Every folder an earlier memae wrote loads (``tests/fixtures``): ``migrate`` brings its config
to today's schema, ``match_tensors`` its weights. Loading reads JSON and safetensors only.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from torch import Tensor

from .. import version
from ..errors import CheckpointError
from ..models import family_defaults, resolve_family
from ..models.registry import BOTTLENECK_DEFAULTS
from .atomic import read_folder, write_folder

FORMAT = "memae.detector"
FORMAT_VERSION = 3  # 2: the family's own defaults recorded; 3: the table encoder inside
LEGACY_ENCODER = "table_encoding.json"  # where `memae train --one-hot` kept it before version 3

FIELDS = {  # key -> what it holds; a key not here makes a folder foreign
    "format": "the format tag",
    "format_version": "the schema version",
    "memae_version": "the memae that wrote it",
    "params": "the estimator's parameters",
    "input_shape": "one sample's shape",
    "scaling": "the scaler's mode",
    "threshold": "the fitted threshold",
    "seed": "the seed the fit drew",
    "best_epoch": "the epoch whose weights were kept",
    "epochs_counted_from": "1 (folders without it counted epochs from 0)",
    "schedule": "the resolved training schedule",
    "family_defaults": "the family defaults the network was built with",
    "memory_usage": "the memory's slot usage on the training data",
    "run": "ranks, backend, device, threads, precision of the fit",
    "plan": "every auto setting as the fit resolved it",
    "encoder": "the fitted table encoder: feature, id, label and dropped columns",
    "tensors": "the weights' names and shapes",
    "files": "the sha256 of the weights",
}


def write_model(folder: str | os.PathLike, fields: dict[str, Any], tensors: dict[str, Tensor]):
    """Write a model folder from its ``fields`` (the keys of ``FIELDS`` but the format's own,
    best epoch counted from 0 as the fit keeps it) and ``tensors``."""
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "memae_version": version.__version__,
        **jsonable(fields),
        "best_epoch": int(fields["best_epoch"]) + 1,  # counted from 1, as printed everywhere
        "epochs_counted_from": 1,
        "tensors": {k: list(v.shape) for k, v in tensors.items()},
    }
    write_folder(folder, config, tensors)


def read_model(folder: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """-> (fields, tensors) of a model folder in today's schema (best epoch from 0, the
    family defaults it was built with); a ``CheckpointError`` names what is wrong."""
    config, tensors = read_folder(folder)
    check(folder, config)
    try:
        fields = migrate(config)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{folder}/config.json is inconsistent: {exc}") from None
    if config["format_version"] < 3:
        fields["encoder"] = _legacy_encoder(Path(folder) / LEGACY_ENCODER)
    return fields, tensors


def _legacy_encoder(path: Path) -> dict[str, Any] | None:
    """The table encoding that `memae train --one-hot` wrote beside folders of version 2."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupt: {exc}") from None


def check(path: Any, config: dict[str, Any]) -> None:
    """Refuse foreign, newer or malformed configs."""
    if config.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is not a memae detector (config format is "
            f"{config.get('format')!r}, expected {FORMAT!r})"
        )
    format_version = config.get("format_version")
    if not isinstance(format_version, int) or format_version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} was written by a newer memae ({config.get('memae_version')}); "
            "upgrade to load it"
        )
    unknown = sorted(set(config) - set(FIELDS))
    if unknown:
        raise CheckpointError(f"{path}/config.json has unknown keys: {few(unknown)}")
    threshold = config.get("threshold")
    if not isinstance(threshold, int | float) or not math.isfinite(threshold):
        raise CheckpointError(f"{path}/config.json: the threshold {threshold!r} is not a number")


def migrate(config: dict[str, Any]) -> dict[str, Any]:
    """A checked config of any version -> today's fields."""
    fields = {k: v for k, v in config.items() if k not in ("format", "format_version", "files")}
    # folders written before epochs_counted_from counted the best epoch from 0
    first = int(fields.pop("epochs_counted_from", 0))
    fields["best_epoch"] = int(fields.get("best_epoch", first - 1)) - first
    fields["family_defaults"] = _family_defaults_as_saved(fields)
    return fields


def _family_defaults_as_saved(fields: dict[str, Any]) -> dict[str, Any]:
    """The family's defaults as they were when the model was built, for every key it records
    or sets today (folders written before families had defaults of their own were built with
    the global ones)."""
    params = fields.get("params", {})
    shape = tuple(int(s) for s in fields.get("input_shape", ()))
    saved = fields.get("family_defaults") or {}
    now = family_defaults(resolve_family(params.get("model"), shape, params.get("family")))
    return {k: saved.get(k, BOTTLENECK_DEFAULTS[k]) for k in {*saved, *now}}


def match_tensors(path: Any, expected: dict[str, tuple], tensors: dict[str, Tensor]) -> None:
    """``tensors`` brought to today's names (in place) and checked against ``expected``: every
    one present with its shape, nothing else but the training scores, every float finite."""
    _drop_unused_view_weights(path, expected, tensors)
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected) - {"decision_scores"})
    wrong = sorted(
        k for k in set(expected) & set(tensors) if tuple(tensors[k].shape) != expected[k]
    )
    problems = []
    if missing:
        problems.append(f"missing {few(missing)}")
    if extra:
        problems.append(f"unexpected {few(extra)}")
    if wrong:
        problems.append(
            ", ".join(f"{k} is {tuple(tensors[k].shape)} not {expected[k]}" for k in wrong[:3])
        )
    if problems:
        raise CheckpointError(f"{path}: weights do not match the config: {'; '.join(problems)}")
    bad = [k for k, v in tensors.items() if v.is_floating_point() and not v.isfinite().all()]
    if bad:
        raise CheckpointError(f"{path}: weights contain NaN or infinite values ({few(bad)})")
    if "decision_scores" not in tensors or tensors["decision_scores"].dim() != 1:
        raise CheckpointError(f"{path}/model.safetensors lacks the training scores")


def _drop_unused_view_weights(path: Any, expected: dict, tensors: dict) -> None:
    """Folders written before only restoring models had view weights carry all-ones weights
    for every model; a model without views drops them."""
    if "model.view_weights" in expected or "model.view_weights" not in tensors:
        return
    if not bool((tensors.pop("model.view_weights") == 1).all()):
        raise CheckpointError(f"{path}: view weights on a model that has no views")


def few(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def jsonable(value: Any) -> Any:
    """``value`` as JSON can hold it (tuples as lists, non-finite floats as strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
