"""How a table file is laid out and what a reader returns: shared by the general reader
(``readers``) and pyarrow's columnar one (``columnar``), so neither imports the other's
internals."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError


@dataclass
class Loaded:
    X: np.ndarray
    y: np.ndarray | None = None
    ids: list[str] | None = None
    encoding: Any = None  # tables: the memae.data.encoder.TableEncoder that made X


@dataclass(frozen=True)
class TableLayout:
    """How a CSV is laid out: ``header`` True / False, or None to recognise it (a row of names
    over data, pandas' numeric ``0,1,2,...`` header, or no header when the first row looks
    like the rest); ``id_column`` names the row ids (pandas' unnamed index column is taken as
    ids by itself); ``drop_columns`` are left out."""

    header: bool | None = None
    id_column: str | None = None
    drop_columns: tuple[str, ...] = ()


def column_index(path: Path, names: list[str], column: str, has_header: bool) -> int:
    if column in names:
        return names.index(column)
    if column.lstrip("-").isdigit() and -len(names) <= int(column) < len(names):
        return int(column) % len(names)
    where = f"columns {', '.join(names[:8])}" if has_header else f"{len(names)} columns"
    raise InputError(f"{path}: no column {column!r} ({where})")


def find_delimiter(text: str, default: str) -> str:
    """The one of , ; tab that splits most of the first lines into as many fields (more than
    one) as the first line; the default when none does."""
    lines = [line for line in text.splitlines()[:20] if line.strip()]
    best, best_fit = default, 0
    for d in (default, *(c for c in (",", ";", "\t") if c != default)):
        counts = [len(r) for r in csv.reader(lines, delimiter=d)]
        fit = sum(c == counts[0] for c in counts) if counts and counts[0] > 1 else 0
        if fit > best_fit:
            best, best_fit = d, fit
    return best


def looks_like_header(rows: list[list[str]]) -> bool:
    """A first row of names over data: pandas' ``0,1,2,...`` (or ``,0,1,...`` with its index
    column), or a column whose first value is text over numbers below, or text columns whose
    first value never comes again. A first row like the rest (text where the rest has text,
    numbers where it has numbers) is data."""
    first, rest = rows[0], rows[1:21]
    if not rest:
        return any(not is_number(v) for v in first)
    numbers = [str(i) for i in range(len(first))]
    if first == numbers or (first[:1] == [""] and first[1:] == numbers[:-1]):
        return True
    for j, value in enumerate(first):
        below = [r[j] for r in rest if j < len(r)]
        if not is_number(value) and below and all(is_number(v) for v in below):
            return True
    text_columns = [j for j, v in enumerate(first) if not is_number(v)]
    return bool(text_columns) and all(
        first[j] not in {r[j] for r in rest if j < len(r)} for j in text_columns
    )


def pandas_index_name(names: list[str], has_header: bool) -> bool:
    """The first column is named as pandas names its unnamed index ("" or "Unnamed: 0")."""
    return has_header and bool(names) and names[0] in ("", "Unnamed: 0")


def row_numbers(values: list[str]) -> bool:
    """The values are the row numbers 0, 1, 2, ... (pandas' index, written as text)."""
    return values == [str(i) for i in range(len(values))]


def is_number(value: str) -> bool:
    value = value.strip()
    if not value:
        return True  # an empty cell becomes NaN, rejected later with the NaN message
    try:
        float(value)
    except ValueError:
        return False
    return True
