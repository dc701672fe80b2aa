"""Model registry: a model is a *variant* (which bottleneck) on a *family* (which backbone).

``create_model("memae", input_shape=(1, 28, 28))`` picks the family from the input rank (vector ->
mlp, image -> conv2d, clip -> conv3d) unless ``family=`` names one. Variants differ only by
configuration; adding a family is one file with ``@register_family``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import dagmm, dcn, mnad  # noqa: F401  (registers the heads and MNAD's bottleneck)
from .base import Autoencoder, Backbone
from .bottlenecks import BOTTLENECKS, BlockBottleneck, Bottleneck
from .dsebm import ENERGY_DEFAULTS, EnergyModel
from .heads import HEADS
from .pixelcnn import PIXELCNN_DEFAULTS, PixelCNN
from .restore import RESTORE_DEFAULTS, eraser_names


@dataclass(frozen=True)
class Family:
    name: str
    rank: int  # rank of one sample: 1 = vector, 3 = image (c, h, w), 4 = clip (c, t, h, w)
    build: Callable[..., Backbone]
    defaults: dict[str, Any] = field(default_factory=dict)  # its own BOTTLENECK_DEFAULTS


@dataclass(frozen=True)
class Variant:
    bottleneck: str  # none | l1 | memory | gaussian
    fixed: dict[str, Any] = field(default_factory=dict)
    summary: str = ""
    family: str | None = None  # None: chosen from the input rank
    restore: bool = False  # ARNet: trained to undo attribute erasure
    head: str | None = None  # a scoring head of heads.py (DAGMM, DCN): its score is reported
    # "autoencoder"; "energy": DSEBM, the family's encoder as an energy, scored by it;
    # "pixelcnn": an autoregressive likelihood model, scored by its NLL (images only)
    kind: str = "autoencoder"


_FAMILIES: dict[str, Family] = {}

VARIANTS: dict[str, Variant] = {
    "ae": Variant("none", summary="plain autoencoder"),
    "ae-l1": Variant("l1", summary="autoencoder with an l1 penalty on the code"),
    "memae": Variant("memory", summary="MemAE: memory, hard shrinkage, entropy loss"),
    "memae-nonspar": Variant(
        "memory", {"shrink_threshold": 0.0, "entropy_weight": 0.0}, "memory, no sparsity"
    ),
    "memae-noshrink": Variant("memory", {"shrink_threshold": 0.0}, "MemAE without shrinkage"),
    "memae-noentropy": Variant("memory", {"entropy_weight": 0.0}, "MemAE without entropy loss"),
    "memae-local": Variant(
        "memory-local", {"reseed": 0}, "MemAE with its own memory at each position"
    ),
    "mnad": Variant("mnad", summary="MNAD: query and read item concatenated, compact/separate"),
    "ae-pred": Variant("none", summary="U-Net predicting a clip's last frame", family="pred"),
    "memae-pred": Variant("memory", summary="ae-pred with MemAE's memory", family="pred"),
    "mnad-pred": Variant("mnad", summary="MNAD's prediction model", family="pred"),
    "memae-map": Variant(
        "memory", summary="MemAE's memory at every location of a fine code map", family="map"
    ),
    "memae-pred-ms": Variant(
        "memory",
        {"memory_scales": 3},
        "memae-pred with memories on its 2 coarsest skips too",
        family="pred",
    ),
    "vae": Variant("gaussian", summary="variational autoencoder scored by reconstruction error"),
    "arnet": Variant(
        "none", summary="ARNet: U-Net restoring erased attributes", family="unet", restore=True
    ),
    "arnet-mem": Variant(
        "memory", summary="ARNet with MemAE's memory at the bottleneck", family="unet", restore=True
    ),
    "dagmm": Variant(
        "none", summary="DAGMM: a Gaussian mixture on [code, reconstruction features]", head="gmm"
    ),
    "dcn": Variant("none", summary="DCN: k-means on the codes", head="kmeans"),
    "dsebm": Variant("none", summary="DSEBM: an energy trained by score matching", kind="energy"),
    "pixcnn": Variant(
        "none", summary="PixelCNN, scored by its NLL", family="conv2d", kind="pixelcnn"
    ),
}

# Every setting create_model takes besides the family's own options, with its default: each
# bottleneck's (models/bottlenecks.py), each head's (models/heads.py), DSEBM's (models/dsebm.py),
# ARNet's (models/restore.py) and where the memory sits.
# Any variant accepts all of them, so that one spec can serve a table of variants; each is used
# only by what declares it.
LAYOUT_DEFAULTS: dict[str, Any] = {
    "memory_on": None,  # "flat" | "location"; None: the family's
    "memory_scales": 1,  # U-Nets: also a memory on each of the coarsest memory_scales - 1 skips
    "memory_block": 1,  # memory_on="location" on images: one query per b x b block (DAAD)
}
BOTTLENECK_DEFAULTS: dict[str, Any] = {
    **BOTTLENECKS.defaults(),
    **HEADS.defaults(),
    **ENERGY_DEFAULTS,
    **PIXELCNN_DEFAULTS,
    **LAYOUT_DEFAULTS,
    **RESTORE_DEFAULTS,
}


def register_family(
    name: str, rank: int, **defaults: Any
) -> Callable[[Callable[..., Backbone]], Callable]:
    """``defaults``: settings of ``BOTTLENECK_DEFAULTS`` that this family sets otherwise (a
    checkpoint records them, so a later change of them does not change a saved model)."""
    unknown = sorted(set(defaults) - set(BOTTLENECK_DEFAULTS))
    if unknown:
        raise ValueError(f"family {name!r}: unknown default(s) {', '.join(unknown)}")

    def wrap(build: Callable[..., Backbone]) -> Callable[..., Backbone]:
        _FAMILIES[name] = Family(name, rank, build, dict(defaults))
        return build

    return wrap


def list_models() -> list[str]:
    return list(VARIANTS)


def list_families() -> list[str]:
    return list(_FAMILIES)


# the family a sample's rank picks when neither the call nor the variant names one
BY_RANK = {1: "mlp", 3: "conv2d", 4: "conv3d"}


def family_for(input_shape: tuple[int, ...]) -> str:
    """The family ``BY_RANK`` gives for the rank of ``input_shape``."""
    if len(input_shape) in BY_RANK:
        return BY_RANK[len(input_shape)]
    ranks = sorted(BY_RANK)
    raise ValueError(f"no model family takes samples of rank {len(input_shape)}; ranks: {ranks}")


def family_defaults(family: str) -> dict[str, Any]:
    """The settings ``family`` sets over ``BOTTLENECK_DEFAULTS`` (e.g. conv2d's addressing)."""
    return dict(_FAMILIES[family].defaults)


def family_options(family: str) -> list[str]:
    params = inspect.signature(_FAMILIES[family].build).parameters
    return [p for p in params if p != "input_shape"]


def resolve_family(name: str, input_shape: tuple[int, ...], family: str | None = None) -> str:
    """The family variant ``name`` is built on: ``family``, the variant's own, or the first
    registered for the sample rank."""
    if name not in VARIANTS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(VARIANTS)}")
    return family or VARIANTS[name].family or family_for(tuple(input_shape))


