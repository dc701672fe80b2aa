"""Read data files into arrays: .npy, .npz, .csv/.tsv, .mat (v5 and v7.3), MNIST IDX, image folders.

Every reader returns a ``Loaded`` (samples, optional labels, optional row names) or raises an
InputError naming the file and the problem.
"""

from __future__ import annotations

import csv
import faulthandler
import multiprocessing
import os
import struct
import tempfile
import tokenize
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..errors import InputError, MemAEError
from .encoder import TableEncoder, id_column
from .idx import is_idx, read_idx
from .layout import (
    Loaded,
    TableLayout,
    column_index,
    find_delimiter,
    is_number,
    looks_like_header,
    pandas_index_name,
    row_numbers,
)

# what the parsers of the formats (numpy, scipy, h5py, pyarrow, PIL, gzip, zipfile) raise on a
# malformed file: turned into one InputError naming the file
PARSE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RuntimeError,
    NotImplementedError,
    SyntaxError,
    OverflowError,
    MemoryError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
    tokenize.TokenError,
)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
DATA_KEYS = ("X", "x", "data", "images")
LABEL_KEYS = ("y", "labels", "label")


def read_data(
    path: str | os.PathLike,
    *,
    key: str | None = None,
    label_column: str | None = None,
    image_size: tuple[int, int] | None = None,
    color: bool | None = None,
    one_hot: bool = False,
    encoding: TableEncoder | None = None,
    table: TableLayout | None = None,
) -> Loaded:
    """Dispatch on the file type. ``key`` picks an array in .npz/.mat; ``label_column`` a CSV
    column (name or 0-based index) holding labels; ``image_size`` (h, w) resizes folder images;
    ``color`` forces RGB (True) or grayscale (False) for folders; ``one_hot`` and
    ``encoding`` are for tables with categorical columns, ``table`` says how a table is laid
    out (see ``read_table``)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if path.is_dir():
            return read_image_folder(path, image_size=image_size, color=color)
        if suffix == ".npy":
            return Loaded(_npy(path))
        if suffix == ".npz":
            return _npz(path, key)
        if suffix in (".csv", ".tsv", ".txt", ".parquet"):
            return _any_table(path, label_column, one_hot, encoding, table or TableLayout())
        if suffix == ".mat":
            return _mat(path, key)
        if is_idx(path):
            return Loaded(read_idx(path))
    except MemAEError:
        raise
    except PARSE_ERRORS as exc:  # a malformed file, as the format's parser saw it
        raise InputError(f"cannot read {path}: {_reason(exc)}") from None
    raise InputError(
        f"{path}: unknown data format; use .npy, .npz, .csv, .parquet, .mat, MNIST IDX or an "
        "image folder"
    )


def _any_table(
    path: Path,
    label_column: str | None,
    one_hot: bool,
    encoding: TableEncoder | None,
    table: TableLayout,
) -> Loaded:
    """A numeric text table through pyarrow's columnar reader where it can, else ``read_table``."""
    if path.suffix.lower() != ".parquet" and not one_hot:  # one-hot: categories to encode
        from .columnar import read_numeric

        fast = read_numeric(path, label_column, table, encoding)
        if fast is not None:
            return fast
    return read_table(path, label_column, one_hot=one_hot, encoding=encoding, layout=table)


