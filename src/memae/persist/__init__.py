"""What memae writes to disk and reads back: one atomic writer (``atomic``), the model
folder's schema and its migrations (``schema``), and the training state (``trainstate``).
Nothing here knows the detector: it hands its fields and tensors over and is rebuilt from them.
"""

from .atomic import atomic_write, atomic_write_text, read_folder, recover, staged_outputs
from .schema import jsonable, match_tensors, read_model, write_model
from .trainstate import TrainState, present, remove

__all__ = [
    "TrainState",
    "atomic_write",
    "atomic_write_text",
    "jsonable",
    "match_tensors",
    "present",
    "read_folder",
    "read_model",
    "recover",
    "remove",
    "staged_outputs",
    "write_model",
]
