"""The ``memae`` command: train, score, evaluate, demo. Thin: parse, call the library, report.

Every failure ends as one line on stderr (``memae: error: ...``) and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import logging
import os
import signal
import sys
import threading
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from . import distributed, persist
from .data.readers import Loaded, TableLayout, read_data, read_labels
from .detector import MemAEDetector
from .errors import CheckpointError, InputError, MemAEError
from .fitting import TrainingStopped, request_stop
from .metrics import (
    check_binary_labels,
    evaluate,
    macro_auc,
    micro_auc,
    top_fraction_threshold,
)
from .params import PARAMS, Flag, Param
from .persist import atomic_write_text, staged_outputs
from .version import __version__

log = logging.getLogger("memae")


# ----------------------------------------------------------------------------- helpers
def _image_size(text: str) -> tuple[int, int]:
    try:
        parts = [int(p) for p in text.lower().replace("x", ",").split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or HxW") from None
    if len(parts) == 1:
        parts *= 2
    if len(parts) != 2 or min(parts) < 1:
        raise argparse.ArgumentTypeError(f"image size {text!r} is not H or HxW")
    return parts[0], parts[1]


def _add_data_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reading DATA")
    g.add_argument("--key", help="array name inside an .npz/.mat file (default X, x, data)")
    g.add_argument(
        "--label-column",
        help="CSV column (name or 0-based index) holding labels; it is not used as a feature",
    )
    g.add_argument(
        "--image-size",
        type=_image_size,
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
        type=_str_list,
        default=[],
        metavar="A,B",
        help="CSV columns (names or 0-based indices) to leave out",
    )
    g.add_argument(
        "--one-hot",
        action="store_true",
        help="one-hot encode non-numeric table columns (train; score reuses the model's encoding)",
    )


# every estimator parameter is a `memae train` flag, from memae.params (verbose is --quiet)
TRAIN_PARAMS = tuple(p.name for p in PARAMS if p.name != "verbose")
CLI_DEFAULTS = {"random_state": 0}  # the command line seeds by default; the library does not


def _converter(param: Param):
    def convert(text: str):
        try:
            value = param.kind.parse(text)
        except (TypeError, ValueError):
            value = None
        if not param.kind.accepts(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {param.kind}")
        return value

    return convert


def _add_param_options(p: argparse.ArgumentParser) -> None:
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
                type=_converter(param),
                default=default,
                metavar=param.cli_flag.lstrip("-").replace("-", "_").upper(),
                help=text,
            )


TABLE_ENCODING = "table_encoding.json"  # saved beside the model by `train --one-hot`
COMPILE_HELP = "train through torch.compile (a plain model is saved; not bit-identical)"


def _read(args: argparse.Namespace, path: str, **override) -> Loaded:
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


def _output(out: str | Path, flag: str, *inputs: str | Path | None) -> Path:
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


def _class_value(labels: np.ndarray, text: str):
    """Match a class given on the command line against the labels' own type."""
    if labels.dtype.kind in "iuf":
        try:
            return float(text)
        except ValueError:
            raise InputError(f"class {text!r} is not a number but the labels are") from None
    return text


# ----------------------------------------------------------------------------- verbs
def cmd_train(args: argparse.Namespace) -> None:
    if not args.dry_run:
        _output(args.out, "--out", args.data, args.labels)
    data = _read(args, args.data)
    X = _normal_rows(args, data)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file; give a folder for the model")
    params = {p.name: getattr(args, p.name) for p in PARAMS if p.name in TRAIN_PARAMS}
    det = MemAEDetector(**params, verbose=0 if args.quiet else 1)
    if args.dry_run:  # the plan, every auto setting resolved; nothing trained or written
        print(
            f"memae train {args.model} on {args.data}: would train with\n{det.plan(X).describe()}"
        )
        return
    state = train_state_dir(out)
    with _stop_on_signals(state, args.resume):
        det.fit(X, state_dir=state, resume=args.resume, keep_state=True)
    det.save(out)  # written by rank 0 of a torchrun job
    if not distributed.current().main:
        return
    persist.remove(state)  # the model is saved: the state has done its work
    if args.one_hot and data.encoding is not None:
        atomic_write_text(out / TABLE_ENCODING, json.dumps(data.encoding, indent=1) + "\n")
    elif (out / TABLE_ENCODING).exists():
        (out / TABLE_ENCODING).unlink()
    usage = det.memory_usage_
    extra = (
        (
            f", memory: {usage['slots_addressed']}/{usage['num_slots']} slots used, "
            f"{usage['effective_slots']:.1f} effective, "
            f"{usage['mean_nonzero_per_query']:.1f} non-zero weights per query"
        )
        if usage
        else ""
    )
    print(
        f"trained {args.model} on {len(X)} samples of shape {det.input_shape_}; best epoch "
        f"{det.history_.best_epoch + 1}, threshold {det.threshold_:.6g}{extra}; saved to {out}"
    )


