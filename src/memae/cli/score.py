"""`memae score DATA --model MODEL --out OUT`: a table or images -> a scores CSV; videos are
streamed -> frame_scores.csv, normality curves, heat maps, annotated videos."""

from __future__ import annotations

import argparse
import csv
import io
from collections import deque
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from ..data.readers import read_labels
from ..detector import MemAEDetector
from ..errors import InputError
from ..persist import atomic_write_text, staged_outputs
from .options import add_data_options, is_onnx, output, read


def register(sub: Any) -> None:
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
    add_data_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    output(args.out, "--out", args.data, args.model, args.labels)
    det = _load_model(args.model, args.device)
    shape = det.input_shape_
    if len(shape) == 4:  # a clip model: stream the video(s)
        _score_videos(args, det)
        return
    override = {}
    if len(shape) == 3 and Path(args.data).is_dir():  # folder images take the model's size
        override = {"image_size": args.image_size or shape[1:], "color": shape[0] == 3}
    if det.encoder_ is not None:  # a table: its columns encoded as at training
        override["encoding"] = det.encoder_
    data = read(args, args.data, **override)
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


def _load_model(path: str, device: str | None) -> Any:
    """A model folder (torch) or an exported ``.onnx`` file (onnxruntime): the same outputs."""
    if is_onnx(path):
        from ..onnx import OnnxDetector

        if device not in (None, "cpu"):
            raise InputError("an ONNX model is scored by onnxruntime on the CPU; drop --device")
        return OnnxDetector(path)
    return MemAEDetector.load(path, device=device)


def _score_videos(args: argparse.Namespace, det: MemAEDetector) -> None:
    """Video input: OUT/frame_scores.csv, a normality curve and heat maps per video, and with
    --annotate an .mp4 per video with a score bar (red above the model's threshold)."""
    from ..data.video import list_videos

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
    from .. import plots
    from ..data.video import VideoWriter, frame_rate, iter_frames
    from ..stream import score_stream

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
    from ..data.video import iter_source_images, model_frame

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
