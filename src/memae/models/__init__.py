"""Model families and the registry; importing this package registers every family."""

from . import codemap, conv2d, conv3d, mlp, pred, unet  # noqa: F401  (registers the families)
from .base import Autoencoder, ModelOutput
from .registry import (
    VARIANTS,
    create_model,
    family_defaults,
    family_for,
    list_families,
    list_models,
    resolve_family,
)

__all__ = [
    "VARIANTS",
    "Autoencoder",
    "ModelOutput",
    "create_model",
    "family_defaults",
    "family_for",
    "list_families",
    "list_models",
    "resolve_family",
]