def _normal_rows(args: argparse.Namespace, data: Loaded) -> Any:
    """The samples to train on: all, or those of ``--normal-class``."""
    if args.normal_class is None:
        return data.X
    labels = read_labels(args.labels) if args.labels else data.y
    if labels is None:
        raise InputError("--normal-class needs labels: pass --labels FILE or --label-column")
    if len(labels) != len(data.X):
        raise InputError(f"{len(data.X)} samples but {len(labels)} labels")
    X = data.X[labels == _class_value(labels, args.normal_class)]
    if len(X) == 0:
        raise InputError(f"no samples of class {args.normal_class!r} in {args.data}")
    return X


def train_state_dir(out: Path) -> Path:
    """Where `memae train --out OUT` keeps its training state until the model is saved."""
    return out.parent / f"{out.name}.train-state"


@contextlib.contextmanager
def _stop_on_signals(state: Path, resume: bool):
    """SIGINT and SIGTERM stop training at the next batch boundary; the error then says how
    to resume from the state of the last saved epoch (and a state that cannot be resumed, how
    to start over)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except TrainingStopped as stop:
        raise InputError(
            f"stopped after {stop.epoch} complete epoch(s); the model was not saved (an earlier "
            f"one is untouched); the training state is in {state}: run the same command with "
            "--resume to continue from its last saved epoch"
        ) from None
    except CheckpointError as exc:
        if not resume:
            raise
        raise CheckpointError(f"{exc}; train without --resume to start over") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def cmd_score(args: argparse.Namespace) -> None:
    _output(args.out, "--out", args.data, args.model, args.labels)
    det = _load_model(args.model, args.device)
    shape = det.input_shape_
    if len(shape) == 4:  # a clip model: stream the video(s)
        _score_videos(args, det)
        return
    override = {}
    if len(shape) == 3 and Path(args.data).is_dir():  # folder images take the model's size
        override = {"image_size": args.image_size or shape[1:], "color": shape[0] == 3}
    encoding = det.table_encoding if _is_onnx(args.model) else _table_encoding(args.model)
    if encoding is not None:  # encode the table's columns as at training
        override["encoding"] = encoding
    data = _read(args, args.data, **override)
    scores = det.decision_function(data.X)
    threshold = det.threshold_ if args.threshold is None else args.threshold
    ids = data.ids or [str(i) for i in range(len(scores))]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["id", "score", "label"])
    writer.writerows((i, f"{s:.9g}", int(s > threshold)) for i, s in zip(ids, scores, strict=True))
    atomic_write_text(args.out, buf.getvalue())
    flagged = int((scores > threshold).sum())
    print(
        f"scored {len(scores)} samples, {flagged} above the threshold {threshold:.6g}; "
        f"wrote {args.out}"
    )


def _is_onnx(path: str) -> bool:
    return Path(path).suffix.lower() == ".onnx"


def _load_model(path: str, device: str | None) -> Any:
    """A model folder (torch) or an exported ``.onnx`` file (onnxruntime): the same outputs."""
    if _is_onnx(path):
        from .onnx import OnnxDetector

        if device not in (None, "cpu"):
            raise InputError("an ONNX model is scored by onnxruntime on the CPU; drop --device")
        return OnnxDetector(path)
    return MemAEDetector.load(path, device=device)


def _table_encoding(model: str) -> dict | None:
    """How ``train --one-hot`` encoded the table, saved beside a model folder (an ONNX file
    holds it in its metadata: ``OnnxDetector.table_encoding``)."""
    encoding_file = Path(model) / TABLE_ENCODING
    if not encoding_file.exists():
        return None
    try:
        return json.loads(encoding_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{encoding_file} is corrupt: {exc}") from None


def cmd_export(args: argparse.Namespace) -> None:
    """MODEL_DIR -> one ONNX file holding the whole scoring rule and the threshold."""
    from .onnx import export

    _output(args.out, "--out", args.model)
    if not _is_onnx(args.out):
        raise InputError(f"--out {args.out} should end in .onnx")
    det = MemAEDetector.load(args.model, device="cpu")
    path = export(det, args.out, opset=args.opset, table_encoding=_table_encoding(args.model))
    size = path.stat().st_size / 1e6
    print(
        f"exported {args.model} to {path} ({size:.2f} MB, opset {args.opset}): input "
        f"(batch, {', '.join(map(str, det.input_shape_))}), outputs score, label"
        + (", error_map" if len(det.input_shape_) >= 3 else "")
    )


def _score_videos(args: argparse.Namespace, det: MemAEDetector) -> None:
    """Video input: OUT/frame_scores.csv, a normality curve and heat maps per video, and with
    --annotate an .mp4 per video with a score bar (red above the model's threshold)."""
    from .data.video import list_videos

    out = Path(args.out)
    if out.suffix.lower() == ".csv":
        raise InputError("for a video model --out is a folder (frame_scores.csv goes inside)")
    videos = list_videos(args.data)
    truth = read_labels(args.labels) if args.labels else None
    with staged_outputs(out) as stage:  # nothing reaches OUT unless every video is done
        done = _score_videos_into(stage, args, det, videos, truth)
    print(f"scored {done} frames of {len(videos)} video(s); wrote {out / 'frame_scores.csv'}")


def _score_videos_into(
    stage: Path, args: argparse.Namespace, det: MemAEDetector, videos: list, truth
) -> int:
    from . import plots
    from .data.video import VideoWriter, frame_rate, iter_frames
    from .stream import score_stream

    size = tuple(det.input_shape_[2:])
    threshold = det.threshold_ if args.threshold is None else args.threshold
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["video", "frame", "score", "normality"])
    done = 0
    for name, path in videos:
        if args.annotate:
            video_out = VideoWriter(stage / f"{name}_annotated.mp4", fps=frame_rate(path))
            source: deque[np.ndarray] = deque()  # the footage, until its frame is scored
            frames = _model_frames(path, size, source)
            sink = partial(_write_annotated, video_out, threshold, source)
            result = score_stream(det, frames, sink=sink)
            video_out.close()
        else:
            result = score_stream(det, iter_frames(path, size))
        norm = result.normality
        writer.writerows(
            (name, i, f"{a:.6g}", f"{b:.6g}")
            for i, (a, b) in enumerate(zip(result.scores, norm, strict=True))
        )
        labels = None
        if truth is not None:
            labels = truth[done : done + len(norm)]
            if len(labels) != len(norm):
                raise InputError(f"{args.labels} has fewer labels than the videos have frames")
        done += len(norm)
        plots.normality_curve(
            norm, labels, stage / f"normality_{name}.png", title=f"{name}: normality (Eq. 11)"
        )
        worst = result.worst
        plots.heatmaps(
            np.stack([w[2] for w in worst])[:, None] / 255.0,
            np.stack([w[3] for w in worst]),
            None,
            stage / f"heatmaps_{name}.png",
            title=f"{name}: most anomalous frames " + ", ".join(str(w[1]) for w in worst),
        )
    if truth is not None and done != len(truth):
        raise InputError(f"{args.labels} has {len(truth)} labels for {done} frames")
    atomic_write_text(stage / "frame_scores.csv", buf.getvalue())
    return done


