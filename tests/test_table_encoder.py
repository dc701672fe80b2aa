"""The fitted table encoder belongs to the model: a raw table scores the same through
``memae score``, through ``MemAEDetector.load(folder)`` on a pandas DataFrame, and through the
exported ONNX file; both CSV readers give the same float32 features."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from memae import CheckpointError, InputError, MemAEDetector
from memae.cli import main
from memae.data.encoder import TableEncoder
from memae.data.readers import TableLayout, read_data, read_table

pd = pytest.importorskip("pandas")


def _raw_table(path, n: int = 120, seed: int = 0) -> None:
    """pandas' own CSV: its unnamed index, an id, two numbers, a protocol, a flag, a label."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "host": [f"h{i:03d}" for i in range(n)],
            "bytes": rng.normal(100, 20, n).round(3),
            "protocol": rng.choice(["tcp", "udp", "icmp"], n),
            "duration": rng.exponential(2.0, n).round(4),
            "urgent": rng.choice([True, False], n),
            "attack": rng.choice(["normal", "smurf"], n, p=[0.9, 0.1]),
        }
    )
    frame.to_csv(path)


def _cli(*argv) -> None:
    assert main([str(a) for a in argv]) == 0


def _scores(path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["id"] for r in rows], np.array([float(r["score"]) for r in rows])


def test_a_loaded_model_scores_a_raw_dataframe_as_memae_score_scores_its_csv(tmp_path):
    _raw_table(tmp_path / "train.csv")
    _raw_table(tmp_path / "test.csv", n=40, seed=1)
    model = tmp_path / "m"
    _cli("train", tmp_path / "train.csv", "--out", model, "--one-hot", "--id-column", "host",
         "--label-column", "attack", "--epochs", 2, "--quiet")  # fmt: skip
    # scoring needs no flags: the id, label and text columns travel inside the model
    _cli("score", tmp_path / "test.csv", "--model", model, "--out", tmp_path / "s.csv")
    ids, cli_scores = _scores(tmp_path / "s.csv")
    raw = pd.read_csv(tmp_path / "test.csv")
    det = MemAEDetector.load(model)
    assert det.encoder_.id_column == "host" and det.encoder_.label_column == "attack"
    assert ids == raw["host"].tolist()
    lib_scores = det.decision_function(raw)
    np.testing.assert_allclose(lib_scores, cli_scores, rtol=1e-7)  # the CSV keeps 9 digits
    # the columns are taken by name: another order, and extra columns, change nothing
    shuffled = raw[list(raw.columns[::-1])].assign(note="x")
    np.testing.assert_array_equal(det.decision_function(shuffled), lib_scores)
    with pytest.raises(InputError, match="no column 'protocol' that the model was trained on"):
        det.decision_function(raw.drop(columns="protocol"))


def test_the_onnx_file_carries_the_encoder(tmp_path):
    pytest.importorskip("onnxruntime")
    from memae.onnx import OnnxDetector

    _raw_table(tmp_path / "train.csv")
    model = tmp_path / "m"
    _cli("train", tmp_path / "train.csv", "--out", model, "--one-hot", "--label-column",
         "attack", "--epochs", 1, "--quiet")  # fmt: skip
    _cli("export", model, "--out", tmp_path / "m.onnx")
    raw = pd.read_csv(tmp_path / "train.csv")
    onnx = OnnxDetector(tmp_path / "m.onnx")
    assert onnx.encoder_ == MemAEDetector.load(model).encoder_
    np.testing.assert_allclose(
        onnx.decision_function(raw), MemAEDetector.load(model).decision_function(raw), rtol=1e-5
    )
    _cli(
        "score", tmp_path / "train.csv", "--model", tmp_path / "m.onnx", "--out", tmp_path / "o.csv"
    )
    np.testing.assert_allclose(
        _scores(tmp_path / "o.csv")[1], onnx.decision_function(raw), rtol=1e-7
    )


