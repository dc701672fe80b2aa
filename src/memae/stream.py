"""Scoring a video of any length with a clip model, in bounded memory.

Frames stream in one at a time; only the last ``clip_len`` frames, one batch of clips, the
frames still waiting for their score (for the annotated output) and the ``top_k`` worst
frames' error maps are held. Per frame only a float is kept, so a long input costs
kilobytes per thousand frames.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from .data.clips import frame_scores, scale_frames
from .detector import MemAEDetector
from .errors import InputError
from .scoring import normality

FrameSink = Callable[[np.ndarray, float], None]  # (frame uint8 (h, w), score) in frame order


@dataclass
class StreamScores:
    scores: np.ndarray  # (n,) one per frame: the score of the clip centred nearest the frame
    worst: list[tuple[float, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    # (score, frame index, frame (h, w) uint8, error map (h, w)), highest score first

    @property
    def normality(self) -> np.ndarray:
        return normality(self.scores)


def score_stream(
    det: MemAEDetector,
    frames: Iterable[np.ndarray],
    top_k: int = 6,
    sink: FrameSink | None = None,
    batch_size: int = 16,
) -> StreamScores:
    """Score every frame of ``frames`` ((h, w) uint8 at the model's size) with stride-1 clips.

    A clip's score goes to its centre frame; the first clip_len // 2 frames take the first
    clip's score and the last ones the last clip's (as in ``memae.data.clips.frame_scores``).
    ``sink`` receives each frame with its score, in order, as soon as the score is known.
    """
    shape = det.input_shape_
    if len(shape) != 4:
        raise InputError(f"the model takes samples of shape {shape}, not video clips")
    clip_len, half = shape[1], shape[1] // 2
    window: deque[np.ndarray] = deque(maxlen=clip_len)
    pending: deque[np.ndarray] = deque()  # frames not yet given to the sink
    batch: list[np.ndarray] = []
    batch_starts: list[int] = []
    clip_scores: list[float] = []
    worst: list[tuple[float, int, np.ndarray, np.ndarray]] = []  # min-heap of the top_k
    n = 0

    def flush() -> None:
        if not batch:
            return
        clips = scale_frames(np.stack(batch))[:, None]  # (k, 1, T, H, W) in [-1, 1]
        scores, maps = det.score_maps(clips)  # (k,), (k, T, H, W): the detector's own rule
        for start, score, m, clip in zip(batch_starts, scores.tolist(), maps, batch, strict=True):
            clip_scores.append(score)
            item = (score, start + half, clip[half].copy(), m[half].copy())
            if len(worst) < top_k:
                heapq.heappush(worst, item)
            elif top_k and score > worst[0][0]:
                heapq.heapreplace(worst, item)
        batch.clear()
        batch_starts.clear()
        emit(final=False)

    def emit(final: bool) -> None:
        if sink is None:
            pending.clear()
            return
        done = n - len(pending)  # frames already given to the sink
        while pending:
            known = final or (clip_scores and (done < half or done - half < len(clip_scores)))
            if not known:
                break
            idx = min(max(done - half, 0), len(clip_scores) - 1)
            sink(pending.popleft(), clip_scores[idx])
            done += 1

    for frame in frames:
        if frame.shape != tuple(shape[2:]):
            raise InputError(f"frame {n} has shape {frame.shape}, the model takes {shape[2:]}")
        window.append(frame)
        pending.append(frame)
        n += 1
        if len(window) == clip_len:
            batch.append(np.stack(window))
            batch_starts.append(n - clip_len)
            if len(batch) == batch_size:
                flush()
    if n < clip_len:
        raise InputError(f"the video has {n} frames, fewer than one clip ({clip_len})")
    flush()
    emit(final=True)
    scores = frame_scores(np.asarray(clip_scores), list(range(len(clip_scores))), n, clip_len)
    return StreamScores(scores, sorted(worst, key=lambda w: -w[0]))
