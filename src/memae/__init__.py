"""memae: memory-augmented autoencoders (MemAE) for unsupervised anomaly detection."""

__version__ = "0.1.0"

from .detector import MemAEDetector  # noqa: E402
from .errors import CheckpointError, InputError, MemAEError  # noqa: E402
from .memory import Memory  # noqa: E402
from .models import create_model, list_models  # noqa: E402

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