def create_model(
    name: str, input_shape: tuple[int, ...], family: str | None = None, **kwargs: Any
) -> Autoencoder:
    """Build variant ``name`` for samples of ``input_shape``; kwargs are bottleneck settings
    (see ``BOTTLENECK_DEFAULTS``) or options of the family's builder."""
    input_shape = tuple(int(s) for s in input_shape)
    family = resolve_family(name, input_shape, family)
    if family not in _FAMILIES:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(_FAMILIES)}")
    fam = _FAMILIES[family]
    if len(input_shape) != fam.rank:
        raise ValueError(f"family {family!r} takes samples of rank {fam.rank}, got {input_shape}")
    variant = VARIANTS[name]
    clash = sorted(k for k in variant.fixed if kwargs.get(k) is not None)
    if clash:
        raise ValueError(f"model {name!r} fixes {', '.join(clash)}; do not pass them")
    given = {k: v for k, v in kwargs.items() if v is not None}
    opts = {**BOTTLENECK_DEFAULTS, **fam.defaults, **given}
    opts.update(variant.fixed)
    family_kw = {k: v for k, v in kwargs.items() if k not in BOTTLENECK_DEFAULTS and v is not None}
    unknown = sorted(set(family_kw) - set(family_options(family)))
    if unknown:
        allowed = sorted([*BOTTLENECK_DEFAULTS, *family_options(family)])
        raise ValueError(f"unknown option(s) {', '.join(unknown)}; {name}/{family} takes {allowed}")

    if variant.kind == "pixelcnn":  # its own network, not the family's
        levels, width, blocks = (int(opts[k]) for k in PIXELCNN_DEFAULTS)
        return PixelCNN(input_shape, levels, width, blocks)
    backbone = fam.build(input_shape, **family_kw)
    if variant.kind == "energy":
        noise, units, score = (opts[k] for k in ENERGY_DEFAULTS)
        return EnergyModel(backbone, input_shape, float(noise), int(units), str(score))
    memory_on = opts["memory_on"] or backbone.memory_on
    if memory_on not in ("flat", "location"):
        raise ValueError(f"memory_on must be 'flat' or 'location', got {memory_on!r}")
    flat = memory_on == "flat"
    numel = _prod(input_shape)
    bottleneck = _bottleneck(variant, opts, backbone.latent_shape, flat, backbone, numel)
    skip_bottlenecks = _skip_bottlenecks(variant, opts, backbone, numel)
    erasers = eraser_names(opts["erasers"], variant.restore, input_shape)
    # a head sees the code flattened
    head = HEADS.build(variant.head, opts, _prod(backbone.latent_shape)) if variant.head else None
    return Autoencoder(
        backbone,
        bottleneck,
        flatten=flat,
        erasers=erasers,
        normalize_views=bool(opts["normalize_views"]),
        head=head,
        skip_bottlenecks=skip_bottlenecks,
    )


