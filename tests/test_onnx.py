"""ONNX export: the exported graph is the same detector. For every family and variant, with
error_sigma and error_top set, onnxruntime's scores match decision_function (rtol 1e-4, atol
1e-6) on real data, labels are equal, ROC AUC equal to 4 decimals, at batch sizes 1 and odd.

Hard shrinkage (Eq. 7) is discontinuous at its threshold: where an addressing weight lies
within 1e-5 of it, the 1e-7 by which two runtimes' convolutions differ can keep or drop that
slot. Such a sample may differ; every other sample may not, and at most 5% of a test set differ
at all (a diffuse 2-epoch memory has a weight that close in nearly every image, so an export
bug at the threshold still fails the bound)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import memae.memory
from conftest import shared_data
from memae import CheckpointError, InputError, MemAEDetector
from memae.cli import main
from memae.data.sample import load_mnist_sample

ort = pytest.importorskip("onnxruntime", reason="ONNX tests need pip install 'memae[onnx]'")
pytest.importorskip("onnx", reason="ONNX tests need pip install 'memae[onnx]'")
from memae.onnx import OnnxDetector, export  # noqa: E402

RTOL, ATOL = 1e-4, 1e-6
TIE = 1e-5  # an addressing weight this close to the shrinkage threshold is a tie
FAST = {"epochs": 2, "random_state": 0, "threads": 1, "lr": 3e-3}


def _digits(n_train: int = 300, n_test: int = 101):
    """Real digits: class 0 normal for training; a test set of 0s and other digits."""
    images, labels = load_mnist_sample()
    X = images.astype(np.float32) / 255.0
    normal = X[labels == 0]
    test = np.concatenate(
        [normal[n_train : n_train + n_test // 2], X[labels != 0][: n_test // 2 + 1]]
    )
    y = np.r_[np.zeros(n_test // 2), np.ones(n_test // 2 + 1)]
    return normal[:n_train], test, y


def _clips(digits: np.ndarray, t: int = 4) -> np.ndarray:
    """Clips of t consecutive real digits (frames), (n, 1, t, 28, 28)."""
    n = len(digits) - t + 1
    return np.stack([digits[i : i + t, 0] for i in range(n)])[:, None]


CASES = {
    "mlp-memae": ("memae", "vectors", {"error_top": 0.1}),
    "mlp-ae": ("ae", "vectors", {"error_top": 0.5}),
    "mlp-vae": ("vae", "vectors", {"error_top": 0.3}),
    "conv2d-memae": ("memae", "images", {"error_sigma": 1.0, "error_top": 0.05}),
    "conv3d-memae": (
        "memae",
        "clips",
        {"error_sigma": 1.0, "error_top": 0.05, "model_options": {"channels": [4, 8, 8, 8]}},
    ),
    "conv3d-memae-local": (
        "memae-local",
        "clips",
        {"error_top": 0.05, "model_options": {"channels": [4, 8, 8, 8]}},
    ),
    "conv3d-mnad": ("mnad", "clips", {"model_options": {"channels": [4, 8, 8, 8]}}),
    "pred-memae-pred": (
        "memae-pred",
        "clips",
        {"error_sigma": 1.0, "model_options": {"channels": [4, 8, 8], "context": 2}},
    ),
    "pred-memae-pred-ms": (
        "memae-pred-ms",
        "clips",
        {"model_options": {"channels": [4, 8, 8], "context": 3, "mem_slots": 12}},
    ),
    "pred-mnad-pred": (
        "mnad-pred",
        "clips",
        {"model_options": {"channels": [4, 8, 8], "context": 3}},
    ),
    "map-memae-map": ("memae-map", "images", {"error_sigma": 1.0, "error_top": 0.1}),
    "map-memae-map-block": (
        "memae-map",
        "images",
        {"error_top": 0.1, "model_options": {"channels": [8, 16], "memory_block": 2}},
    ),
    "unet-arnet": ("arnet", "images", {"error_sigma": 1.0, "error_top": 0.1}),
    "unet-arnet-mem": ("arnet-mem", "images", {"error_sigma": 1.0, "error_top": 0.1}),
}


def _data(kind: str):
    train, test, y = _digits()
    if kind == "vectors":
        return train.reshape(len(train), -1), test.reshape(len(test), -1), y
    if kind == "clips":
        return _clips(train[:120]), _clips(test), y[: len(test) - 3]
    return train, test, y


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _ties(det: MemAEDetector, x: np.ndarray) -> np.ndarray:
    """Per sample: whether any of its addressing weights lies within TIE of the threshold."""
    shrinks = [
        m.shrink_threshold for m in det.model_.modules() if isinstance(m, memae.memory.Memory)
    ]
    if not any(shrinks):
        return np.zeros(len(x), dtype=bool)
    gaps: list[float] = []
    shrink = memae.memory.hard_shrink

    def recording(w: torch.Tensor, threshold: float, *rest: float) -> torch.Tensor:
        gaps.append(float((w - threshold).abs().min()))
        return shrink(w, threshold, *rest)

    def gap(part: np.ndarray) -> float:
        gaps.clear()
        det.decision_function(part)
        return min(gaps)

    tied = np.zeros(len(x), dtype=bool)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(memae.memory, "hard_shrink", recording)
        parts = [np.arange(len(x))]  # halve the parts that hold a tie, down to single samples
        while parts:
            part = parts.pop()
            if gap(x[part]) >= TIE:
                continue
            if len(part) == 1:
                tied[part] = True
            else:
                parts += np.array_split(part, 2)
    return tied


def _close(actual: np.ndarray, desired: np.ndarray, tied: np.ndarray) -> np.ndarray:
    """Sample by sample within RTOL / ATOL, except a few samples at a shrinkage tie; -> the
    samples that differ."""
    np.testing.assert_allclose(actual[~tied], desired[~tied], rtol=RTOL, atol=ATOL)
    pairs = zip(actual, desired, strict=True)
    off = np.array([not np.allclose(a, d, rtol=RTOL, atol=ATOL) for a, d in pairs])
    assert off.sum() <= max(1, 0.05 * len(off)), f"{off.sum()} of {len(off)} tied samples differ"
    return off


def _parity(det: MemAEDetector, onnx_det: OnnxDetector, test: np.ndarray, y=None) -> None:
    tied = _ties(det, test)
    torch_scores = det.decision_function(test)
    onnx_scores = onnx_det.decision_function(test)
    same = ~_close(onnx_scores, torch_scores, tied)  # labels equal wherever the scores are
    np.testing.assert_array_equal(onnx_det.predict(test)[same], det.predict(test)[same])
    if y is not None:
        assert round(roc_auc_score(y, onnx_scores), 4) == round(roc_auc_score(y, torch_scores), 4)
    for n in (1, 7):  # batch sizes 1 and an odd number, straight through the session
        raw = onnx_det.session.run(["score"], {"input": test[:n].astype(np.float32)})[0]
        _close(raw, torch_scores[:n], tied[:n])
    if test.ndim >= 4:
        _close(onnx_det.error_maps(test), det.error_maps(test), tied)


@pytest.mark.parametrize("case", sorted(CASES))
def test_exported_model_scores_like_the_trained_one(case, tmp_path):
    variant, kind, scoring = CASES[case]
    train, test, y = _data(kind)
    det = MemAEDetector(variant, inference_batch_size=33, **FAST, **scoring).fit(train)
    path = det.export_onnx(tmp_path / "m.onnx")
    onnx_det = OnnxDetector(path)
    assert onnx_det.input_shape_ == det.input_shape_
    assert onnx_det.threshold_ == det.threshold_
    assert onnx_det.params["error_sigma"] == det.error_sigma
    _parity(det, onnx_det, test, y)


def test_memae_export_and_score_from_the_command_line(tmp_path, capsys):
    train, test, _ = _digits(200, 41)
    np.save(tmp_path / "train.npy", train)
    np.save(tmp_path / "test.npy", test)
    model, onnx_file = tmp_path / "model", tmp_path / "model.onnx"
    flags = ["--epochs", "2", "--threads", "1", "--error-sigma", "1", "--error-top", "0.05"]
    assert main(["train", str(tmp_path / "train.npy"), "--out", str(model), *flags, "--quiet"]) == 0
    assert main(["export", str(model), "--out", str(onnx_file)]) == 0
    assert "outputs score, label, error_map" in capsys.readouterr().out
    for name, source in (("torch.csv", model), ("onnx.csv", onnx_file)):
        argv = ["score", str(tmp_path / "test.npy"), "--model", str(source)]
        assert main([*argv, "--out", str(tmp_path / name)]) == 0
    rows = {n: _rows(tmp_path / n) for n in ("torch.csv", "onnx.csv")}
    a = np.array([float(r["score"]) for r in rows["torch.csv"]])
    b = np.array([float(r["score"]) for r in rows["onnx.csv"]])
    np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    assert [r["label"] for r in rows["torch.csv"]] == [r["label"] for r in rows["onnx.csv"]]
    code = main(["export", str(model), "--out", str(tmp_path / "model.bin")])
    assert code == 1 and "should end in .onnx" in capsys.readouterr().err


def test_a_video_is_streamed_through_onnxruntime_like_through_torch(tmp_path):
    from test_video import fit_clip_model, moving_square, write_video_file

    det = fit_clip_model(error_sigma=1.0, error_top=0.1)
    det.save(tmp_path / "model")
    export(det, tmp_path / "model.onnx")
    write_video_file(tmp_path / "cam.avi", moving_square(30, size=16, anomalous=range(12, 16)))
    for source, out in (("model", "t"), ("model.onnx", "o")):
        argv = ["score", str(tmp_path / "cam.avi"), "--model", str(tmp_path / source)]
        assert main([*argv, "--out", str(tmp_path / out), "--annotate"]) == 0
    torch_rows, onnx_rows = (_rows(tmp_path / f / "frame_scores.csv") for f in ("t", "o"))
    assert len(torch_rows) == len(onnx_rows) == 30
    np.testing.assert_allclose(
        [float(r["score"]) for r in onnx_rows],
        [float(r["score"]) for r in torch_rows],
        rtol=RTOL,
        atol=ATOL,
    )
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == sorted(
        p.name for p in (tmp_path / "t").iterdir()
    )


def test_foreign_corrupt_and_unexported_files_are_refused_in_one_line(tmp_path, blobs):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "foreign.onnx")
    with pytest.raises(CheckpointError, match="not one memae exported"):
        OnnxDetector(tmp_path / "foreign.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable ONNX model") as err:
        OnnxDetector(tmp_path / "junk.onnx")
    assert "\n" not in str(err.value)
    with pytest.raises(CheckpointError, match="not an ONNX file"):
        OnnxDetector(tmp_path / "missing.onnx")
    det = MemAEDetector(**FAST).fit(blobs[0])
    export(det, tmp_path / "ok.onnx")
    with pytest.raises(InputError, match="4 features, but OnnxDetector is expecting 6"):
        OnnxDetector(tmp_path / "ok.onnx").decision_function(np.zeros((3, 4), np.float32))


def test_without_onnx_installed_export_says_what_to_install(monkeypatch, blobs, tmp_path):
    import builtins

    real = builtins.__import__

    def no_onnx(name, *args, **kw):
        if name.split(".")[0] in ("onnx", "onnxruntime"):
            raise ImportError(name)
        return real(name, *args, **kw)

    det = MemAEDetector(**FAST).fit(blobs[0])
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(InputError, match=r"pip install 'memae\[onnx\]'"):
        export(det, tmp_path / "m.onnx")
    with pytest.raises(InputError, match=r"pip install 'memae\[onnx\]'"):
        OnnxDetector(tmp_path / "m.onnx")


def test_parity_on_odds_and_kdd_rows(tmp_path):
    from memae.data.readers import read_data

    thyroid = read_data(shared_data("odds/thyroid.mat"))
    X, y = thyroid.X.astype(np.float32), thyroid.y
    det = MemAEDetector(**FAST, error_top=0.5).fit(X[y == 0][:2000])
    _parity(det, OnnxDetector(export(det, tmp_path / "odds.onnx")), X, y)
    with np.load(shared_data("kddcup99/kdd_cup.npz")) as z:
        kdd = z["kdd"][:6000]
    Xk, yk = kdd[:, :-1].astype(np.float32), kdd[:, -1]
    det = MemAEDetector(**FAST).fit(Xk[yk == 1][:3000])
    _parity(det, OnnxDetector(export(det, tmp_path / "kdd.onnx")), Xk, (yk == 0).astype(int))


def test_parity_on_ped2_clips(tmp_path):
    from memae.bench.video import load_video_dataset
    from memae.data.clips import ClipDataset

    data = load_video_dataset(shared_data("ucsd_ped2"), (32, 32))
    train = ClipDataset([v.frames[:40] for v in data.train[:2]], 8, 4)
    clips = np.stack([train[i].numpy() for i in range(len(train))])
    det = MemAEDetector(
        **FAST, error_sigma=1.0, error_top=0.05, model_options={"channels": [4, 8, 8, 8]}
    ).fit(clips)
    test = ClipDataset([data.test[0].frames[:24]], 8, 2)
    _parity(
        det,
        OnnxDetector(export(det, tmp_path / "ped2.onnx")),
        np.stack([test[i].numpy() for i in range(len(test))]),
    )
