import gzip
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import scipy.io
import torch

from conftest import shared_data
from memae import InputError, MemAEDetector
from memae.bench import tabular
from memae.bench.baselines import pyod_available
from memae.bench.budgets import BUDGETS
from memae.bench.common import make_detector
from memae.bench.tabular import TabularBench, kdd_table, run
from memae.data.protocols import inlier_split, kdd_split
from memae.data.tabular import read_kddcup_npz, read_kddcup_raw, read_odds
from memae.faults import KILL_AT
from memae.metrics import top_fraction_threshold


def kdd_line(rng, label):
    nums = [str(round(v, 2)) for v in rng.random(38) * (3 if label == "normal." else 1)]
    proto = rng.choice(["tcp", "udp", "icmp"])
    service = rng.choice(["http", "smtp", "ftp", "ecr_i"])
    flag = rng.choice(["SF", "S0"])
    return ",".join([nums[0], proto, service, flag, *nums[1:], label])


def write_kdd(folder, n=400):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    labels = ["normal." if i % 5 == 0 else "smurf." for i in range(n)]
    text = "\n".join(kdd_line(rng, lab) for lab in labels) + "\n"
    with gzip.open(folder / "kddcup.data_10_percent.gz", "wt") as fh:
        fh.write(text)
    data = read_kddcup_raw(folder / "kddcup.data_10_percent.gz")
    np.savez(folder / "kdd_cup.npz", kdd=np.hstack([data.X, data.y[:, None]]))
    return folder


def test_kdd_raw_reader_one_hot_width_and_labels(tmp_path):
    data = read_kddcup_raw(write_kdd(tmp_path / "kdd") / "kddcup.data_10_percent.gz")
    n_cats = 3 + 4 + 2
    assert data.X.shape == (400, 38 + n_cats)
    assert data.y.sum() == 80  # "normal." records are the anomalies of this protocol
    proto = [i for i, c in enumerate(data.columns) if c.startswith("protocol_type=")]
    assert (data.X[:, proto].sum(1) == 1).all()
    npz = read_kddcup_npz(tmp_path / "kdd" / "kdd_cup.npz")
    np.testing.assert_array_equal(npz.X, data.X)


def test_kdd_reader_errors(tmp_path):
    (tmp_path / "k.gz").write_bytes(gzip.compress(b"1,tcp,http\n"))
    with pytest.raises(InputError, match="3 fields"):
        read_kddcup_raw(tmp_path / "k.gz")
    (tmp_path / "bad.gz").write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read"):
        read_kddcup_raw(tmp_path / "bad.gz")


def test_real_kdd_width_is_118():
    path = shared_data("kddcup99/kdd_cup.npz")
    data = read_kddcup_npz(path)
    assert data.X.shape == (494021, 118) and data.y.sum() == 97278


def test_kdd_split_trains_on_the_normal_class_of_one_half():
    y = np.r_[np.zeros(800, int), np.ones(200, int)]
    train, test = kdd_split(y, seed=3)
    assert len(test) == 500 and not set(train) & set(test)
    assert (y[train] == 0).all() and 350 < len(train) < 450
    assert 0 < y[test].mean() < 0.3
    again, _ = kdd_split(y, seed=3)
    np.testing.assert_array_equal(train, again)


def test_top_20_percent_are_flagged():
    scores = np.random.default_rng(0).random(1000)
    assert (scores > top_fraction_threshold(scores, 0.2)).sum() == 200


def test_inlier_split():
    y = np.r_[np.zeros(100, int), np.ones(10, int)]
    train, test = inlier_split(y, seed=0)
    assert len(train) == 60 and (y[train] == 0).all()
    assert len(test) == 50 and y[test].sum() == 10


