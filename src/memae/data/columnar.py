"""Numeric CSV tables read by pyarrow's multithreaded columnar reader, straight into float32.

The fast path of ``readers.read_table``: it recognises the layout (delimiter, header, id,
label and dropped columns) from the file's first lines exactly as the general reader does, and
hands every table it cannot read as plain numbers (text categories, ragged rows, duplicate
names) back to the general reader, which explains the problem or encodes the categories.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from .encoder import Column, TableEncoder, id_column
from .layout import (
    Loaded,
    TableLayout,
    column_index,
    find_delimiter,
    looks_like_header,
    pandas_index_name,
    row_numbers,
)

HEAD_BYTES = 1 << 16  # the layout is recognised from the lines in the first 64 KiB


def read_numeric(
    path: Path, label_column: str | None, layout: TableLayout, encoding: TableEncoder | None
) -> Loaded | None:
    """The table as float32 samples (+ labels, ids), or None where the general reader is needed
    (no pyarrow, a non-numeric feature column, a malformed file)."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:
        return None
    if encoding is not None and encoding.categorical:
        return None
    recognised = _layout(path, layout)
    if recognised is None:
        return None
    delimiter, header, names = recognised
    columns = _columns(path, names, header, label_column, layout, encoding)
    if columns is None:
        return None
    id_name, label_name, keep = columns
    text = [n for n in (id_name, label_name) if n is not None]
    types = {n: pa.string() for n in text} | {n: pa.float64() for n in keep}
    X = np.empty((_count_lines(path), len(keep)), dtype=np.float32)  # rows: at most the lines
    n, extra = 0, []
    try:  # block by block, each written into X as float32: one block beside the data
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1 if header else 0),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=[*text, *keep],
                null_values=[""],  # only an empty cell is missing, as for the general reader
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        for batch in reader:
            for j, name in enumerate(keep):
                X[n : n + batch.num_rows, j] = batch.column(name).fill_null(np.nan).to_numpy()
            n += batch.num_rows
            extra.append(pa.Table.from_batches([batch]).select(text))
    except (pa.ArrowException, OSError, ValueError):  # text in a feature column, ragged rows
        return None
    if n == 0:
        return None
    X = X[:n]  # a view: the unused tail (blank or quoted lines) is a few bytes
    del reader
    pa.default_memory_pool().release_unused()  # arrow keeps freed blocks for reuse otherwise
    table = pa.concat_tables(extra)
    ids = table.column(id_name).to_pylist() if id_name is not None else None
    if ids is not None and id_column(layout, encoding, names) is None and not row_numbers(ids):
        return None  # not pandas' index after all: a feature column
    y = _labels(pa, table.column(label_name)) if label_name is not None else None
    dropped = [n for n in names if n not in {*keep, *text}]
    spec = TableEncoder(tuple(Column(n) for n in keep), id_name, label_name, tuple(dropped))
    return Loaded(X, y, ids, encoding=spec)


def _layout(path: Path, layout: TableLayout) -> tuple[str, bool, list[str]] | None:
    """-> (delimiter, header, column names) from the first lines, as the general reader sees
    them; None when they are not UTF-8 or the names repeat."""
    head = _head(path)
    if head is None:
        return None
    delimiter = find_delimiter(head, "\t" if path.suffix.lower() == ".tsv" else ",")
    lines = head.splitlines()
    if not lines or not lines[0].strip():  # leading blank lines: the general reader skips them
        return None
    rows = [r for r in csv.reader(lines, delimiter=delimiter) if r]
    if not rows:
        return None
    header = layout.header if layout.header is not None else looks_like_header(rows)
    names = rows[0] if header else [str(i) for i in range(len(rows[0]))]
    return (delimiter, header, names) if len(set(names)) == len(names) else None


def _count_lines(path: Path, chunk: int = 1 << 24) -> int:
    """Line breaks in the file, plus one: an upper bound of its rows."""
    count = 1
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            count += block.count(b"\n")
    return count


def _head(path: Path) -> str | None:
    """The complete lines of the file's first ``HEAD_BYTES``, or None if they are not UTF-8."""
    with open(path, "rb") as fh:
        data = fh.read(HEAD_BYTES)
        whole = len(data) < HEAD_BYTES
    if not whole:
        data = data[: data.rfind(b"\n") + 1]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _columns(
    path: Path,
    names: list[str],
    header: bool,
    label_column: str | None,
    layout: TableLayout,
    encoding: TableEncoder | None,
) -> tuple[str | None, str | None, list[str]] | None:
    """-> (id column, label column, feature columns), as the general reader picks them."""
    label = names[column_index(path, names, label_column, header)] if label_column else None
    given = id_column(layout, encoding, names)
    if given is not None:
        ident = names[column_index(path, names, given, header)]
        if ident != names[0] and pandas_index_name(names, header):
            return None  # and pandas' index beside it: the general reader drops it
    else:  # pandas' unnamed index column, when its values turn out to be 0, 1, 2, ...
        ident = names[0] if pandas_index_name(names, header) else None
    dropped = {names[column_index(path, names, c, header)] for c in layout.drop_columns}
    if encoding is not None:
        keep = [c.name for c in encoding.columns]
        return (ident, label, keep) if all(k in names for k in keep) else None
    return ident, label, [n for n in names if n not in {label, ident, *dropped}]


def _labels(pa: Any, column: Any) -> np.ndarray:
    """Numbers where every label is one (as float, spaces around them ignored, as Python's
    float does), else the labels' text."""
    import pyarrow.compute as pc

    try:
        return pc.utf8_trim_whitespace(column).cast(pa.float64()).to_numpy()
    except pa.ArrowInvalid:
        return np.array(column.to_pylist())
