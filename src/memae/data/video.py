"""Video sources for clip-based detection: frame folders, the UCSD, Avenue and ShanghaiTech
layouts, and video files (.avi/.mp4/...) decoded with PyAV (FFmpeg's libraries, shipped inside
the wheel, so nothing else needs installing).

Every video is decoded once into a uint8 array (t, h, w): grayscale, resized to the requested
size. Clips are then views into that array, never re-decoded.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from .readers import IMAGE_SUFFIXES

VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".mpg", ".mpeg", ".webm", ".m4v"}


@dataclass
class Video:
    """One video: frames (t, h, w) uint8; labels (t,) 1 = anomalous frame; masks (t, h, w)."""

    name: str
    frames: np.ndarray
    labels: np.ndarray | None = None
    masks: np.ndarray | None = None


@dataclass
class VideoDataset:
    name: str
    train: list[Video] = field(default_factory=list)
    test: list[Video] = field(default_factory=list)


def _natural(path: Path) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _image_files(folder: Path) -> list[Path]:
    files = sorted(
        (p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_natural
    )
    if not files:
        raise InputError(f"{folder} holds no frames ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def _frame_dirs(folder: Path) -> list[Path]:
    """Videos in a folder: frame sub-folders (UCSD's *_gt mask folders excluded) and files."""
    return sorted(
        (
            p
            for p in folder.iterdir()
            if (p.is_dir() and not p.name.endswith("_gt")) or p.suffix.lower() in VIDEO_SUFFIXES
        ),
        key=_natural,
    )


def _gray(path: Path, size: tuple[int, int] | None, resample=Image.BILINEAR) -> np.ndarray:
    try:
        with Image.open(path) as im:
            im = im.convert("L")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), resample)
            return np.asarray(im, dtype=np.uint8)
    except OSError as exc:
        raise InputError(f"cannot read frame {path}: {exc}") from None