def _model_frames(path: Path, size: tuple, source: deque):
    """The model's frames of a video, each source frame (RGB, its own size) kept in
    ``source`` until the annotated output takes it: the footage is decoded once."""
    from .data.video import iter_source_images, model_frame

    for im in iter_source_images(path):
        source.append(np.asarray(im.convert("RGB")))
        yield model_frame(im, size)


def _write_annotated(
    writer, threshold: float, source: deque, frame: np.ndarray, score: float, error: np.ndarray
) -> None:
    """The source frame at its own size and colour, its error map (upsampled from the model's
    size) laid over it in red where the error reaches the threshold's level, and a bar along
    the bottom (length ~ score / (2 x threshold), red above the threshold) -> the writer."""
    from PIL import Image

    rgb = source.popleft().astype(np.float32)
    h, w = rgb.shape[:2]
    heat = np.asarray(Image.fromarray(error.astype(np.float32)).resize((w, h), Image.BILINEAR))
    alpha = 0.6 * np.clip(heat / (2 * threshold), 0, 1)[..., None] if threshold > 0 else 0.0
    rgb = rgb * (1 - alpha) + np.array([255.0, 0.0, 0.0]) * alpha
    out = rgb.clip(0, 255).astype(np.uint8)
    bar = max(2, h // 16)
    fill = int(w * min(1.0, score / (2 * threshold))) if threshold > 0 else 0
    out[h - bar :, :] = 0
    out[h - bar :, :fill] = (220, 30, 30) if score > threshold else (30, 200, 30)
    writer.write(out)


def _read_scores(path: str) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    """-> (scores, the model's labels if the file has them, video names if it is a
    frame-scores file from a video model; its scores are then 1 - normality, Eq. 11)."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read scores {path}: {exc}") from None
    if not rows or "score" not in rows[0]:
        raise InputError(f"{path} is not a scores file: it needs a 'score' column and rows")
    frames = "video" in rows[0] and "normality" in rows[0]
    try:
        if frames:
            scores = np.array([1.0 - float(r["normality"]) for r in rows])
        else:
            scores = np.array([float(r["score"]) for r in rows])
        labels = np.array([int(r["label"]) for r in rows]) if "label" in rows[0] else None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: bad value in the score or label column ({exc})") from None
    if not np.isfinite(scores).all():
        column = "normality" if frames else "score"
        raise InputError(f"{path}: the {column} column holds NaN or infinite values")
    return scores, labels, [r["video"] for r in rows] if frames else None


def _evaluate_frames(
    scores: np.ndarray, truth: np.ndarray, videos: list[str], json_path: Path
) -> None:
    """Video frame scores: frame-level micro AUC (all frames, the paper's number) and macro AUC
    (mean over videos) of 1 - normality."""
    truth = check_binary_labels(truth)
    names, ids = np.unique(videos, return_inverse=True)
    lab = [truth[ids == i] for i in range(len(names))]
    sc = [scores[ids == i] for i in range(len(names))]
    result = {"frames": len(scores), "videos": len(names)}
    result |= {"micro_auc": micro_auc(lab, sc), "macro_auc": macro_auc(lab, sc)}
    print(f"frames {result['frames']} in {result['videos']} video(s)")
    print(f"micro AUC {result['micro_auc']:.4f}  macro AUC {result['macro_auc']:.4f}")
    atomic_write_text(json_path, json.dumps(result, indent=2) + "\n")
    print(f"wrote {json_path}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    json_path = Path(args.json) if args.json else Path(args.scores).with_suffix(".metrics.json")
    _output(json_path, "--json", args.scores, args.labels)
    scores, predicted, videos = _read_scores(args.scores)
    truth = read_labels(args.labels, key=args.key, label_column=args.label_column)
    if len(truth) != len(scores):
        raise InputError(f"{len(scores)} scores but {len(truth)} labels in {args.labels}")
    if args.normal_class is not None:
        truth = (truth != _class_value(truth, args.normal_class)).astype(int)
    if videos is not None:
        if args.threshold is not None or args.top_fraction is not None:
            raise InputError(
                f"{args.scores} holds per-video frame scores, evaluated by AUC of 1 - normality:"
                " --threshold and --top-fraction do not apply"
            )
        _evaluate_frames(scores, truth, videos, json_path)
        return
    threshold = args.threshold
    if args.top_fraction is not None:
        threshold = top_fraction_threshold(scores, args.top_fraction)
    flagged = predicted if threshold is None else None  # the model's own labels from `score`
    if threshold is None and flagged is None:
        raise InputError(f"{args.scores} has no label column: pass --threshold or --top-fraction")
    ev = evaluate(scores, truth, threshold, flagged)
    print(ev.table())
    atomic_write_text(json_path, json.dumps(ev.as_dict(), indent=2, allow_nan=False) + "\n")
    print(f"wrote {json_path}")


def cmd_demo(args: argparse.Namespace) -> None:
    from .demo import DemoConfig, run_demo

    cfg = DemoConfig(
        digit=args.digit,
        epochs=args.epochs,
        seed=args.seed,
        limit=args.limit,
        verbose=not args.quiet,
    )
    aucs = run_demo(args.out, cfg)
    for name, auc in aucs.items():
        print(f"{name:<6} AUC {auc:.4f}")
    print(f"figures and results.json in {args.out}")


def _int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of integers") from None


def _str_list(text: str) -> list[str]:
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


GLOBAL_DESTS = {"command", "kind", "func", "verbose", "debug", "argv", "no_figures"}


def bench_from_args(args: argparse.Namespace):
    """-> (module memae.bench.<kind>, its Bench built from the parsed flags). Every flag must
    name a field of the Bench, so renaming a field breaks loudly instead of losing its flag."""
    import dataclasses
    import importlib

    module = importlib.import_module(f"memae.bench.{args.kind}")
    fields = {f.name for f in dataclasses.fields(module.Bench)}
    flags = {k: v for k, v in vars(args).items() if k not in GLOBAL_DESTS}
    stray = sorted(set(flags) - fields)
    if stray:
        raise RuntimeError(f"bench {args.kind}: flags {stray} name no field of {module.Bench}")
    values = {
        **flags,
        "data_dir": Path(args.data_dir),
        "out": Path(args.out),
        "command": "memae " + " ".join(args.argv),
    }
    if "figures" in fields:
        values["figures"] = not args.no_figures
    if values.get("models") == ["all"] and hasattr(module, "ALL_MODELS"):
        values["models"] = list(module.ALL_MODELS)
    return module, module.Bench(**values)


def cmd_bench(args: argparse.Namespace) -> None:
    """Build the bench of ``args.kind`` (memae.bench.<kind>) from its flags and run it."""
    if distributed.launched() and args.kind != "video":
        raise InputError(
            f"memae bench {args.kind} trains small nets: run it in one process (--jobs N for "
            "models in parallel); torchrun is for memae bench video and memae train"
        )
    module, bench = bench_from_args(args)
    module.run(bench)
    if distributed.is_first_rank():  # rank 0 wrote it
        print((Path(args.out) / "results.md").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- parser
def _add_bench_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deep models and output")
    g.add_argument("--epochs", type=int, help="default: per dataset")
    g.add_argument("--lr", type=float)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--device", default="auto")
    g.add_argument("--out", required=True, metavar="OUT")


class UsageError(MemAEError):
    """A command line that does not parse."""


class _Parser(argparse.ArgumentParser):
    """Parse errors are one line, like every other error (``main`` prints them)."""

    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="memae",
        description="Memory-augmented autoencoders (MemAE) for unsupervised anomaly detection.",
    )
    parser.add_argument("--version", action="version", version=f"memae {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "train",
        help="train a detector on normal data -> model folder",
        description="Train on DATA (.npy/.npz/.csv/.mat/MNIST IDX/image folder).",
    )
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", required=True, metavar="MODEL_DIR", help="folder to save the model")
    _add_param_options(p)
    p.add_argument("--labels", metavar="FILE", help="labels of DATA, to select --normal-class")
    p.add_argument("--normal-class", metavar="K", help="train only on samples of this class")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the run plan (every auto setting resolved: epochs, batch, lr, scaling, "
        "device, threads, workers) and stop: nothing is trained or written",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run whose training state (saved after epochs in "
        "OUT.train-state, until the model is saved) a stop or a crash left, from its last "
        "saved epoch",
    )
    _add_data_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "score",
        help="score data with a model -> CSV of id, score, label",
        description="Write one row per sample: id, score (higher = more "
        "anomalous), label (1 = above the threshold).",
    )
    p.add_argument("data", metavar="DATA")
    p.add_argument(
        "--model", required=True, metavar="MODEL", help="a model folder, or an exported .onnx file"
    )
    p.add_argument("--out", required=True, metavar="SCORES.csv")
    p.add_argument("--threshold", type=float, help="override the model's threshold")
    p.add_argument("--device", default=None, help="default: the device saved with the model")
    g = p.add_argument_group(
        "video models (DATA: a video file, a frame folder or a folder of "
        "either; --out is then a folder)"
    )
    g.add_argument(
        "--annotate", action="store_true", help="also write <video>_annotated.mp4 with a score bar"
    )
    g.add_argument(
        "--labels",
        metavar="FILE",
        help="frame labels (all videos concatenated) to shade the normality curves",
    )
    _add_data_options(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "export",
        help="a model folder -> one ONNX file with the whole scoring rule",
        description="Export MODEL_DIR to ONNX: raw input in the units memae score takes; "
        "outputs score, label (above the saved threshold) and, for images and clips, "
        "error_map; scored by `memae score --model FILE.onnx` through onnxruntime "
        "(pip install 'memae[onnx]').",
    )
    p.add_argument("model", metavar="MODEL_DIR")
    p.add_argument("--out", required=True, metavar="MODEL.onnx")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "evaluate",
        help="scores + ground truth -> AUC, AP, precision/recall/F1",
        description="Compare a scores CSV with ground-truth labels (1 = anomaly, "
        "or any classes with --normal-class).",
    )
    p.add_argument("scores", metavar="SCORES.csv")
    p.add_argument(
        "--labels",
        required=True,
        metavar="LABELS",
        help=".npy/.npz/.csv/.txt/.mat/IDX file of labels, one per row",
    )
    p.add_argument("--label-column", help="column of a labels CSV (default: the first)")
    p.add_argument("--key", help="array name inside an .npz/.mat labels file")
    p.add_argument("--normal-class", metavar="K", help="labels equal to K are normal, others 1")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--threshold", type=float, help="flag scores above this value")
    g.add_argument("--top-fraction", type=float, help="flag the top share of scores (KDD: 0.2)")
    p.add_argument("--json", metavar="PATH", help="metrics JSON (default SCORES.metrics.json)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "demo",
        help="AE vs MemAE on the embedded MNIST sample, with figures",
        description="Offline: trains AE and MemAE one-class on a digit of the "
        "6,000-digit MNIST sample shipped with memae and writes figures.",
    )
    p.add_argument("--out", default="memae_demo", metavar="DIR")
    p.add_argument("--digit", type=int, default=0, choices=range(10))
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="reproduce the papers' tables (image, tabular, video)")
    kinds = bench.add_subparsers(dest="kind", required=True, metavar="KIND")
    p = kinds.add_parser(
        "image",
        help="one-class image table (MemAE Table 1), MVTec AD",
        description="Per class and seed: train each model on the normal class "
        "and write OUT/results.csv, OUT/results.md and OUT/figures/. Rerunning "
        "skips rows already in results.csv and resumes a fit in progress (OUT/state).",
    )
    p.add_argument(
        "--dataset",
        required=True,
        choices=["mnist", "fashion-mnist", "cifar10", "cifar100", "folder", "mvtec"],
    )
    p.add_argument(
        "--data-dir",
        required=True,
        metavar="DIR",
        help="IDX files, CIFAR batches, a class-per-folder tree or an MVTec category",
    )
    p.add_argument("--protocol", default="paper", choices=["paper", "standard"])
    p.add_argument("--classes", type=_int_list, help="class indices, e.g. 0,3 (default: all)")
    p.add_argument(
        "--models",
        type=_str_list,
        default=["ae", "memae"],
        help="comma-separated: ocsvm, kde, vae, pixcnn, dsebm, ae, ae-l1, memae-nonspar, "
        "memae, memae-noshrink, memae-noentropy, arnet, arnet-mem, dagmm, dcn, or all (Table "
        "1's rows and ARNet); options as memae:similarity=cosine:temperature=0.1",
    )
    p.add_argument("--seeds", type=_int_list, default=[0])
    p.add_argument(
        "--image-size",
        type=_image_size,
        metavar="HxW",
        help="resize folder / MVTec images (MVTec default 128x128)",
    )
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="models trained at once, in worker processes sharing the CPU threads "
        "(2 on a 2-core CPU: 1.2-1.3x the throughput for the small MNIST nets)",
    )
    _add_bench_options(p)
    p.set_defaults(func=cmd_bench)

    p = kinds.add_parser(
        "tabular",
        help="KDDCUP99 (MemAE Table 3) or the ODDS suite",
        description="KDDCUP99 with the DAGMM protocol (--dataset kddcup99) or "
        "every ODDS .mat file of a folder (--suite odds). Rerunning skips rows "
        "already in OUT/results.csv and resumes a fit in progress (OUT/state).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--dataset", choices=["kddcup99"])
    what.add_argument("--suite", choices=["odds"])
    p.add_argument("--data-dir", required=True, metavar="DIR")
    p.add_argument(
        "--models",
        type=_str_list,
        help="default: ocsvm,ae,memae-nonspar,memae (KDD) or ae,memae (ODDS), plus "
        "iforest,pyod-ae,ecod when PyOD is installed; also dagmm, dcn, dsebm, and "
        "memae:epochs=0 (the untrained floor)",
    )
    p.add_argument("--runs", type=int, default=20, help="KDD runs (seeds 0..runs-1)")
    p.add_argument("--seeds", type=_int_list, default=[0, 1, 2, 3, 4], help="ODDS seeds")
    p.add_argument(
        "--sources",
        type=_str_list,
        default=["raw", "npz"],
        help="KDD input files: raw (kddcup.data_10_percent.gz), npz (kdd_cup.npz)",
    )
    p.add_argument(
        "--protocol",
        default="paper",
        choices=["paper", "code"],
        help="KDD: paper = the DAGMM/MemAE papers' 50/50 split, top 20%% of test scores "
        "flagged; code = the widely copied DAGMM code (half of the normal class trains; the "
        "threshold is the 80th percentile of training and test scores together)",
    )
    _add_bench_options(p)
    p.set_defaults(func=cmd_bench)

    p = kinds.add_parser(
        "video",
        help="frame-level AUC on surveillance video (MemAE Table 2)",
        description="Train on clips of the training videos, score every test frame, report "
        "micro / macro frame AUC and pixel AUROC. Layouts: training/frames + testing/frames "
        "(Ped2, Avenue, ShanghaiTech), or UCSD's Train/Test. Rerunning skips rows already "
        "in OUT/results.csv and resumes a fit in progress (OUT/state).",
    )
    p.add_argument("--dataset", default="ped2", help="a name for the table (default ped2)")
    p.add_argument("--data-dir", required=True, metavar="DIR")
    p.add_argument(
        "--config",
        default="cpu",
        choices=["paper", "paper-short", "cpu", "cpu-small"],  # memae.bench.video.CONFIGS
        help="paper: 256x256, channels 96-128-256-256, N = 2000; paper-short: the same on "
        "every 2nd training clip for 30 epochs; cpu: 128x128, 16-32-64-64, N = 500; "
        "cpu-small: 64x64 (see memae.bench.video.CONFIGS)",
    )
    p.add_argument(
        "--models",
        type=_str_list,
        default=["ae", "memae"],
        help="ae, memae, memae-nonspar, ae-l1, memae-noshrink, memae-noentropy",
    )
    p.add_argument("--seeds", type=_int_list, default=[0])
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    _add_bench_options(p)
    p.set_defaults(func=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"memae: error: {exc}", file=sys.stderr)
        return 2
    args.argv = argv  # stamped into benchmark results
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        args.func(args)
    except KeyboardInterrupt:
        print("memae: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of our output went away (`| head`): not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (MemAEError, OSError, ValueError, FloatingPointError) as exc:
        if args.debug:
            raise
        message = " ".join(str(exc).split()) or type(exc).__name__
        print(f"memae: error: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