def _bottleneck(
    variant: Variant,
    opts: dict[str, Any],
    code_shape: tuple[int, ...],
    flat: bool,
    backbone: Backbone,
    numel: int,
) -> Bottleneck:
    """The variant's bottleneck for a code of ``code_shape`` (C, *S): one query per sample
    (``flat``), per location, or per ``memory_block`` x ``memory_block`` block."""
    block = opts["memory_block"]
    channels, *spatial = code_shape
    wrong = not isinstance(block, int) or block < 1 or flat or len(spatial) != 2
    if block != 1 and (wrong or any(n % block for n in spatial)):
        raise ValueError(
            f"memory_block={opts['memory_block']} must be a whole number >= 1, with "
            "memory_on='location' and a 2-D code "
            f"whose sides it divides; the code is {tuple(code_shape)}"
            + (" read flat" if flat else "")
        )
    width = channels * (_prod(spatial) if flat else block * block)
    positions = 1 if flat else _prod(spatial) // (block * block)
    inner = BOTTLENECKS.build(
        variant.bottleneck, opts, width, backbone.memory_slots, numel, positions
    )
    return BlockBottleneck(inner, block) if block > 1 else inner


def _skip_bottlenecks(
    variant: Variant, opts: dict[str, Any], backbone: Backbone, numel: int
) -> dict[int, Bottleneck]:
    """The variant's bottleneck, per location (or ``memory_block``), on the coarsest
    ``memory_scales`` - 1 skips."""
    extra = int(opts["memory_scales"]) - 1
    levels = sorted(backbone.skip_shapes)[::-1][: max(extra, 0)]  # coarsest first
    if extra < 0 or len(levels) < extra:
        raise ValueError(
            f"memory_scales must be in [1, {len(backbone.skip_shapes) + 1}] for this "
            f"network (its skip connections + 1), got {opts['memory_scales']}"
        )
    return {
        i: _bottleneck(variant, opts, backbone.skip_shapes[i], False, backbone, numel)
        for i in levels
    }


def _prod(values: Any) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
