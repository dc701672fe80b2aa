"""MemAE as a PyOD detector: ``from memae.pyod import MemAE`` (needs ``pip install memae[pyod]``).

It subclasses PyOD's ``BaseDetector``, so ``fit``, ``decision_function``, ``predict``,
``predict_proba``, ``predict_confidence``, ``fit_predict``, ``decision_scores_``,
``threshold_`` and ``labels_`` behave exactly as for PyOD's own detectors, and it works with
PyOD's combination utilities and anything else that takes a PyOD detector.
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from pyod.models.base import BaseDetector
except ImportError as exc:  # pragma: no cover - exercised only without PyOD
    raise ImportError("memae.pyod needs PyOD: pip install 'memae[pyod]'") from exc

from .detector import MemAEDetector
from .params import DEFAULTS


class MemAE(BaseDetector):
    """PyOD detector around ``MemAEDetector``; the threshold is PyOD's: the (1 - contamination)
    percentile of the training scores. Its defaults are ``MemAEDetector``'s (``memae.params``);
    the detector's other parameters are given as ``detector_options``."""

    def __init__(
        self,
        contamination: float = DEFAULTS["contamination"],
        model: str = DEFAULTS["model"],
        epochs: int | str = DEFAULTS["epochs"],
        batch_size: int | str = DEFAULTS["batch_size"],
        lr: float | str = DEFAULTS["lr"],
        mem_slots: int | None = DEFAULTS["mem_slots"],
        shrink_threshold: float | None = DEFAULTS["shrink_threshold"],
        similarity: str | None = DEFAULTS["similarity"],
        device: str = DEFAULTS["device"],
        random_state: int | None = DEFAULTS["random_state"],
        detector_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(contamination=contamination)
        self.model = model
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.mem_slots = mem_slots
        self.shrink_threshold = shrink_threshold
        self.similarity = similarity
        self.device = device
        self.random_state = random_state
        self.detector_options = detector_options

    def fit(self, X: Any, y: Any = None) -> MemAE:
        self._set_n_classes(y)
        self.detector_ = MemAEDetector(
            self.model,
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            mem_slots=self.mem_slots,
            shrink_threshold=self.shrink_threshold,
            similarity=self.similarity,
            device=self.device,
            random_state=self.random_state,
            contamination=min(float(self.contamination), 0.5),
            **(self.detector_options or {}),
        ).fit(X)
        self.decision_scores_ = self.detector_.decision_function(X)
        self._process_decision_scores()
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        return self.detector_.decision_function(X)
