"""The fitted table encoder: how a raw table's columns become a model's features.

Fitted once, on the training table (by the CSV readers, or by ``MemAEDetector.fit`` on a
pandas DataFrame), then owned by the detector, saved in its model folder and its ONNX file, and
applied to every table scored later. Each feature column is taken by its name and is either a
number or a categorical column, one 0/1 feature per category seen in training (a category not
seen gives all zeros). The id, label and dropped columns of the training table are recorded so
that a raw table of the same layout needs no flags when it is scored.

    raw table (file rows of text, or a DataFrame) -> TableEncoder.encode -> (n, d) float32
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InputError
from .layout import TableLayout, is_number


@dataclass(frozen=True)
class Column:
    """One feature column: a number (``categories`` None) or one-hot over ``categories``."""

    name: str
    categories: tuple[str, ...] | None = None

    @property
    def width(self) -> int:
        return 1 if self.categories is None else len(self.categories)


@dataclass(frozen=True)
class TableEncoder:
    """A table's fitted encoding: ``columns`` (the features, in order, ``n_features`` values
    in all) and the training table's ``id_column``, ``label_column`` and ``drop_columns``.
    ``fit`` / ``fit_frame`` make one, ``encode`` / ``transform`` apply it, ``as_dict`` /
    ``from_dict`` save and load it (config.json, ONNX metadata)."""

    columns: tuple[Column, ...]
    id_column: str | None = None
    label_column: str | None = None
    drop_columns: tuple[str, ...] = ()

    @property
    def n_features(self) -> int:
        return sum(c.width for c in self.columns)

    @property
    def categorical(self) -> bool:
        return any(c.categories is not None for c in self.columns)

    # ------------------------------------------------------------------ fitting
    @classmethod
    def fit(
        cls, names: Sequence[str], column: Callable[[str], np.ndarray], **layout: Any
    ) -> TableEncoder:
        """The encoder of the feature columns ``names`` (``column(name)``: its values): numeric
        columns stay numbers, the others are one-hot over their sorted categories (callers
        that take numbers only check ``categorical``). ``layout``: the id, label and dropped
        columns."""
        columns = []
        for name in names:
            values = column(name)
            categories = None if _numeric(values) else tuple(sorted(set(_strings(values))))
            columns.append(Column(name, categories))
        return cls(tuple(columns), **layout)

    @property
    def text_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.categories is not None]

    @classmethod
    def fit_frame(cls, frame: Any) -> TableEncoder:
        """The encoder of a pandas DataFrame: numeric columns stay numbers, every other column
        (text, categories, booleans) is one-hot encoded, as ``memae train --one-hot`` encodes
        the same table read from its CSV."""
        names = [str(c) for c in frame.columns]
        if len(set(names)) != len(names):
            raise InputError("X: a DataFrame's column names must be unique")
        by_name = dict(zip(names, frame.columns, strict=True))
        return cls.fit(names, lambda n: _values(frame[by_name[n]]))

    # ------------------------------------------------------------------ encoding
    def encode(
        self, names: Sequence[str], column: Callable[[str], np.ndarray], n: int, where: str
    ) -> np.ndarray:
        """The (n, n_features) float32 features of a table whose columns are ``names``
        (``column(name)``: its n values, text or numbers)."""
        sources = self._sources(list(names), where)
        X = np.empty((n, self.n_features), dtype=np.float32)
        j = 0
        for spec, source in zip(self.columns, sources, strict=True):
            values = column(source)
            if spec.categories is None:
                X[:, j] = _as_numbers(values, f"{where}: column {source!r}")
            else:
                cats = np.array(spec.categories, dtype=object)
                X[:, j : j + spec.width] = np.array(_strings(values), dtype=object)[:, None] == cats
            j += spec.width
        return X

    def transform(self, frame: Any) -> np.ndarray:
        """A pandas DataFrame (or any table with ``columns`` and ``[name]``) -> its features."""
        by_name = {str(c): c for c in frame.columns}
        return self.encode(list(by_name), lambda n: _values(frame[by_name[n]]), len(frame), "X")

    def _sources(self, names: list[str], where: str) -> list[str]:
        """The table's column for each feature: by name; a table of numbers only that lacks
        the names (no header, other names) by position, when it has as many feature columns."""
        missing = [c.name for c in self.columns if c.name not in names]
        if not missing:
            return [c.name for c in self.columns]
        rest = [
            n for n in names if n not in {self.id_column, self.label_column, *self.drop_columns}
        ]
        if not self.categorical and len(rest) == len(self.columns):
            return rest
        raise InputError(f"{where} has no column {missing[0]!r} that the model was trained on")

    # ------------------------------------------------------------------ saving
    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": [
                {"name": c.name, "categories": None if c.categories is None else list(c.categories)}
                for c in self.columns
            ],
            "id_column": self.id_column,
            "label_column": self.label_column,
            "drop_columns": list(self.drop_columns),
        }

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> TableEncoder:
        """The inverse of ``as_dict``; also reads the ``{"columns": [...]}`` that memae
        0.x wrote beside the model (table_encoding.json) and into ONNX metadata. A
        ValueError names what is malformed."""
        try:
            columns = tuple(
                Column(
                    str(c["name"]),
                    None if c["categories"] is None else tuple(str(v) for v in c["categories"]),
                )
                for c in saved["columns"]
            )
            return cls(
                columns,
                id_column=saved.get("id_column"),
                label_column=saved.get("label_column"),
                drop_columns=tuple(saved.get("drop_columns", ())),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"malformed table encoder ({type(exc).__name__}: {exc})") from None


def id_column(layout: TableLayout, encoder: TableEncoder | None, names: list[str]) -> str | None:
    """The id column: the layout's, else the one the model's encoder was fitted with, where
    this table has it."""
    if layout.id_column is not None or encoder is None:
        return layout.id_column
    return encoder.id_column if encoder.id_column in names else None


def as_features(X: Any, encoder: TableEncoder | None) -> Any:
    """A DataFrame encoded by ``encoder`` (a raw table, as at training); anything else, or any
    input to a model without an encoder, as it is."""
    return encoder.transform(X) if encoder is not None and is_frame(X) else X


def is_frame(X: Any) -> bool:
    """A pandas (or pandas-like) DataFrame: named columns, rows counted by ``len``."""
    return hasattr(X, "columns") and hasattr(X, "dtypes") and hasattr(X, "__getitem__")


def _values(series: Any) -> np.ndarray:
    """A DataFrame column as numbers (numeric dtypes) or objects (text, booleans, categories:
    missing values as None)."""
    kind = getattr(series.dtype, "kind", "O")
    if kind in "iuf":
        return series.to_numpy(dtype=np.float64, na_value=np.nan)
    return np.array([None if _missing(v) else v for v in series.to_numpy(dtype=object)], object)


def _missing(value: Any) -> bool:
    """None, NaN, or pandas' NA and NaT."""
    if isinstance(value, float):
        return value != value
    return value is None or type(value).__name__ in ("NAType", "NaTType")


def _numeric(values: np.ndarray) -> bool:
    if values.dtype.kind in "iuf":
        return True
    return all(v is None or (isinstance(v, str) and is_number(v)) for v in values)


def _strings(values: np.ndarray) -> list[str]:
    """Categories as text: the cell's text, an empty cell (or a missing value) as ""."""
    return ["" if v is None else str(v) for v in values]


def _as_numbers(values: np.ndarray, what: str) -> np.ndarray:
    if values.dtype.kind in "iuf":
        return values
    try:
        return np.array(
            [np.nan if v is None or (isinstance(v, str) and not v.strip()) else float(v)
             for v in values]
        )  # fmt: skip
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric") from None