def read_labels(
    path: str | os.PathLike, *, key: str | None = None, label_column: str | None = None
) -> np.ndarray:
    """A 1-D label vector from a labels file (.npy, .npz, .csv/.txt, .mat, IDX)."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv", ".txt"):
        loaded = read_table(
            path, label_column if label_column is not None else "0", labels_only=True
        )
        labels = loaded.y
    else:
        loaded = read_data(path, key=key)
        labels = loaded.y if loaded.y is not None and key is None else loaded.X
    labels = np.asarray(labels)
    if labels.ndim > 1 and max(labels.shape) == labels.size:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        raise InputError(f"{path}: labels must be one value per row, got shape {labels.shape}")
    if len(labels) == 0:
        raise InputError(f"{path}: no labels")
    return labels


def read_table(
    path: Path,
    label_column: str | None = None,
    labels_only: bool = False,
    one_hot: bool = False,
    encoding: TableEncoder | None = None,
    layout: TableLayout | None = None,
) -> Loaded:
    """CSV/TSV (optional header row, delimiter , ; or tab) or Parquet; ``label_column`` is
    split off as labels, ``layout``'s id column as row ids, its dropped columns left out.

    Non-numeric columns are refused unless ``one_hot``: then each becomes one 0/1 column per
    category seen here, and ``Loaded.encoding`` records the columns and categories so that
    other files can be encoded the same way (``encoding=``; unseen categories give all zeros).
    """
    layout = layout or TableLayout()
    names, rows, has_header = _table_rows(path, layout.header)
    width = len(names)
    label_idx = None
    if label_column is not None:
        label_idx = column_index(path, names, label_column, has_header)
    id_idx = _id_column(path, names, rows, has_header, id_column(layout, encoding, names))
    ids = [r[id_idx] for r in rows] if id_idx is not None else None
    dropped = {column_index(path, names, c, has_header) for c in layout.drop_columns}
    if id_idx != 0 and pandas_index_name(names, has_header) and row_numbers([r[0] for r in rows]):
        dropped.add(0)  # pandas' unnamed index beside another id column: never a feature
    y = None
    if label_idx is not None:
        col = [r[label_idx] for r in rows]
        y = np.array([float(v) for v in col]) if all(is_number(v) for v in col) else np.array(col)
        if labels_only:
            return Loaded(np.empty((len(rows), 0)), y)
    keep = [names[i] for i in range(width) if i not in {label_idx, id_idx, *dropped}]
    by_name = {n: i for i, n in enumerate(names)}

    def column(name: str) -> np.ndarray:
        return np.array([r[by_name[name]] for r in rows], dtype=object)

    if encoding is None:
        encoding = TableEncoder.fit(
            keep,
            column,
            id_column=None if id_idx is None else names[id_idx],
            label_column=None if label_idx is None else names[label_idx],
            drop_columns=tuple(names[i] for i in sorted(dropped)),
        )
        if encoding.categorical and not one_hot:
            which = ", ".join(encoding.text_columns[:5])
            which = which if has_header else f"{which} (0-based; the file has no header)"
            raise InputError(
                f"{path}: non-numeric column(s) {which}; pass --one-hot to encode them, "
                "--label-column if one holds labels, or --drop-columns"
            )
    X = encoding.encode(names, column, len(rows), str(path))
    return Loaded(X, y, ids, encoding=encoding)


def _id_column(
    path: Path, names: list[str], rows: list[list[str]], has_header: bool, given: str | None
) -> int | None:
    """The id column: the one named, or pandas' unnamed index column (header cell "" or
    "Unnamed: 0" over the row numbers 0, 1, 2, ...)."""
    if given is not None:
        return column_index(path, names, given, has_header)
    if pandas_index_name(names, has_header) and row_numbers([r[0] for r in rows]):
        return 0
    return None


def _table_rows(path: Path, header: bool | None = None) -> tuple[list[str], list[list[str]], bool]:
    """-> column names, rows of strings, whether the file had a header (``header``: say so;
    None: recognise it)."""
    if path.suffix.lower() == ".parquet":
        return _parquet_rows(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text table (not UTF-8)") from None
    delimiter = find_delimiter(text, "\t" if path.suffix.lower() == ".tsv" else ",")
    try:
        rows = [r for r in csv.reader(text.splitlines(), delimiter=delimiter) if r]
    except csv.Error as exc:
        raise InputError(f"{path} is not a readable table: {exc}") from None
    if not rows:
        raise InputError(f"{path} is empty")
    if header is None:
        header = looks_like_header(rows)
    names = rows[0] if header else None
    rows = rows[1:] if header else rows
    if not rows:
        raise InputError(f"{path} has a header but no rows")
    width = len(names or rows[0])
    ragged = next((i for i, r in enumerate(rows) if len(r) != width), None)
    if ragged is not None:
        raise InputError(
            f"{path}: row {ragged + 1 + bool(header)} has {len(rows[ragged])} fields, expected "
            f"{width} (delimiter {delimiter!r})"
        )
    return names or [str(i) for i in range(width)], rows, bool(header)


def _parquet_rows(path: Path) -> tuple[list[str], list[list[str]], bool]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("reading Parquet needs pyarrow: pip install pyarrow") from None
    try:
        columns = pq.read_table(path).to_pydict()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read Parquet file {path}: {_reason(exc)}") from None
    names = list(columns)
    text = [["" if v is None else str(v) for v in columns[n]] for n in names]
    rows = [list(r) for r in zip(*text, strict=True)]
    if not rows:
        raise InputError(f"{path} has no rows")
    return names, rows, True


def read_image_folder(
    path: Path, image_size: tuple[int, int] | None = None, color: bool | None = None
) -> Loaded:
    """All images under ``path`` (sorted); a sub-folder name becomes the image's label."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise InputError(f"{path} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    images = []
    for f in files:
        try:
            with Image.open(f) as im:
                im.load()
                images.append(im.copy())
        except (UnidentifiedImageError, OSError) as exc:
            raise InputError(f"cannot read image {f}: {exc}") from None
    if color is None:
        color = any(im.mode not in ("L", "1", "I", "I;16", "F", "LA") for im in images)
    size = (image_size[1], image_size[0]) if image_size else images[0].size  # PIL: (w, h)
    arrays = []
    for f, im in zip(files, images, strict=True):
        im = im.convert("RGB" if color else "L")
        if im.size != size:
            if image_size is None:
                raise InputError(
                    f"{f} is {im.size[0]}x{im.size[1]} but {files[0].name} is {size[0]}x{size[1]}; "
                    "pass --image-size to resize all images"
                )
            im = im.resize(size, Image.BILINEAR)
        a = np.asarray(im, dtype=np.uint8)
        arrays.append(a.transpose(2, 0, 1) if a.ndim == 3 else a[None])
    rel = [f.relative_to(path) for f in files]
    labels = np.array([r.parts[0] if len(r.parts) > 1 else "" for r in rel])
    y = labels if (labels != "").any() else None
    return Loaded(np.stack(arrays), y, [str(r) for r in rel])