def test_scaling_is_fitted_on_training_rows_only():
    from memae.fitting import split_indices

    X = np.arange(40, dtype=float).reshape(20, 2) * [1, 10]
    det = MemAEDetector("ae", epochs=1, validation_fraction=0.5, random_state=0).fit(X)
    held_out, train = split_indices(20, 0.5, torch.Generator().manual_seed(0))
    assert X[held_out.numpy()].min(0).tolist() != X[train.numpy()].min(0).tolist()
    lo, hi = X[train.numpy()].min(0), X[train.numpy()].max(0)
    np.testing.assert_allclose(det.scaler_.offset.numpy(), lo)
    np.testing.assert_allclose(det.scaler_.scale.numpy(), 1 / (hi - lo), rtol=1e-6)


def write_odds(folder):
    rng = np.random.default_rng(0)
    folder.mkdir()
    X = np.r_[rng.normal(0, 1, (80, 4)), rng.normal(4, 1, (8, 4))]
    y = np.r_[np.zeros(80), np.ones(8)][:, None]
    scipy.io.savemat(folder / "small.mat", {"X": X, "y": y})
    with h5py.File(folder / "v73.mat", "w") as f:
        f["X"] = X[:, :3].T
        f["y"] = y.T
    return folder


def test_odds_reader(tmp_path):
    data = read_odds(write_odds(tmp_path / "odds") / "v73.mat")
    assert data.X.shape == (88, 3) and data.y.sum() == 8


def test_bench_kdd_end_to_end_and_resume(tmp_path):
    bench = TabularBench(
        write_kdd(tmp_path / "kdd"),
        tmp_path / "out",
        dataset="kddcup99",
        models=["ocsvm", "ae", "memae"],
        runs=2,
        epochs=2,
        batch_size=64,
    )
    table = run(bench)
    assert len(table.rows) == 2 * 2 * 3  # sources x runs x models
    header = (tmp_path / "out" / "results.csv").read_text().splitlines()[0].split(",")
    for col in ("dataset", "model", "run", "precision", "recall", "f1", "auc"):
        assert col in header
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## raw" in md and "## npz" in md and "| memae |" in md
    before = (tmp_path / "out" / "results.csv").read_text()
    run(bench)
    assert (tmp_path / "out" / "results.csv").read_text() == before


def test_a_killed_bench_resumes_its_fit_to_the_row_of_an_uninterrupted_one(tmp_path):
    folder = write_kdd(tmp_path / "kdd")

    def bench(out, *extra, kill_at=None):
        env = {k: v for k, v in os.environ.items() if k != KILL_AT} | {"OMP_NUM_THREADS": "1"}
        if kill_at:
            env[KILL_AT] = kill_at
        argv = [sys.executable, "-m", "memae.cli", "bench", "tabular", "--dataset", "kddcup99"]
        argv += ["--data-dir", str(folder), "--out", str(out), "--models", "memae", "--runs"]
        argv += ["1", "--sources", "npz", "--batch-size", "32", "--epochs", "4", *extra]
        return subprocess.run(argv, env=env, capture_output=True, text=True)

    def row(out):
        return kdd_table(out / "results.csv").rows[0]

    assert bench(tmp_path / "whole").returncode == 0
    out = tmp_path / "out"
    killed = bench(out, kill_at="epoch 3 batch 2")  # SIGKILL inside the third epoch
    assert killed.returncode == -9 and not (out / "results.csv").exists()
    assert len(list((out / "state").iterdir())) == 1  # the fit's state after two epochs
    resumed = bench(out)
    assert resumed.returncode == 0, resumed.stderr
    whole, again = row(tmp_path / "whole"), row(out)
    # epoch 1's state at least (a tiny fit saves only as often as costs ~1% of its time)
    assert whole["resumed_epochs"] == "0" and again["resumed_epochs"] in ("1", "2")
    for k in ("best_val_loss", "precision", "recall", "f1", "auc", "best_epoch"):
        assert again[k] == whole[k], k  # best_val_loss: the training, to 6 digits
    assert not any((out / "state").iterdir())  # removed once the row is in

    # the state of other settings is of no use to a fit: it starts over, and says so
    other = tmp_path / "other"
    assert bench(other, kill_at="epoch 3 batch 2").returncode == -9
    fresh = bench(other, "--lr", "0.01")
    assert fresh.returncode == 0, fresh.stderr
    assert "starting the fit over" in fresh.stderr and row(other)["resumed_epochs"] == "0"


