"""memae: memory-augmented autoencoders (MemAE) for unsupervised anomaly detection."""

from .detector import MemAEDetector
from .errors import CheckpointError, InputError, MemAEError
from .memory import Memory
from .models import create_model, list_models
from .version import __version__

load = MemAEDetector.load

__all__ = [
    "CheckpointError",
    "InputError",
    "MemAEDetector",
    "MemAEError",
    "Memory",
    "__version__",
    "create_model",
    "list_models",
    "load",
]
