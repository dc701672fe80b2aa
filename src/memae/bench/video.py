"""``memae bench video``: MemAE Table 2 (frame-level AUC on UCSD Ped2 and alike).

Per seed and model: train the clip model on clips of the training videos, score every frame of
every test video as ``memae score`` does (``memae.stream``: stride-1 clips, a clip's score goes
to its anchor frame, the centre or a predictor's predicted frame, and the ends take the nearest
anchor's), normalise per video
(Eq. 11), and report the micro AUC (all frames concatenated, the paper's figure), the macro
AUC (mean over videos) and the pixel AUROC of the error maps against the masks.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from .. import plots
from ..data.clips import ClipDataset
from ..data.video import Video, VideoDataset, load_video_dataset
from ..detector import MemAEDetector
from ..distributed import is_first_rank
from ..errors import InputError
from ..metrics import macro_auc, micro_auc
from ..persist import atomic_write_text
from ..scoring import normality
from ..stream import score_stream
from ..timing import module_time
from .budgets import budgets
from .common import budget_note, parse_model, slug, training_overrides, with_budget
from .results import ResultsTable, mean_std, memory_markdown, stamp, whole_fits
from .runner import Job, run_jobs

log = logging.getLogger(__name__)

# paper: the authors' released configuration; cpu: sized for 2 cores (Ped2: 14-17 min of
# training per model, micro AUC 0.846 AE / 0.853 MemAE; benchmarks/RESULTS.md)
_CPU: dict[str, Any] = {
    "size": (128, 128),
    "clip_len": 16,
    "train_stride": 2,
    "channels": [16, 32, 64, 64],
    "mem_slots": 500,
    "shrink_threshold": None,
    "epochs": 20,
    "lr": 1e-3,
    "batch_size": 16,
}
_PAPER: dict[str, Any] = {
    **_CPU,
    "size": (256, 256),
    "train_stride": 1,
    "channels": [96, 128, 256, 256],
    "mem_slots": 2000,
    "shrink_threshold": 0.0025,
    "epochs": 60,
    "lr": 1e-4,
    "batch_size": 14,
}
CONFIGS: dict[str, dict[str, Any]] = {
    "paper": _PAPER,
    # the paper's net, frames and memory on half the training clips for half the epochs: the
    # subset that benchmarks/ped2_paper.sh sizes to one H100 for ten minutes (6 fits)
    "paper-short": {**_PAPER, "train_stride": 2, "epochs": 30},
    "cpu": _CPU,
    # the first CPU attempt (64x64 frames): 2 minutes per model, micro AUC 0.78-0.79
    "cpu-small": {**_CPU, "size": (64, 64), "train_stride": 4, "epochs": 30},
}
PIXEL_SIZE = 64  # pixel AUROC is computed on maps and masks brought to at most 64x64
KEY = ("dataset", "config", "model", "seed")  # what identifies a row of the results table


@dataclass
class VideoBench:
    data_dir: Path
    out: Path
    dataset: str = "ped2"
    config: str = "cpu"
    models: list[str] = field(default_factory=lambda: ["ae", "memae"])
    seeds: list[int] = field(default_factory=lambda: [0])
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    device: str = "auto"
    compile: bool = False
    figures: bool = True
    command: str = ""

    @property
    def preset(self) -> str:
        """The name its per-model epoch budgets go by (``memae.bench.budgets``): ``ped2-cpu``."""
        return f"{self.dataset}-{self.config}"

    def settings(self) -> dict[str, Any]:
        if self.config not in CONFIGS:
            raise InputError(f"config must be one of {', '.join(CONFIGS)}, got {self.config!r}")
        return training_overrides(CONFIGS[self.config], self)


def _training(cfg: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {"channels": cfg["channels"]}
    return {
        "epochs": cfg["epochs"],
        "lr": cfg["lr"],
        "batch_size": cfg["batch_size"],
        "scaling": "none",
        "inference_batch_size": 32,
        "mem_slots": cfg["mem_slots"],
        "shrink_threshold": cfg["shrink_threshold"],
        "model_options": options,
        "compile": cfg.get("compile", False),
    }


def training_clips(data: VideoDataset, cfg: dict[str, Any]) -> ClipDataset:
    """The clips a config trains on: every training video, ``clip_len`` frames at its stride."""
    return ClipDataset([v.frames for v in data.train], cfg["clip_len"], cfg["train_stride"])


def score_videos(det: MemAEDetector, videos: list[Video]) -> tuple[list[np.ndarray], list]:
    """-> per video: frame anomaly scores (t,), and per-frame error maps (t, h', w') at most
    PIXEL_SIZE wide. Every frame is scored by the one clip scorer that ``memae score`` and
    streaming use (``memae.stream.score_stream``: stride-1 clips, a clip's score and map given
    to its anchor frame)."""
    scores, maps = [], []
    for v in videos:
        small: list[np.ndarray] = []
        result = score_stream(det, iter(v.frames), top_k=0, sink=partial(_keep_map, small))
        scores.append(result.scores)
        maps.append(_shrink(torch.from_numpy(np.stack(small))).numpy())
    return scores, maps


def _keep_map(kept: list[np.ndarray], frame: np.ndarray, score: float, m: np.ndarray) -> None:
    kept.append(m)


def _shrink(maps: torch.Tensor) -> torch.Tensor:
    """(t, H, W) -> (t, h', w') with max(h', w') <= PIXEL_SIZE (average pooling)."""
    h, w = maps.shape[-2:]
    f = max(1, int(np.ceil(max(h, w) / PIXEL_SIZE)))
    return maps if f == 1 else F.avg_pool2d(maps[:, None], f)[:, 0]


def pixel_auroc(videos: list[Video], maps: list[np.ndarray]) -> float:
    pairs = [(v.masks, m) for v, m in zip(videos, maps, strict=True) if v.masks is not None]
    if not pairs:
        return float("nan")
    truth, pred = [], []
    for masks, m in pairs:
        t = torch.from_numpy(masks.astype(np.float32))[:, None]
        t = F.adaptive_max_pool2d(t, m.shape[-2:])[:, 0] > 0.5
        truth.append(t.numpy().reshape(-1))
        pred.append(m.reshape(-1))
    truth_all = np.concatenate(truth)
    if truth_all.all() or not truth_all.any():
        return float("nan")
    return float(roc_auc_score(truth_all, np.concatenate(pred)))


@dataclass
class VideoScores:
    """What scoring the test videos gives: frame scores and error maps per video, and the
    seconds spent in the memory."""

    scores: list[np.ndarray]
    maps: list[np.ndarray]
    memory_s: float


def score_test_videos(det: MemAEDetector, videos: list[Video]) -> VideoScores:
    with module_time(det.model_.memory) as memory_time:
        scores, maps = score_videos(det, videos)
    return VideoScores(scores, maps, memory_time.seconds)


def run(bench: VideoBench) -> ResultsTable:
    cfg = bench.settings()
    for spec in bench.models:
        if parse_model(spec)[0] in ("ocsvm", "kde"):
            raise InputError(f"{spec} is not a video model")
    data = load_video_dataset(bench.data_dir, cfg["size"])
    if not data.test or any(v.labels is None for v in data.test):
        raise InputError(f"{bench.data_dir}: the test videos need frame labels")
    bench.out.mkdir(parents=True, exist_ok=True)
    table = ResultsTable(bench.out / "results.csv", KEY)
    train = training_clips(data, cfg)
    labels = [v.labels for v in data.test]

    def row(job: Job, det: Any, result: VideoScores, info: dict[str, Any]) -> dict[str, Any]:
        spec, seed = job.spec, job.seed
        norm = [normality(s) for s in result.scores]
        anomaly = [1.0 - p for p in norm]
        n_frames = sum(len(s) for s in result.scores)
        epochs = det.schedule_.epochs
        fields = {
            "micro_auc": micro_auc(labels, anomaly),
            "macro_auc": macro_auc(labels, anomaly),
            "pixel_auroc": pixel_auroc(data.test, result.maps),
            "train_clips": len(train),
            "test_frames": n_frames,
            "epochs": epochs,
            "best_epoch": info["best_epoch"],
            "resumed_epochs": info["resumed_epochs"],  # fit_s covers the other epochs
            "fit_s": info["fit_s"],
            "fit_s_per_epoch": _per_epoch(info["fit_s"], epochs - info["resumed_epochs"]),
            "score_s": info["score_s"],
            "frames_per_s": n_frames / info["score_s"],
            "memory_s_per_frame": result.memory_s / n_frames,
            "memory_share": result.memory_s / info["score_s"],
            **{k: info[k] for k in ("slots_addressed", "effective_slots") if k in info},
        }
        det.save(bench.out / "models" / f"{slug(spec)}_seed{seed}")  # rank 0 writes, under torchrun
        if not is_first_rank():
            return fields
        _write_frame_scores(
            bench.out / "frame_scores" / f"{slug(spec)}_seed{seed}.csv",
            data.test,
            result.scores,
            norm,
        )
        if bench.figures and seed == bench.seeds[0]:
            _figures(bench.out / "figures", spec, data.test, norm, result.maps)
        return fields

    jobs = (
        Job(
            {"dataset": bench.dataset, "config": bench.config, "model": spec, "seed": seed},
            spec,
            seed,
            with_budget(_training(cfg), budgets(bench.preset), spec, bench.epochs),
            bench.device,
            lambda: (train, data.test),
            score=score_test_videos,
        )
        for seed in bench.seeds
        for spec in bench.models
    )
    total = len(bench.seeds) * len(bench.models)
    run_jobs(table, jobs, row, desc=f"bench video {bench.dataset}", total=total)
    if is_first_rank():
        _markdown(bench, table, cfg)
    return table


def _per_epoch(fit_s: float, epochs_run: int) -> float:
    """Fit seconds per epoch this run trained (nan when every epoch came from a resumed state)."""
    return fit_s / epochs_run if epochs_run > 0 else float("nan")


def _write_frame_scores(
    path: Path, videos: list[Video], scores: list[np.ndarray], norm: list[np.ndarray]
) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["video", "frame", "score", "normality", "label"])
    for v, s, p in zip(videos, scores, norm, strict=True):
        lab = v.labels if v.labels is not None else np.full(len(s), -1)
        w.writerows(
            (v.name, i, f"{a:.6g}", f"{b:.6g}", int(c))
            for i, (a, b, c) in enumerate(zip(s, p, lab, strict=True))
        )
    atomic_write_text(path, buf.getvalue())


def _figures(
    folder: Path, spec: str, videos: list[Video], norm: list[np.ndarray], maps: list[np.ndarray]
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # the video with the most of both normal and anomalous frames shows the curve best
    v = max(
        range(len(videos)),
        key=lambda i: min(int(videos[i].labels.sum()), int((videos[i].labels == 0).sum())),
    )
    plots.normality_curve(
        norm[v],
        videos[v].labels,
        folder / f"normality_{slug(spec)}.png",
        title=f"{spec}: normality of test video {videos[v].name} (Eq. 11)",
    )
    worst = np.argsort(norm[v])[:6]
    frames = videos[v].frames[worst].astype(np.float32)[:, None] / 255.0
    masks = videos[v].masks[worst] if videos[v].masks is not None else None
    up = F.interpolate(
        torch.from_numpy(maps[v][worst])[:, None],
        size=frames.shape[-2:],
        mode="bilinear",
        align_corners=False,
    )[:, 0].numpy()
    plots.heatmaps(
        frames,
        up,
        masks,
        folder / f"heatmaps_{slug(spec)}.png",
        title=f"{spec}: the 6 least normal frames of video {videos[v].name}",
    )


def _markdown(bench: VideoBench, table: ResultsTable, cfg: dict[str, Any]) -> None:
    rows = table.select(dataset=bench.dataset, config=bench.config)
    settings = {
        "dataset": f"{bench.dataset} ({bench.data_dir})",
        "protocol": "train on clips of the training videos; every test frame scored (a clip's "
        "score goes to its centre frame, ends take the nearest centre); Eq. 11 per "
        "video; micro AUC = all frames concatenated (paper), macro = mean over "
        f"videos; pixel AUROC of error maps vs masks at <= {PIXEL_SIZE}x{PIXEL_SIZE}",
        "config": f"{bench.config}: {cfg}",
        "epochs per model": budget_note(budgets(bench.preset), bench.epochs),
        "command": f"`{bench.command}`" if bench.command else "(library call)",
    }
    text = stamp(f"memae bench video: {bench.dataset}", settings)
    text += (
        "\n| model | micro AUC | macro AUC | pixel AUROC | seeds | fit s/epoch | "
        "frames/s | memory share |\n|---|---|---|---|---|---|---|---|\n"
    )
    for spec in bench.models:
        mine = [r for r in rows if r["model"] == spec]
        if not mine:
            continue
        cells = [
            mean_std([float(r[k]) for r in mine]) for k in ("micro_auc", "macro_auc", "pixel_auroc")
        ]
        timed = [float(r["fit_s_per_epoch"]) for r in whole_fits(mine)]
        per_epoch = f"{np.mean(timed):.1f}" if timed else "-"
        fps = np.mean([float(r["frames_per_s"]) for r in mine])
        shares = [float(r["memory_share"]) for r in mine if r.get("memory_share")]
        share = f"{np.mean(shares):.1%}" if shares else "-"
        text += (
            f"| {spec} | " + " | ".join(cells) + f" | {len(mine)} | {per_epoch} | {fps:.1f} "
            f"| {share} |\n"
        )
    text += memory_markdown(rows, bench.models)
    atomic_write_text(bench.out / "results.md", text)


Bench = VideoBench  # what `memae bench video` builds from its arguments
