"""Classic baselines of the papers' tables, behind the detector's fit / decision_function API."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KernelDensity
from sklearn.preprocessing import MinMaxScaler
from sklearn.svm import OneClassSVM

from ..errors import InputError


class _Flat:
    """Flatten samples and scale features to [0, 1] on the training data."""

    def _prepare(self, X: np.ndarray, fit: bool) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        if fit:
            self.scaler_ = MinMaxScaler().fit(X)
        return self.scaler_.transform(X)


class OCSVM(_Flat):
    """One-class SVM, RBF kernel, gamma = 1 / (d * var) ('scale'), nu = 0.1."""

    def __init__(self, nu: float = 0.1, max_train: int = 10000, random_state: int = 0) -> None:
        self.nu = nu
        self.max_train = max_train
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> OCSVM:
        Z = self._prepare(X, fit=True)
        if len(Z) > self.max_train:  # kernel SVMs are quadratic in n
            rng = np.random.default_rng(self.random_state)
            Z = Z[rng.choice(len(Z), self.max_train, replace=False)]
        self.model_ = OneClassSVM(kernel="rbf", gamma="scale", nu=self.nu).fit(Z)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return -self.model_.decision_function(self._prepare(X, fit=False))


class KDE(_Flat):
    """Gaussian kernel density on a PCA projection; bandwidth by held-out log-likelihood.

    Score: negative log density (higher = more anomalous)."""

    def __init__(self, components: int = 32, random_state: int = 0) -> None:
        self.components = components
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> KDE:
        Z = self._prepare(X, fit=True)
        k = min(self.components, Z.shape[1], len(Z) - 1)
        self.pca_ = PCA(n_components=k, random_state=self.random_state).fit(Z)
        Z = self.pca_.transform(Z)
        fit_part, held = train_test_split(Z, test_size=0.2, random_state=self.random_state)
        scale = float(np.sqrt(Z.var(axis=0).mean()))
        best = max(
            (scale * f for f in (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0)),
            key=lambda bw: KernelDensity(bandwidth=bw).fit(fit_part).score(held),
        )
        self.bandwidth_ = best
        self.model_ = KernelDensity(bandwidth=best).fit(Z)
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return -self.model_.score_samples(self.pca_.transform(self._prepare(X, fit=False)))


class PyODReference:
    """A PyOD detector by name (``iforest``, ``pyod-ae``, ``ecod``), when PyOD is installed.

    Fitted on min-max-scaled features like the other tabular models; ``pyod-ae`` is PyOD's
    AutoEncoder with its defaults (hidden 64-32, ReLU, batch norm, dropout 0.2, 10 epochs)."""

    def __init__(self, name: str, random_state: int = 0, device: str = "cpu") -> None:
        self.name = name
        self.random_state = random_state
        self.device = device

    def fit(self, X: np.ndarray) -> PyODReference:
        try:
            from pyod.models.auto_encoder import AutoEncoder
            from pyod.models.ecod import ECOD
            from pyod.models.iforest import IForest
        except ImportError:
            raise ImportError(f"{self.name} needs PyOD: pip install 'memae[pyod]'") from None
        self.scaler_ = MinMaxScaler().fit(X)
        if self.name == "iforest":
            model = IForest(random_state=self.random_state)
        elif self.name == "ecod":
            model = ECOD()
        else:
            model = AutoEncoder(random_state=self.random_state, verbose=0, device=self.device)
        try:
            self.model_ = model.fit(self.scaler_.transform(X))
        except Exception as exc:  # a reference's own bug must not read as a traceback of ours
            raise InputError(
                f"PyOD's {self.name} failed on {len(X)} training rows of width {X.shape[1]}: "
                f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
            ) from None
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.model_.decision_function(self.scaler_.transform(X))


BASELINES = {"ocsvm": OCSVM, "kde": KDE}
PYOD_REFERENCES = ("iforest", "pyod-ae", "ecod")


def pyod_available() -> bool:
    try:
        import pyod  # noqa: F401
    except ImportError:
        return False
    return True
