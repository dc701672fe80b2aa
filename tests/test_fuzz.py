"""Every reader fuzzed: random bytes, truncations and byte mutations of valid files load
correctly or end in one memae error naming the file (never another exception, never a hang);
the valid files themselves must load.

The default run tries FUZZ_CASES cases per format (about half a minute in all); ``-m slow`` runs
test_fuzz_long with FUZZ_LONG_CASES each. docs/notes/reliability.md records the counts.
"""

import gzip
import io
import struct

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from memae import MemAEDetector
from memae.data.readers import read_data
from memae.data.video import read_video_file, write_video_file
from memae.errors import MemAEError

FUZZ_CASES = 25
FUZZ_LONG_CASES = 400


def _csv() -> bytes:
    return b"a,b,c\n1,2,3\n4.5,5,6\n7,8,9e-3\n"


def _npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(12, dtype=np.float32).reshape(4, 3))
    return buf.getvalue()


def _npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, X=np.ones((4, 3)), y=np.arange(4))
    return buf.getvalue()


def _mat5() -> bytes:
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"X": np.ones((4, 3)), "y": np.arange(4)[:, None]})
    return buf.getvalue()


def _mat73(tmp) -> bytes:
    with h5py.File(tmp / "seed73.mat", "w") as f:
        f["X"] = np.ones((3, 4))
    return (tmp / "seed73.mat").read_bytes()


def _idx() -> bytes:
    arr = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    return gzip.compress(bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 3, 3) + arr.tobytes())


def _parquet() -> bytes:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.table({"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]}), buf)
    return buf.getvalue()


def _png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def _avi(tmp) -> bytes:
    frames = np.tile(np.arange(16, dtype=np.uint8) * 10, (6, 16, 1))
    write_video_file(tmp / "seed.avi", frames)
    return (tmp / "seed.avi").read_bytes()


def _model(tmp) -> dict[str, bytes]:
    det = MemAEDetector(epochs=1, random_state=0).fit(np.random.default_rng(0).normal(size=(30, 3)))
    det.save(tmp / "seed_model")
    return {p.name: p.read_bytes() for p in (tmp / "seed_model").iterdir()}


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """Random bytes, a truncation, or a few bytes of ``seed`` replaced."""
    truncated = st.integers(0, max(0, len(seed) - 1)).map(lambda n: seed[:n])
    flips = st.lists(
        st.tuples(st.integers(0, max(0, len(seed) - 1)), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    )

    def flip(changes):
        data = bytearray(seed)
        for i, value in changes:
            data[i] = value
        return bytes(data)

    noise = st.binary(max_size=min(2 * len(seed) + 16, 1024))  # hypothesis caps its buffer
    return st.one_of(noise, truncated, flips.map(flip))


def reads_or_refuses(call) -> str:
    """-> "ok" or "refused"; anything else than a memae error fails the test."""
    try:
        call()
    except MemAEError as exc:
        assert "\n" not in str(exc).strip(), str(exc)
        return "refused"
    return "ok"


FORMATS = {
    "table.csv": lambda tmp: _csv(),
    "array.npy": lambda tmp: _npy(),
    "arrays.npz": lambda tmp: _npz(),
    "odds.mat": lambda tmp: _mat5(),
    "v73.mat": _mat73,
    "images-idx3-ubyte.gz": lambda tmp: _idx(),
    "table.parquet": lambda tmp: _parquet(),
}
COUNTS: dict[str, dict[str, int]] = {}


def _fuzz_file(name, tmp, cases):
    seed = FORMATS[name](tmp)
    path = tmp / name
    path.write_bytes(seed)
    assert reads_or_refuses(lambda: read_data(path)) == "ok", f"the valid {name} was refused"

    @settings(
        max_examples=cases, deadline=5000, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(mutations(seed))
    def check(data):
        path.write_bytes(data)
        outcome = reads_or_refuses(lambda: read_data(path))
        COUNTS.setdefault(name, {}).setdefault(outcome, 0)
        COUNTS[name][outcome] += 1

    check()
    print(f"fuzz {name}: {COUNTS[name]}")  # run with -s to see the counts


@pytest.mark.parametrize("name", list(FORMATS))
def test_fuzz_data_files(name, tmp_path):
    _fuzz_file(name, tmp_path, FUZZ_CASES)


def test_fuzz_image_folders_videos_and_model_folders(tmp_path):
    _fuzz_folders(tmp_path, FUZZ_CASES)


@pytest.mark.slow
def test_fuzz_folders_long(tmp_path):
    _fuzz_folders(tmp_path, FUZZ_LONG_CASES)


def _fuzz_folders(tmp_path, cases):
    png, avi, model = _png(), _avi(tmp_path), _model(tmp_path)
    (tmp_path / "folder" / "a").mkdir(parents=True)
    (tmp_path / "folder" / "a" / "ok.png").write_bytes(png)
    (tmp_path / "m").mkdir()
    for fname, content in model.items():
        (tmp_path / "m" / fname).write_bytes(content)
    (tmp_path / "v.avi").write_bytes(avi)
    valid = {  # a reader that refused everything would pass the fuzzing: these must load
        "image folder": lambda: read_data(tmp_path / "folder"),
        "video.avi": lambda: read_video_file(tmp_path / "v.avi"),
        "model folder": lambda: MemAEDetector.load(tmp_path / "m"),
    }
    for what, call in valid.items():
        assert reads_or_refuses(call) == "ok", f"the valid {what} was refused"

    @settings(
        max_examples=cases,
        deadline=5000,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutations(png), mutations(avi), st.sampled_from(sorted(model)), st.data())
    def check(png_bytes, avi_bytes, which, data):
        (tmp_path / "folder" / "a" / "x.png").write_bytes(png_bytes)
        count("image folder", reads_or_refuses(lambda: read_data(tmp_path / "folder")))
        (tmp_path / "v.avi").write_bytes(avi_bytes)
        count("video.avi", reads_or_refuses(lambda: read_video_file(tmp_path / "v.avi")))
        for name, content in model.items():
            (tmp_path / "m" / name).write_bytes(content)
        (tmp_path / "m" / which).write_bytes(data.draw(mutations(model[which])))
        count("model folder", reads_or_refuses(lambda: MemAEDetector.load(tmp_path / "m")))

    def count(name, outcome):
        COUNTS.setdefault(name, {}).setdefault(outcome, 0)
        COUNTS[name][outcome] += 1

    check()
    for name in ("image folder", "video.avi", "model folder"):
        print(f"fuzz {name}: {COUNTS[name]}")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FORMATS))
def test_fuzz_long(name, tmp_path):
    _fuzz_file(name, tmp_path, FUZZ_LONG_CASES)
