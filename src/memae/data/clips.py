"""Video as clips: clip starts, clip scores -> frame scores, and a torch Dataset of
(1, T, H, W) clips in [-1, 1] over decoded frames."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from ..errors import InputError


def clip_starts(n_frames: int, clip_len: int, stride: int) -> list[int]:
    """Start frames of the clips of a video: 0, stride, ... and always the last full clip."""
    if n_frames < clip_len:
        raise ValueError(f"a video of {n_frames} frames is shorter than a clip ({clip_len})")
    starts = list(range(0, n_frames - clip_len + 1, stride))
    if starts[-1] != n_frames - clip_len:
        starts.append(n_frames - clip_len)
    return starts


def clip_anchor(clip_len: int, predicts: int = 0) -> int:
    """The frame of a clip that its score belongs to: the centre, clip_len // 2 (frame i + 8 for
    16-frame clips, as in the authors' code), or the last frame for a model that predicts it."""
    return clip_len - 1 if predicts else clip_len // 2


def frame_scores(
    clip_scores: np.ndarray, starts: list[int], n_frames: int, clip_len: int, predicts: int = 0
) -> np.ndarray:
    """Clip scores -> one score per frame. A clip's score belongs to its anchor frame
    (``clip_anchor``); frames between anchors are interpolated linearly, and the first and last
    frames, which are no clip's anchor, take the score of the nearest one. Labels stay aligned
    frame for frame."""
    anchors = np.asarray(starts) + clip_anchor(clip_len, predicts)
    return np.interp(np.arange(n_frames), anchors, np.asarray(clip_scores, dtype=float))


def scale_frames(frames: np.ndarray) -> np.ndarray:
    """uint8 frames -> float32 in [-1, 1], the paper's input range for video."""
    return frames.astype(np.float32) / 127.5 - 1.0


class ClipDataset(Dataset):
    """Every clip of ``clip_len`` frames, ``stride`` frames apart, of uint8 videos (t, h, w).

    Clips index into the decoded frames: nothing is copied or decoded again per clip.
    ``starts[v]`` lists the start frame of each clip of video v, in dataset order.
    """

    def __init__(self, videos: list[np.ndarray], clip_len: int = 16, stride: int = 1) -> None:
        if clip_len < 1 or stride < 1:
            raise InputError(f"clip length and stride must be >= 1, got {clip_len}, {stride}")
        self.videos = videos
        self.clip_len = clip_len
        self.starts: list[list[int]] = []
        for i, frames in enumerate(videos):
            if frames.ndim != 3:
                raise InputError(f"video {i} must be (t, h, w) frames, got {frames.shape}")
            try:
                self.starts.append(clip_starts(len(frames), clip_len, stride))
            except ValueError as exc:
                raise InputError(f"video {i}: {exc}") from None
        self.index = [(v, s) for v, starts in enumerate(self.starts) for s in starts]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> Tensor:
        v, s = self.index[i]
        clip = scale_frames(self.videos[v][s : s + self.clip_len])  # (T, H, W) in [-1, 1]
        return torch.from_numpy(clip).unsqueeze(0)  # (1, T, H, W)