def test_bench_kdd_code_protocol_thresholds_over_training_and_test_scores(tmp_path):
    folder = write_kdd(tmp_path / "kdd")
    common = dict(dataset="kddcup99", models=["ocsvm"], runs=1, sources=["npz"])
    run(TabularBench(folder, tmp_path / "out", **common))
    csv_path = tmp_path / "out" / "results.csv"
    # a table written before the protocol column existed resumes as protocol "paper"
    lines = [line.split(",") for line in csv_path.read_text().splitlines()]
    col = lines[0].index("protocol")
    csv_path.write_text("\n".join(",".join(r[:col] + r[col + 1 :]) for r in lines) + "\n")
    old = run(TabularBench(folder, tmp_path / "out", **common)).rows
    assert len(old) == 1 and old[0]["protocol"] == "paper"

    row = run(TabularBench(folder, tmp_path / "out", protocol="code", **common)).select(
        protocol="code"
    )[0]
    data = read_kddcup_npz(folder / "kdd_cup.npz")
    train, test = inlier_split(data.y, seed=0, train_share=0.5)
    assert int(row["n_train"]) == len(train) == 160 and int(row["n_test"]) == 160 + 80
    det = make_detector("ocsvm", 0, {}, "cpu").fit(data.X[train])
    scores = det.decision_function(data.X[test])
    pool = np.r_[det.decision_function(data.X[train]), scores]
    flagged = scores > top_fraction_threshold(pool, 0.2)
    precision = (flagged & (data.y[test] == 1)).sum() / flagged.sum()
    assert float(row["precision"]) == pytest.approx(precision, abs=1e-5)
    assert flagged.mean() != pytest.approx(0.2)  # the test set alone is not cut at 20%
    md = (tmp_path / "out" / "results.md").read_text()
    assert "code: the widely copied public DAGMM code" in md


def test_bench_odds_end_to_end(tmp_path):
    bench = TabularBench(
        write_odds(tmp_path / "odds"),
        tmp_path / "out",
        suite="odds",
        models=["ae", "memae"],
        seeds=[0, 1],
        epochs=2,
    )
    table = run(bench)
    assert len(table.rows) == 2 * 2 * 2
    assert {"dataset", "model", "seed", "auc"} <= set(table.rows[0])
    assert "| **mean** |" in (tmp_path / "out" / "results.md").read_text()


def test_each_table_preset_trains_a_model_for_its_own_budget(tmp_path, monkeypatch):
    """KDDCUP99 and every ODDS table give each model its own epochs (BUDGETS), not one
    preset's for every model; a model without one keeps the preset's, --epochs beats both."""
    monkeypatch.setitem(tabular.ODDS_TRAINING, "epochs", 3)
    monkeypatch.setitem(BUDGETS, "odds-small", {"ae": 4})
    monkeypatch.setitem(BUDGETS, "odds-v73", {"memae": 5})
    monkeypatch.setitem(BUDGETS, "kddcup99", {"memae": 2})
    odds = TabularBench(write_odds(tmp_path / "odds"), tmp_path / "o", suite="odds",
                        models=["ae", "memae"], seeds=[0])  # fmt: skip
    epochs = {(r["dataset"], r["model"]): int(r["epochs"]) for r in run(odds).rows}
    assert epochs == {("small", "ae"): 4, ("small", "memae"): 3, ("v73", "ae"): 3,
                      ("v73", "memae"): 5}  # fmt: skip
    kdd = TabularBench(write_kdd(tmp_path / "kdd"), tmp_path / "k", dataset="kddcup99",
                       models=["ae", "memae", "memae:epochs=1"], runs=1, sources=["npz"],
                       batch_size=64)  # fmt: skip
    epochs = {r["model"]: int(r["epochs"]) for r in run(kdd).rows}
    assert epochs == {"ae": 3, "memae": 2, "memae:epochs=1": 1}  # a spec's own epochs win
    assert "{'memae': 2} (chosen on training loss)" in (tmp_path / "k" / "results.md").read_text()
    given = TabularBench(tmp_path / "odds", tmp_path / "g", suite="odds", models=["ae"],
                         seeds=[0], epochs=2)  # fmt: skip
    assert {int(r["epochs"]) for r in run(given).rows} == {2}


