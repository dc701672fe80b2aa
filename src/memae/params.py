"""The one declaration of ``MemAEDetector``'s parameters: name, default, constraint, help.

The detector's checks, every ``memae train`` flag, the PyOD wrapper's defaults and the benches'
model specs are derived from ``PARAMS``; ``tests/test_params.py`` holds the estimator's
signature to it. A constraint is data: ``accepts`` a value, ``parse`` s a command-line string,
and says in words what it accepts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from .errors import InputError
from .memory import ENTROPY_WEIGHT, SHRINK_RANGE, SIMILARITIES, TEMPERATURE
from .models import VARIANTS
from .preprocessing import MODES

AUTO = "auto"
PRECISIONS = ("fp32", "bf16", "fp16")  # training arithmetic (memae.fitting.Precision)


@dataclass(frozen=True)
class Integer:
    low: int = 1

    def accepts(self, v: Any) -> bool:
        return isinstance(v, Integral) and not isinstance(v, bool) and v >= self.low

    def parse(self, text: str) -> Any:
        return int(text)

    def __str__(self) -> str:
        return f"an integer >= {self.low}"


@dataclass(frozen=True)
class Number:
    """A real number in the interval from ``low`` to ``high``, each end open or closed."""

    low: float
    high: float = float("inf")
    open_low: bool = False
    open_high: bool = False

    def accepts(self, v: Any) -> bool:
        if not isinstance(v, Real) or isinstance(v, bool) or v != v:
            return False
        above = v > self.low if self.open_low else v >= self.low
        below = v < self.high if self.open_high else v <= self.high
        return above and below

    def parse(self, text: str) -> Any:
        return float(text)

    def __str__(self) -> str:
        lo = "(" if self.open_low else "["
        hi = ")" if self.open_high or self.high == float("inf") else "]"
        return f"a number in {lo}{self.low:g}, {self.high:g}{hi}"


@dataclass(frozen=True)
class Choice:
    options: tuple[Any, ...]

    def accepts(self, v: Any) -> bool:
        return isinstance(v, type(self.options[0])) and v in self.options

    def parse(self, text: str) -> Any:
        return text

    def __str__(self) -> str:
        if len(self.options) == 1:
            return repr(self.options[0])
        return "one of " + ", ".join(map(str, self.options))


@dataclass(frozen=True)
class Flag:
    """On the command line a flag has no value; in a bench spec it reads 1/0, true/false."""

    def accepts(self, v: Any) -> bool:
        return v is True or v is False

    def parse(self, text: str) -> Any:
        words = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}
        if text.lower() not in words:
            raise ValueError(f"{text!r} is not {self}")
        return words[text.lower()]

    def __str__(self) -> str:
        return "True or False"


@dataclass(frozen=True)
class Mapping:
    def accepts(self, v: Any) -> bool:
        return isinstance(v, dict) and all(isinstance(k, str) for k in v)

    def parse(self, text: str) -> Any:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError(f"{text!r} is not a JSON object")
        return value

    def __str__(self) -> str:
        return "a dict of options (JSON on the command line: '{\"hidden\": [32, 8]}')"


@dataclass(frozen=True)
class Text:
    def accepts(self, v: Any) -> bool:
        return isinstance(v, str) and bool(v)

    def parse(self, text: str) -> Any:
        return text

    def __str__(self) -> str:
        return "a name"


@dataclass(frozen=True)
class Either:
    """``first`` or ``second``: e.g. ``Either(Choice(("auto",)), Integer())`` for "auto" or n."""

    first: Any
    second: Any

    def accepts(self, v: Any) -> bool:
        return self.first.accepts(v) or self.second.accepts(v)

    def parse(self, text: str) -> Any:
        for kind in (self.first, self.second):
            try:
                value = kind.parse(text)
            except (TypeError, ValueError):
                continue
            if kind.accepts(value):
                return value
        raise ValueError(f"{text!r} is not {self}")

    def __str__(self) -> str:
        return f"{self.first} or {self.second}"


@dataclass(frozen=True)
class Instance:
    cls: type

    def accepts(self, v: Any) -> bool:
        return isinstance(v, self.cls)

    def parse(self, text: str) -> Any:
        raise TypeError(f"a {self.cls.__name__} cannot be given on the command line")

    def __str__(self) -> str:
        return f"a {self.cls.__name__}"


@dataclass(frozen=True)
class Nothing:
    def accepts(self, v: Any) -> bool:
        return v is None

    def parse(self, text: str) -> Any:
        if text.lower() != "none":
            raise ValueError(text)

    def __str__(self) -> str:
        return "None"


def optional(kind: Any) -> Either:
    return Either(Nothing(), kind)


def auto_or(kind: Any) -> Either:
    return Either(Choice((AUTO,)), kind)


@dataclass(frozen=True)
class Param:
    """group: ``model`` (passed to ``create_model``), ``training``, ``threshold``, ``scoring``
    or ``runtime``. ``flag``: the ``memae train`` flag, where it is not ``--name``."""

    name: str
    default: Any
    kind: Any
    help: str
    group: str
    flag: str | None = None

    @property
    def cli_flag(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    def read(self, text: str) -> Any:
        """The value that ``text`` (a command-line or model-spec value) gives this parameter;
        a ValueError says what it should be."""
        try:
            value = self.kind.parse(text)
        except (TypeError, ValueError):
            value = None
        if not self.kind.accepts(value):
            raise ValueError(f"{text!r} is not {self.kind}")
        return value


PARAMS: tuple[Param, ...] = (
    Param(
        "model", "memae", Choice(tuple(VARIANTS)), "the variant (memae.models.VARIANTS)", "model"
    ),
    Param(
        "family",
        None,
        optional(Text()),
        "backbone: mlp, conv2d, conv3d, unet (None: from the sample rank)",
        "model",
    ),
    Param("mem_slots", None, optional(Integer()), "memory size N (None: the paper's)", "model"),
    Param(
        "shrink_threshold",
        None,
        optional(Number(*SHRINK_RANGE, open_high=True)),
        "hard shrinkage lambda (None: 1/N)",
        "model",
    ),
    Param(
        "similarity",
        None,
        optional(Choice(SIMILARITIES)),
        "memory addressing: dot, cosine, scaled_dot (None: cosine for conv2d, else dot)",
        "model",
    ),
    Param(
        "temperature",
        None,
        optional(Number(0, open_low=True)),
        f"softmax temperature of cosine addressing (None: {TEMPERATURE})",
        "model",
    ),
    Param(
        "entropy_weight",
        None,
        optional(Number(0)),
        f"alpha of the addressing entropy loss (None: {ENTROPY_WEIGHT})",
        "model",
    ),
    Param(
        "model_options",
        None,
        optional(Mapping()),
        "further options of the family (hidden, layers, channels) or bottleneck",
        "model",
    ),
    Param(
        "epochs",
        AUTO,
        auto_or(Integer(0)),
        "training epochs; auto: the family's budget of samples seen, sized by the data; "
        "0: the network at its initialisation (what a protocol gives an untrained net)",
        "training",
    ),
    Param(
        "batch_size",
        AUTO,
        auto_or(Integer()),
        "training batch; auto: the family's, at most an eighth of the training rows",
        "training",
    ),
    Param(
        "lr",
        AUTO,
        auto_or(Number(0, open_low=True)),
        "Adam learning rate; auto: 1e-3 (the papers' 1e-4 needs many more epochs)",
        "training",
    ),
    Param("weight_decay", 0.0, Number(0), "Adam weight decay", "training"),
    Param(
        "lr_schedule",
        "constant",
        Choice(("constant", "cosine")),
        "constant (paper) or cosine (decay to 0 over the epochs)",
        "training",
    ),
    Param(
        "validation_fraction",
        0.1,
        Number(0, 1, open_high=True),
        "share held out to pick the best epoch and the threshold",
        "training",
    ),
    Param(
        "contamination",
        0.1,
        Number(0, 0.5, open_low=True),
        "expected anomaly share: threshold = (1 - c) quantile of held-out scores",
        "threshold",
    ),
    Param(
        "threshold_quantile",
        None,
        optional(Number(0, 1, open_low=True, open_high=True)),
        "the held-out quantile used as threshold (overrides contamination)",
        "threshold",
    ),
    Param(
        "scaling",
        AUTO,
        Choice(MODES),
        "input scaling fitted on the training split (auto: minmax vectors, global images)",
        "training",
    ),
    Param(
        "error_sigma",
        0.0,
        Number(0, 32),
        "images/clips: Gaussian smoothing (pixels) of the residual before squaring",
        "scoring",
    ),
    Param(
        "error_top",
        1.0,
        Number(0, 1, open_low=True),
        "score by the mean of this fraction of positions with the largest error (1: all)",
        "scoring",
    ),
    Param("device", AUTO, Text(), "auto (CUDA when available), cpu, cuda, cuda:1, ...", "runtime"),
    Param(
        "threads",
        AUTO,
        auto_or(Integer()),
        "torch threads; auto: 1 for small steps, else the idle cores (MEMAE_THREADS overrides)",
        "runtime",
    ),
    Param(
        "precision",
        "fp32",
        Choice(PRECISIONS),
        "training arithmetic: fp32, or mixed bf16 / fp16 under autocast (scores stay fp32)",
        "runtime",
    ),
    Param(
        "loader_workers",
        AUTO,
        auto_or(Integer(0)),
        "Dataset inputs: DataLoader worker processes; auto: 0 on CPU, up to 8 with a GPU",
        "runtime",
    ),
    Param(
        "compile",
        False,
        Flag(),
        "train through torch.compile (a plain model is saved; not bit-identical)",
        "runtime",
    ),
    Param(
        "channels_last",
        False,
        Flag(),
        "images and clips: train in the channels-last layout (faster CPU convolutions)",
        "runtime",
    ),
    Param(
        "inference_batch_size",
        AUTO,
        auto_or(Integer()),
        "batch size for scoring; auto: 4096 vectors, 256 images and clips",
        "runtime",
    ),
    Param(
        "random_state",
        None,
        optional(Either(Integer(0), Instance(np.random.RandomState))),
        "seed: the same seed gives the same scores on the same CPU and thread count",
        "runtime",
        flag="--seed",
    ),
    Param(
        "verbose",
        0,
        Either(Flag(), Integer(0)),
        "progress bar with the loss (1) or none (0)",
        "runtime",
    ),
)

BY_NAME: dict[str, Param] = {p.name: p for p in PARAMS}
DEFAULTS: dict[str, Any] = {p.name: p.default for p in PARAMS}
# the memory settings, passed to ``create_model`` as keyword arguments where not None
MODEL_KEYS: tuple[str, ...] = tuple(
    p.name
    for p in PARAMS
    if p.group == "model" and p.name not in ("model", "family", "model_options")
)


def check_params(values: dict[str, Any]) -> None:
    """Raise ``InputError`` naming the first value its constraint refuses, or a setting given
    both as a parameter and inside ``model_options``."""
    for p in PARAMS:
        value = values[p.name]
        if not p.kind.accepts(value):
            raise InputError(f"invalid parameter: {p.name}={value!r} ({p.kind})")
    options = values["model_options"] or {}
    for key in options:
        if key in BY_NAME and key in MODEL_KEYS and values[key] is not None:
            raise InputError(
                f"invalid parameter: {key} is given twice, as {key}={values[key]!r} and as "
                f"model_options[{key!r}]={options[key]!r}; give it once"
            )
        if key in BY_NAME and key not in MODEL_KEYS:
            raise InputError(
                f"invalid parameter: model_options[{key!r}]: {key} is a detector parameter, "
                "not a model option; pass it as one"
            )
