"""What the memory does on video, measured on validation data only (issue #37, item 2).

For each model saved by ``memae bench video`` (``OUT/models/<model>_seed<k>``), the clips it
held out of its own fit (the same split: ``split_indices`` under the fit's seed) are the normal
validation set, and two pseudo-anomalies are made from them, never from test videos:

- ``skip``: the clip of the same start taken at every 3rd frame (motion three times as fast,
  as a bicycle among pedestrians);
- ``patch``: a 24x24 patch of another place of the clip pasted into it, sliding 2 pixels a
  frame (a foreign object).

Per model and pseudo-anomaly: the clip AUC of normal against pseudo-anomalous (the model's own
score), the mean score of each, the share of the error spent in the 10% worst pixels, and, for a
MemAE memory, the same with the memory bypassed (the decoder fed the code itself): the share of
the normal error that the memory path adds, and what it does to the separation. Addressing:
effective slots on the validation clips.

    python benchmarks/memory_diagnosis.py runs/ped2_variants --models ae-pred,memae-pred \\
        --seeds 0 --out benchmarks/results/ped2_diagnosis.csv
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from csvout import write_rows
from sklearn.metrics import roc_auc_score

from memae import MemAEDetector
from memae.bench.common import slug
from memae.bench.video import CONFIGS
from memae.data.clips import ClipDataset, scale_frames
from memae.data.video import load_video_dataset
from memae.fitting import seed_everything, split_indices
from memae.memory import UsageMeter
from memae.models.bottlenecks import Bottleneck, MemoryBottleneck

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "ucsd_ped2"
SKIP, PATCH, SLIDE = 3, 24, 2


def held_out(clips: ClipDataset, seed: int, fraction: float) -> list[tuple[int, int]]:
    """(video, start) of the clips the fit of ``seed`` held out."""
    val_idx, _ = split_indices(len(clips), fraction, seed_everything(seed))
    return [clips.index[i] for i in val_idx.tolist()]


def normal_and_pseudo(
    videos: list[np.ndarray], picks: list[tuple[int, int]], clip_len: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """-> {"normal", "skip", "patch"}: clips (n, 1, T, H, W) in [-1, 1] (skip: the picks whose
    video is long enough)."""
    normal = np.stack([videos[v][s : s + clip_len] for v, s in picks])  # (n, T, H, W) uint8
    skip = [
        videos[v][s : s + SKIP * clip_len : SKIP]
        for v, s in picks
        if s + SKIP * (clip_len - 1) < len(videos[v])
    ]
    patch = normal.copy()
    h, w = normal.shape[2:]
    for clip in patch:
        sy, sx = rng.integers(0, h - PATCH), rng.integers(0, w - PATCH)  # the source place
        ty, tx = rng.integers(0, h - PATCH), rng.integers(0, w - PATCH - SLIDE * clip_len)
        src = clip[:, sy : sy + PATCH, sx : sx + PATCH].copy()
        for t in range(clip_len):
            x0 = tx + SLIDE * t
            clip[t, ty : ty + PATCH, x0 : x0 + PATCH] = src[t]
    return {
        name: scale_frames(np.stack(c))[:, None]
        for name, c in (("normal", normal), ("skip", skip), ("patch", patch))
    }


@contextlib.contextmanager
def bypassed(det: MemAEDetector) -> Iterator[bool]:
    """The model with its MemAE memory taken out (the decoder fed the code); yields whether
    there was one to take out."""
    net = det.model_
    if not isinstance(net.bottleneck, MemoryBottleneck):
        yield False
        return
    kept = net.bottleneck
    net.bottleneck = Bottleneck()
    try:
        yield True
    finally:
        net.bottleneck = kept


def _scores(det: MemAEDetector, clips: np.ndarray) -> tuple[np.ndarray, float]:
    """Scores and the mean share of each clip's error in its 10% worst pixels."""
    scores, maps = det.score_maps(clips)
    flat = maps.reshape(len(maps), -1)
    k = max(1, flat.shape[1] // 10)
    top = np.sort(flat, axis=1)[:, -k:].sum(1) / np.maximum(flat.sum(1), 1e-12)
    return scores, float(top.mean())


def diagnose(det: MemAEDetector, sets: dict[str, np.ndarray]) -> dict[str, float]:
    row: dict[str, float] = {}
    normal, row["top10_share_normal"] = _scores(det, sets["normal"])
    row["score_normal"] = float(normal.mean())
    for kind in ("skip", "patch"):
        s, row[f"top10_share_{kind}"] = _scores(det, sets[kind])
        row[f"score_{kind}"] = float(s.mean())
        y = np.r_[np.zeros(len(normal)), np.ones(len(s))]
        row[f"auc_{kind}"] = roc_auc_score(y, np.r_[normal, s])
    with bypassed(det) as has_memory:
        if has_memory:
            plain = {k: det.score_maps(v)[0] for k, v in sets.items()}
            row["memory_error_share_normal"] = (
                1 - float(plain["normal"].mean()) / row["score_normal"]
            )
            for kind in ("skip", "patch"):
                y = np.r_[np.zeros(len(plain["normal"])), np.ones(len(plain[kind]))]
                row[f"auc_{kind}_bypassed"] = roc_auc_score(y, np.r_[plain["normal"], plain[kind]])
    if det.model_.memory is not None:
        meter = UsageMeter(det.model_.memory.num_slots)
        meter.update(torch.from_numpy(det.addressing(sets["normal"])))
        row["effective_slots_val"] = meter.summary()["effective_slots"]
        row["slots_addressed_val"] = meter.summary()["slots_addressed"]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("bench", type=Path, help="a `memae bench video` --out folder")
    ap.add_argument("--models", required=True, help="comma-separated model specs")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--config", default="cpu")
    ap.add_argument("--data-dir", type=Path, default=SHARED)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ped2_diagnosis.csv"))
    a = ap.parse_args()
    cfg = CONFIGS[a.config]
    data = load_video_dataset(a.data_dir, cfg["size"])
    videos = [v.frames for v in data.train]
    clips = ClipDataset(videos, cfg["clip_len"], cfg["train_stride"])
    rows = []
    for seed in (int(s) for s in a.seeds.split(",")):
        for spec in a.models.split(","):
            folder = a.bench / "models" / f"{slug(spec)}_seed{seed}"
            if not folder.exists():
                print(f"{folder}: not there, skipped")
                continue
            det = MemAEDetector.load(folder)
            picks = held_out(clips, seed, det.validation_fraction)
            sets = normal_and_pseudo(videos, picks, cfg["clip_len"], np.random.default_rng(seed))
            row = {"model": spec, "seed": seed, "val_clips": len(picks), **diagnose(det, sets)}
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})
            rows.append(row)
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("model", "seed"), k))
    write_rows(a.out, rows, fields)


if __name__ == "__main__":
    main()
