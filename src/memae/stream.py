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

from .data.clips import clip_anchor, frame_scores, scale_frames
from .detector import MemAEDetector
from .errors import InputError
from .scoring import normality

# (frame uint8 (h, w), its score, its error map (h, w) at the model's size), in frame order
FrameSink = Callable[[np.ndarray, float, np.ndarray], None]


@dataclass
class StreamScores:
    scores: np.ndarray  # (n,) one per frame: the score of the clip centred nearest the frame
    worst: list[tuple[float, int, np.ndarray, np.ndarray]] = field(default_factory=list)
    # (score, frame index, frame (h, w) uint8, error map (h, w)), highest score first

    @property
    def normality(self) -> np.ndarray:
        return normality(self.scores)


class _Stream:
    """The state of one streamed video: the clip window, the batch of clips waiting for the
    model, the frames waiting for their score, the clip scores and the worst frames."""

    def __init__(self, det: MemAEDetector, top_k: int, sink: FrameSink | None, batch_size: int):
        self.det, self.top_k, self.sink, self.batch_size = det, top_k, sink, batch_size
        self.clip_len = det.input_shape_[1]
        self.predicts = det.predicts_
        self.anchor = clip_anchor(self.clip_len, self.predicts)  # the clip frame a score is for
        self.window: deque[np.ndarray] = deque(maxlen=self.clip_len)
        self.pending: deque[np.ndarray] = deque()  # frames not yet given to the sink
        self.batch: list[np.ndarray] = []
        self.batch_starts: list[int] = []
        self.clip_scores: list[float] = []
        self.centre_maps: dict[int, np.ndarray] = {}  # clip -> its anchor frame's error map
        # the whole maps (T', h, w) of the first and the latest clip: the frames before the first
        # anchor and after the last take their own map from them, as in batch scoring
        self.end_maps: dict[int, np.ndarray] = {}
        self.worst: list[tuple[float, int, np.ndarray, np.ndarray]] = []  # min-heap, top_k
        self.n = 0

    def push(self, frame: np.ndarray) -> None:
        self.window.append(frame)
        if self.sink is not None:
            self.pending.append(frame)
        self.n += 1
        if len(self.window) == self.clip_len:
            self.batch.append(np.stack(self.window))
            self.batch_starts.append(self.n - self.clip_len)
            if len(self.batch) == self.batch_size:
                self.flush()

    def flush(self) -> None:
        if not self.batch:
            return
        clips = scale_frames(np.stack(self.batch))[:, None]  # (k, 1, T, H, W) in [-1, 1]
        scores, maps = self.det.score_maps(clips)  # (k,), (k, T, H, W): the detector's rule
        at = self.anchor - (self.clip_len - maps.shape[1])  # maps cover the last T' frames
        for start, score, m, clip in zip(
            self.batch_starts, scores.tolist(), maps, self.batch, strict=True
        ):
            if self.sink is not None:
                i = len(self.clip_scores)
                self.centre_maps[i] = m[at].copy()
                self.end_maps = {k: v for k, v in self.end_maps.items() if k == 0} | {i: m.copy()}
            self.clip_scores.append(score)
            self._keep_worst((score, start + self.anchor, clip[self.anchor].copy(), m[at].copy()))
        self.batch.clear()
        self.batch_starts.clear()
        self.emit(final=False)

    def _map(self, frame: int, idx: int) -> np.ndarray:
        """Frame ``frame``'s error map in clip ``idx``: its anchor's, or, before the first anchor
        and after the last, the frame's own place in that clip."""
        if frame - idx == self.anchor:
            return self.centre_maps[idx]
        whole = self.end_maps[idx]  # (T', h, w): the clip's last T' frames
        return whole[min(max(frame - idx - (self.clip_len - len(whole)), 0), len(whole) - 1)]

    def _keep_worst(self, item: tuple[float, int, np.ndarray, np.ndarray]) -> None:
        if len(self.worst) < self.top_k:
            heapq.heappush(self.worst, item)
        elif self.top_k and item[0] > self.worst[0][0]:
            heapq.heapreplace(self.worst, item)

    def emit(self, final: bool) -> None:
        """Give the sink every pending frame whose score is known (all of them when final)."""
        done = self.n - len(self.pending)  # frames already given to the sink
        scored = len(self.clip_scores)
        while self.pending and (final or (scored and done - self.anchor < scored)):
            idx = min(max(done - self.anchor, 0), scored - 1)  # stride 1: clip idx starts at idx
            self.sink(self.pending.popleft(), self.clip_scores[idx], self._map(done, idx))
            done += 1
            for old in [
                k for k in self.centre_maps if k < min(max(done - self.anchor, 0), scored - 1)
            ]:
                del self.centre_maps[old]  # no later frame takes this clip's map


def score_stream(
    det: MemAEDetector,
    frames: Iterable[np.ndarray],
    top_k: int = 6,
    sink: FrameSink | None = None,
    batch_size: int = 16,
) -> StreamScores:
    """Score every frame of ``frames`` ((h, w) uint8 at the model's size) with stride-1 clips.

    A clip's score (``decision_function``'s, under the detector's scoring rule) goes to its
    anchor frame (its centre; a predictor's: its last); the frames before the first anchor take
    the first clip's score and those after the last the last clip's (as in
    ``memae.data.clips.frame_scores``). ``sink`` receives each frame with
    its score, in order, as soon as the score is known.
    """
    shape = det.input_shape_
    if len(shape) != 4:
        raise InputError(f"the model takes samples of shape {shape}, not video clips")
    stream = _Stream(det, top_k, sink, batch_size)
    for frame in frames:
        if frame.shape != tuple(shape[2:]):
            raise InputError(
                f"frame {stream.n} has shape {frame.shape}, the model takes {shape[2:]}"
            )
        stream.push(frame)
    if stream.n < stream.clip_len:
        raise InputError(f"the video has {stream.n} frames, fewer than one clip ({shape[1]})")
    stream.flush()
    stream.emit(final=True)
    n, clip_len = stream.n, stream.clip_len
    starts = list(range(len(stream.clip_scores)))
    scores = frame_scores(np.asarray(stream.clip_scores), starts, n, clip_len, stream.predicts)
    return StreamScores(scores, sorted(stream.worst, key=lambda w: -w[0]))