def _npy(path: Path) -> np.ndarray:
    """Memory-mapped: a table larger than memory trains and scores in bounded memory."""
    with open(path, "rb") as fh:
        if fh.read(6) != b"\x93NUMPY":
            raise InputError(f"{path} is not a .npy file (no NumPy header)")
    try:
        return np.load(path, allow_pickle=False, mmap_mode="r")
    except ValueError as exc:
        raise InputError(f"{path}: cannot load ({exc}); object arrays are refused") from None


def _npz(path: Path, key: str | None) -> Loaded:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as exc:
        raise InputError(f"{path}: cannot load ({exc}); object arrays are refused") from None
    return _pick(path, arrays, key)


def _mat(path: Path, key: str | None) -> Loaded:
    import h5py

    if h5py.is_hdf5(path):  # MATLAB v7.3 stores the column-major transpose
        with h5py.File(path, "r") as f:
            arrays = {k: np.asarray(f[k]).T for k in f if isinstance(f[k], h5py.Dataset)}
    else:
        arrays = _mat_v5(path)
    return _pick(path, arrays, key)


def _mat_v5(path: Path, timeout: float = 300.0) -> dict[str, np.ndarray]:
    """scipy's MATLAB v5 reader can crash the process on a malformed file (found by fuzzing:
    a segmentation fault), so it runs in a forked child that writes the numeric arrays to a
    temporary .npz (read back without pickle); a crash or a hang is a malformed file."""
    if "fork" not in multiprocessing.get_all_start_methods():  # pragma: no cover (Windows)
        return _mat_v5_arrays(path)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "arrays.npz"
        child = multiprocessing.get_context("fork").Process(
            target=_mat_v5_child, args=(path, out), daemon=True
        )
        child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            raise InputError(f"{path}: the MATLAB reader did not finish in {timeout:.0f} s")
        if child.exitcode != 0 or not out.exists():
            raise InputError(f"{path} is not a readable .mat file (the MATLAB reader crashed)")
        with np.load(out, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    if "__error__" in arrays:
        raise InputError(f"{path} is not a readable .mat file: {arrays['__error__'].item()}")
    return arrays


def _mat_v5_arrays(path: Path) -> dict[str, np.ndarray]:
    import scipy.io

    try:
        loaded = scipy.io.loadmat(path)
    except (*PARSE_ERRORS, scipy.io.matlab.MatReadError) as exc:
        raise InputError(_reason(exc)) from None
    return {k: v for k, v in loaded.items() if not k.startswith("__")}


def _mat_v5_child(path: Path, out: Path) -> None:
    faulthandler.disable()  # a crash here is expected on a malformed file; the parent says so
    try:
        arrays = _mat_v5_arrays(path)
        numeric = {k: v for k, v in arrays.items() if np.asarray(v).dtype.kind in "biufc"}
    except InputError as exc:
        numeric = {"__error__": np.array(str(exc))}
    np.savez(out, **numeric)


def _pick(path: Path, arrays: dict[str, np.ndarray], key: str | None) -> Loaded:
    if key is not None:
        if key not in arrays:
            raise InputError(f"{path} has no array {key!r}; it has {', '.join(arrays)}")
        return Loaded(arrays[key])
    data_key = next((k for k in DATA_KEYS if k in arrays), None)
    if data_key is None and len(arrays) == 1:
        data_key = next(iter(arrays))
    if data_key is None:
        raise InputError(f"{path}: which array is the data? it has {', '.join(arrays)}; pass --key")
    label_key = next((k for k in LABEL_KEYS if k in arrays), None)
    y = arrays[label_key].reshape(-1) if label_key else None
    return Loaded(arrays[data_key], y)