def read_frame_folder(folder: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Sorted image files of a folder -> (t, h, w) uint8 grayscale."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"frame folder {folder} does not exist")
    frames = list(iter_frames(folder, size))
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise InputError(f"{folder}: frames differ in size {sorted(shapes)}; give a size")
    return np.stack(frames)


def read_mask_folder(folder: Path, size: tuple[int, int]) -> np.ndarray:
    """Pixel masks (any image format, non-zero = anomalous) -> (t, h, w) bool."""
    return np.stack([_gray(p, size, Image.NEAREST) > 127 for p in _image_files(folder)])


def read_video_file(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a video file -> (t, h, w) uint8 grayscale."""
    return np.stack(list(iter_video_file(path, size)))


def iter_video_file(
    path: str | os.PathLike, size: tuple[int, int] | None = None
) -> Iterator[np.ndarray]:
    """Frames of a video file one at a time (h, w) uint8, for streaming long inputs."""
    for im in iter_source_images(path):
        yield model_frame(im, size)


def model_frame(im: Image.Image, size: tuple[int, int] | None) -> np.ndarray:
    """A source image -> the (h, w) uint8 grayscale frame a clip model reads."""
    im = im.convert("L")
    if size is not None and im.size != (size[1], size[0]):
        im = im.resize((size[1], size[0]), Image.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def iter_source_images(path: str | os.PathLike) -> Iterator[Image.Image]:
    """The frames of a video file or a frame folder as they are (size, colour), one at a time."""
    path = Path(path)
    if path.is_dir():
        for p in _image_files(path):
            try:
                with Image.open(p) as im:
                    frame = im.copy()
                yield frame
            except OSError as exc:
                raise InputError(f"cannot read frame {p}: {exc}") from None
        return
    import av

    if not path.is_file():
        raise InputError(f"video file {path} does not exist")
    count = 0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise InputError(f"{path} has no video stream")
            for frame in container.decode(video=0):
                count += 1
                yield frame.to_image()
    except av.error.FFmpegError as exc:
        raise InputError(f"cannot decode video {path}: {exc}") from None
    if count == 0:
        raise InputError(f"{path} holds no decodable frames")


def frame_rate(path: str | os.PathLike, default: float = 25.0) -> float:
    """A video file's frame rate; ``default`` for frame folders (they carry none)."""
    path = Path(path)
    if path.is_dir():
        return default
    import av

    try:
        with av.open(str(path)) as container:
            rate = container.streams.video[0].average_rate if container.streams.video else None
    except av.error.FFmpegError:
        return default
    return float(rate) if rate else default


class VideoWriter:
    """Frames (h, w) or (h, w, 3) uint8, one at a time, into an .avi (MJPEG) or .mp4 file."""

    def __init__(self, path: str | os.PathLike, fps: float = 25) -> None:
        import av

        self.path = Path(path)
        self.fps = fps
        self._av = av
        self._container = av.open(str(self.path), "w")
        self._stream = None

    def write(self, frame: np.ndarray) -> None:
        rgb = frame if frame.ndim == 3 else np.repeat(frame[..., None], 3, axis=2)
        if self._stream is None:
            mjpeg = self.path.suffix.lower() == ".avi"
            rate = Fraction(self.fps).limit_denominator(1001)
            self._stream = self._container.add_stream("mjpeg" if mjpeg else "mpeg4", rate=rate)
            self._stream.height, self._stream.width = (d - d % 2 for d in rgb.shape[:2])
            self._stream.pix_fmt = "yuvj420p" if mjpeg else "yuv420p"
        h, w = self._stream.height, self._stream.width  # yuv420 needs even sizes
        frame_av = self._av.VideoFrame.from_ndarray(
            np.ascontiguousarray(rgb[:h, :w]), format="rgb24"
        )
        for packet in self._stream.encode(frame_av):
            self._container.mux(packet)

    def close(self) -> None:
        if self._stream is not None:
            for packet in self._stream.encode():
                self._container.mux(packet)
        self._container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_video_file(path: str | os.PathLike, frames: np.ndarray, fps: int = 25) -> None:
    """Frames (t, h, w) or (t, h, w, 3) uint8 -> an .avi (MJPEG) or .mp4 (MPEG-4) file."""
    with VideoWriter(path, fps) as writer:
        for f in frames:
            writer.write(f)


def iter_frames(
    path: str | os.PathLike, size: tuple[int, int] | None = None
) -> Iterator[np.ndarray]:
    """Frames of a frame folder or a video file, one at a time (h, w) uint8."""
    path = Path(path)
    if path.is_dir():
        for p in _image_files(path):
            yield _gray(p, size)
    elif path.suffix.lower() in VIDEO_SUFFIXES:
        yield from iter_video_file(path, size)
    else:
        raise InputError(f"{path} is neither a frame folder nor a video file")


def list_videos(path: str | os.PathLike) -> list[tuple[str, Path]]:
    """A video file, a folder of frames, or a folder of such: -> (name, path) per video."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_file():
        return [(path.stem, path)]
    if any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
        return [(path.name, path)]
    entries = _frame_dirs(path)
    if not entries:
        raise InputError(f"{path} holds no frames, frame folders or video files")
    return [(p.stem if p.is_file() else p.name, p) for p in entries]


def read_video(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """A frame folder or a video file -> (t, h, w) uint8."""
    path = Path(path)
    if path.is_dir():
        return read_frame_folder(path, size)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        return read_video_file(path, size)
    raise InputError(
        f"{path} is neither a frame folder nor a video file ({', '.join(sorted(VIDEO_SUFFIXES))})"
    )


# ----------------------------------------------------------------------------- layouts
def _split_labels(flat: np.ndarray, lengths: list[int], source: Path) -> list[np.ndarray]:
    flat = np.asarray(flat).reshape(-1).astype(int)
    if len(flat) != sum(lengths):
        raise InputError(
            f"{source} has {len(flat)} frame labels but the test videos have {sum(lengths)} frames"
        )
    return np.split(flat, np.cumsum(lengths)[:-1])


def _ranges_to_labels(gt: np.ndarray, lengths: list[int], source: Path) -> list[np.ndarray]:
    """``gt``: one [start, end] 1-based inclusive range list per video (ped2.mat style)."""
    cells = list(np.asarray(gt, dtype=object).reshape(-1))
    if len(cells) != len(lengths):
        raise InputError(f"{source} has ranges for {len(cells)} videos, not {len(lengths)}")
    out = []
    for cell, n in zip(cells, lengths, strict=True):
        labels = np.zeros(n, int)
        ranges = np.asarray(cell, dtype=float).reshape(2, -1)  # 2 x k: starts, ends
        for start, end in ranges.T:
            labels[int(start) - 1 : int(end)] = 1
        out.append(labels)
    return out


def _frame_labels(root: Path, videos: list[Video]) -> None:
    """Attach frame labels from a frame_labels_*.npy, a *.mat of ranges or per-video .npy."""
    lengths = [len(v.frames) for v in videos]
    per_video = root / "testing" / "test_frame_mask"  # ShanghaiTech
    npys = sorted(root.glob("frame_labels*.npy"))
    mats = sorted(p for p in root.glob("*.mat"))
    if per_video.is_dir():
        for v in videos:
            f = per_video / f"{v.name}.npy"
            if not f.is_file():
                raise InputError(f"missing frame labels {f}")
            labels = np.load(f, allow_pickle=False).reshape(-1).astype(int)
            if len(labels) != len(v.frames):
                raise InputError(f"{f} has {len(labels)} labels for {len(v.frames)} frames")
            v.labels = labels
        return
    if npys:
        labels = _split_labels(np.load(npys[0], allow_pickle=False), lengths, npys[0])
    elif mats:
        import scipy.io

        try:
            content = scipy.io.loadmat(mats[0])
        except (ValueError, NotImplementedError) as exc:
            raise InputError(f"cannot read {mats[0]}: {exc}") from None
        if "gt" not in content:
            raise InputError(f"{mats[0]} has no 'gt' ranges")
        labels = _ranges_to_labels(content["gt"], lengths, mats[0])
    else:
        return
    for v, lab in zip(videos, labels, strict=True):
        v.labels = lab


def _videos_in(folder: Path, size: tuple[int, int] | None) -> list[Video]:
    """Sub-folders of frames, or video files, of a folder (natural order)."""
    if not folder.is_dir():
        raise InputError(f"{folder} does not exist")
    entries = _frame_dirs(folder)
    if not entries:
        raise InputError(f"{folder} holds no videos (frame folders or video files)")
    return [Video(p.stem if p.is_file() else p.name, read_video(p, size)) for p in entries]


def load_video_dataset(
    root: str | os.PathLike, size: tuple[int, int] | None = (256, 256)
) -> VideoDataset:
    """Recognises the layout under ``root``:

    - frames: ``training/frames/<video>/``, ``testing/frames/<video>/`` (Ped2, Avenue as
      commonly distributed), optional ``testing/masks/<video>/`` and labels
      ``frame_labels_*.npy`` (test videos concatenated) or a ``*.mat`` with ``gt`` ranges;
      ShanghaiTech: ``testing/test_frame_mask/<video>.npy``; ``training/videos/*.avi`` also;
    - UCSD original: ``Train/Train001/*.tif``, ``Test/Test001/``, masks ``Test/Test001_gt/``.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"video data folder {root} does not exist")
    ucsd = next((d for d in (root, *root.glob("UCSDped*")) if (d / "Train").is_dir()), None)
    if ucsd is not None:
        train = _videos_in(ucsd / "Train", size)
        test = _videos_in(ucsd / "Test", size)
        for v in test:
            gt = ucsd / "Test" / f"{v.name}_gt"
            if gt.is_dir():
                v.masks = read_mask_folder(gt, v.frames.shape[1:])
                if len(v.masks) != len(v.frames):
                    raise InputError(f"{gt} has {len(v.masks)} masks for {len(v.frames)} frames")
                v.labels = v.masks.reshape(len(v.masks), -1).any(1).astype(int)
        return VideoDataset(ucsd.name, train, test)
    train_dir = next(
        (d for d in (root / "training" / "frames", root / "training" / "videos") if d.is_dir()),
        None,
    )
    test_dir = root / "testing" / "frames"
    if train_dir is None or not test_dir.is_dir():
        raise InputError(
            f"{root}: unknown video layout (expected training/frames and "
            "testing/frames, or UCSD's Train and Test)"
        )
    data = VideoDataset(root.name, _videos_in(train_dir, size), _videos_in(test_dir, size))
    masks = root / "testing" / "masks"
    for v in data.test:
        if (masks / v.name).is_dir():
            v.masks = read_mask_folder(masks / v.name, v.frames.shape[1:])
            if len(v.masks) != len(v.frames):
                raise InputError(f"{masks / v.name}: {len(v.masks)} masks, {len(v.frames)} frames")
    _frame_labels(root, data.test)
    return data