def test_bench_tabular_errors(tmp_path):
    with pytest.raises(InputError, match="either"):
        run(TabularBench(tmp_path, tmp_path / "o"))
    with pytest.raises(InputError, match="no ODDS"):
        run(TabularBench(tmp_path, tmp_path / "o", suite="odds"))
    with pytest.raises(InputError, match="unknown protocol"):
        run(TabularBench(tmp_path, tmp_path / "o", dataset="kddcup99", protocol="dagmm"))
    with pytest.raises(InputError, match="not to the ODDS"):
        run(TabularBench(tmp_path, tmp_path / "o", suite="odds", protocol="code"))


@pytest.mark.skipif(not pyod_available(), reason="PyOD is not installed (pip install memae[pyod])")
class TestPyOD:
    def test_contract(self):
        from pyod.models.base import BaseDetector

        from memae.pyod import MemAE

        rng = np.random.default_rng(0)
        X = np.r_[rng.normal(0, 1, (180, 5)), rng.normal(5, 1, (20, 5))]
        det = MemAE(contamination=0.1, epochs=5, random_state=0)
        assert isinstance(det, BaseDetector) and det.get_params()["epochs"] == 5
        det.fit(X)
        assert det.decision_scores_.shape == (200,)
        assert det.threshold_ == pytest.approx(np.percentile(det.decision_scores_, 90))
        assert det.labels_.sum() == 20
        np.testing.assert_array_equal(det.predict(X), det.labels_)
        proba = det.predict_proba(X)
        assert proba.shape == (200, 2) and np.allclose(proba.sum(1), 1)
        assert det.predict_confidence(X).shape == (200,)
        assert det.labels_[180:].mean() > 0.8

    def test_combination_utilities(self):
        from pyod.models.combination import average
        from pyod.models.iforest import IForest
        from pyod.utils.utility import standardizer

        from memae.pyod import MemAE

        rng = np.random.default_rng(1)
        X = np.r_[rng.normal(0, 1, (150, 4)), rng.normal(5, 1, (15, 4))]
        dets = [MemAE(epochs=3, random_state=0), IForest(random_state=0)]
        scores = np.column_stack([d.fit(X).decision_function(X) for d in dets])
        combined = average(standardizer(scores))
        assert combined.shape == (165,) and combined[150:].mean() > combined[:150].mean()


def test_bench_tabular_from_the_command_line(tmp_path, capsys):
    from memae.cli import main

    code = main(
        [
            "bench",
            "tabular",
            "--suite",
            "odds",
            "--data-dir",
            str(write_odds(tmp_path / "odds")),
            "--models",
            "ae",
            "--seeds",
            "0",
            "--epochs",
            "1",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "memae bench tabular: ODDS suite" in out and "--suite odds" in out
    assert len((tmp_path / "out" / "results.csv").read_text().splitlines()) == 3


def test_bench_tabular_protocol_flag_is_checked(tmp_path, capsys):
    from memae.cli import main

    args = ["bench", "tabular", "--suite", "odds", "--data-dir", str(write_odds(tmp_path / "o"))]
    assert main([*args, "--protocol", "code", "--out", str(tmp_path / "out")]) == 1
    assert "--protocol applies to KDDCUP99" in capsys.readouterr().err


def test_a_failing_pyod_reference_is_one_memae_error(monkeypatch):
    pytest.importorskip("pyod")
    from pyod.models.auto_encoder import AutoEncoder

    from memae.bench.baselines import PyODReference

    def broken(self, X, y=None):  # PyOD's AutoEncoder does this on a 29-row table
        raise UnboundLocalError("cannot access local variable 'loss'")

    monkeypatch.setattr(AutoEncoder, "fit", broken)
    with pytest.raises(InputError, match="PyOD's pyod-ae failed on 29 training rows"):
        PyODReference("pyod-ae").fit(np.zeros((29, 3)))