def test_fit_on_a_dataframe_encodes_as_the_csv_reader_does(tmp_path):
    _raw_table(tmp_path / "t.csv", n=60)
    raw = pd.read_csv(tmp_path / "t.csv")
    features = raw.drop(columns=["Unnamed: 0", "host", "attack"])
    det = MemAEDetector(epochs=1, random_state=0).fit(features)
    loaded = read_data(tmp_path / "t.csv", one_hot=True, table=TableLayout(
        id_column="host", drop_columns=("attack",)))  # fmt: skip
    assert [c.name for c in det.encoder_.columns] == [c.name for c in loaded.encoding.columns]
    assert det.encoder_.columns == loaded.encoding.columns  # the same categories, sorted
    np.testing.assert_array_equal(det.encoder_.transform(features), loaded.X)
    det.save(tmp_path / "m")
    again = MemAEDetector.load(tmp_path / "m")
    assert again.encoder_ == det.encoder_
    np.testing.assert_array_equal(again.decision_function(raw), det.decision_function(features))
    # arrays go on as before: already encoded
    np.testing.assert_array_equal(det.decision_function(loaded.X), det.decision_function(raw))
    assert MemAEDetector(epochs=1).fit(loaded.X).encoder_ is None


def test_both_csv_readers_give_float32(tmp_path):
    pytest.importorskip("pyarrow")
    from memae.data.columnar import read_numeric

    X = np.random.default_rng(0).normal(size=(30, 4))
    (tmp_path / "t.csv").write_text(
        "a,b,c,d\n" + "\n".join(",".join(f"{v:.17g}" for v in r) for r in X) + "\n"
    )
    fast = read_numeric(tmp_path / "t.csv", None, TableLayout(), None)
    general = read_table(tmp_path / "t.csv")
    assert fast.X.dtype == general.X.dtype == np.float32
    np.testing.assert_array_equal(fast.X, general.X)
    assert fast.encoding == general.encoding


def test_a_numeric_model_still_scores_a_table_without_its_names(tmp_path):
    X = np.random.default_rng(0).normal(size=(50, 3))
    (tmp_path / "named.csv").write_text("a,b,c\n" + "\n".join(",".join(map(str, r)) for r in X))
    (tmp_path / "bare.csv").write_text("\n".join(",".join(map(str, r)) for r in X) + "\n")
    _cli("train", tmp_path / "named.csv", "--out", tmp_path / "m", "--epochs", 1, "--quiet")
    _cli("score", tmp_path / "bare.csv", "--model", tmp_path / "m", "--out", tmp_path / "s.csv")
    _cli("score", tmp_path / "named.csv", "--model", tmp_path / "m", "--out", tmp_path / "n.csv")
    np.testing.assert_array_equal(_scores(tmp_path / "s.csv")[1], _scores(tmp_path / "n.csv")[1])


def test_a_version_2_folder_takes_its_table_encoding_json(tmp_path):
    _raw_table(tmp_path / "t.csv", n=60)
    model = tmp_path / "m"
    _cli("train", tmp_path / "t.csv", "--out", model, "--one-hot", "--label-column", "attack",
         "--epochs", 1, "--quiet")  # fmt: skip
    config = json.loads((model / "config.json").read_text())
    encoder = config.pop("encoder")
    columns_only = {"columns": encoder["columns"]}  # what memae wrote beside version 2 folders
    (model / "config.json").write_text(json.dumps({**config, "format_version": 2}))
    (model / "table_encoding.json").write_text(json.dumps(columns_only))
    det = MemAEDetector.load(model)
    assert det.encoder_ == TableEncoder.from_dict(columns_only)
    raw = pd.read_csv(tmp_path / "t.csv")
    assert det.decision_function(raw).shape == (60,)
    (model / "table_encoding.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="table_encoding.json is corrupt"):
        MemAEDetector.load(model)


def test_a_v2_one_hot_model_scores_its_raw_table_as_it_did(tmp_path):
    """tests/fixtures/v2 (make_v2.py): saved by format v2, the encoding beside the model."""
    folder = Path(__file__).resolve().parent / "fixtures" / "v2" / "table_onehot"
    assert (folder / "model" / "table_encoding.json").exists()
    det = MemAEDetector.load(folder / "model")
    assert det.encoder_ is not None and det.encoder_.categorical
    _cli("score", folder / "test.csv", "--model", folder / "model", "--id-column", "host",
         "--out", tmp_path / "s.csv")  # fmt: skip
    ids, scores = _scores(tmp_path / "s.csv")
    saved_ids, saved = _scores(folder / "scores.csv")
    assert ids == saved_ids
    np.testing.assert_allclose(scores, saved, rtol=1e-6)
