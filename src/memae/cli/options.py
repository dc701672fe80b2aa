"""What several verbs share: reading DATA, the detector's flags, output paths, list and size
parsers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..data.readers import Loaded, TableLayout, read_data
from ..errors import InputError
from ..params import PARAMS, Flag, Param


def image_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or HxW") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or HxW")
    return parts[0], parts[1]


def add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading DATA")
    g.add_argument("--key", help="array name inside an .npz/.mat file (default X, x, data)")
    g.add_argument(
        "--label-column",
        help="CSV column (name or 0-based index) holding labels; it is not used as a feature",
    )
    g.add_argument(
        "--image-size",
        type=image_size,
        metavar="HxW",
        help="resize images of a folder to this size",
    )
    g.add_argument(
        "--color",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="read folder images as RGB (--color) or grayscale (--no-color)",
    )
    g.add_argument(
        "--header",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the CSV's first row is a header (--header) or data (--no-header); default: "
        "recognised (names over data, pandas' 0,1,2,... header)",
    )
    g.add_argument("--id-column", help="CSV column (name or 0-based index) of the row ids")
    g.add_argument(
        "--drop-columns",
        type=str_list,
        default=[],
        metavar="A,B",
        help="CSV columns (names or 0-based indices) to leave out",
    )
    g.add_argument(
        "--one-hot",
        action="store_true",
        help="one-hot encode non-numeric table columns (train; the model keeps its encoder, "
        "which score applies)",
    )


# every estimator parameter is a `memae train` flag, from memae.params (verbose is --quiet)
TRAIN_PARAMS = tuple(p.name for p in PARAMS if p.name != "verbose")


CLI_DEFAULTS = {"random_state": 0}  # the command line seeds by default; the library does not


def converter(param: Param):
    def convert(text: str):
        try:
            return param.read(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def add_param_options(p: argparse.ArgumentParser) -> None:
    """One flag per estimator parameter (``memae.params.PARAMS``), its default the table's."""
    g = p.add_argument_group("detector parameters (memae.params; see MemAEDetector)")
    for param in PARAMS:
        if param.name not in TRAIN_PARAMS:
            continue
        default = CLI_DEFAULTS.get(param.name, param.default)
        text = f"{param.help} (default: {default})"
        if isinstance(param.kind, Flag):
            g.add_argument(param.cli_flag, dest=param.name, action="store_true", help=text)
        else:
            g.add_argument(
                param.cli_flag,
                dest=param.name,
                type=converter(param),
                default=default,
                metavar=param.cli_flag.lstrip("-").replace("-", "_").upper(),
                help=text,
            )


COMPILE_HELP = "train through torch.compile (a plain model is saved; not bit-identical)"


def read(args: argparse.Namespace, path: str, **override) -> Loaded:
    opts = {
        "key": args.key,
        "label_column": args.label_column,
        "image_size": args.image_size,
        "color": args.color,
        "one_hot": args.one_hot,
        "table": TableLayout(args.header, args.id_column, tuple(args.drop_columns)),
        **override,
    }
    return read_data(path, **opts)


def output(out: str | Path, flag: str, *inputs: str | Path | None) -> Path:
    """Check an output path before anything is computed: never one of the inputs (or a file
    inside an input folder); a missing parent folder is created, and said so."""
    out = Path(out)
    target = out.resolve()
    for given in inputs:
        if given is None:
            continue
        source = Path(given).resolve()
        if target == source or (source.is_dir() and source in target.parents):
            raise InputError(f"{flag} {out} would overwrite the input {given}; choose another")
    parent = out.parent
    if not parent.exists():
        parent.mkdir(parents=True, exist_ok=True)  # the ranks of a torchrun job race here
        print(f"memae: created the folder {parent} for {flag}", file=sys.stderr)
    return out


def class_value(labels: np.ndarray, text: str):
    """Match a class given on the command line against the labels' own type."""
    if labels.dtype.kind in "iuf":
        try:
            return float(text)
        except ValueError:
            raise InputError(f"class {text!r} is not a number but the labels are") from None
    return text


def is_onnx(path: str) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers") from None


def str_list(text: str) -> list[str]:
    """Comma-separated items; commas inside brackets, nested too, stay
    (``arnet:channels=[16,32],memae:layers=[[3,2,32],[3,3,8]]``)."""
    items, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [v.strip() for v in items if v.strip()]


def add_bench_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deep models and output")
    g.add_argument("--epochs", type=int, help="default: per dataset")
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--device", default="auto")
    g.add_argument("--out", required=True, metavar="OUT")
