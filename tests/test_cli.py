import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from memae.cli import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def tables(tmp_path):
    rng = np.random.default_rng(0)
    train = rng.normal(0, 1, size=(200, 5))
    test = np.r_[rng.normal(0, 1, size=(40, 5)), rng.normal(5, 1, size=(20, 5))]
    labels = np.r_[np.zeros(40, int), np.ones(20, int)]
    header = "f1,f2,f3,f4,f5"
    np.savetxt(tmp_path / "train.csv", train, delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "test.csv", test, delimiter=",", header=header, comments="")
    np.savetxt(tmp_path / "labels.csv", labels, fmt="%d", header="is_anomaly", comments="")
    return tmp_path


def test_train_score_evaluate_end_to_end(tables, capsys):
    t = tables
    code, out, err = run(
        capsys,
        "train",
        t / "train.csv",
        "--out",
        t / "model",
        "--epochs",
        10,
        "--lr",
        3e-3,
        "--quiet",
    )
    assert code == 0, err
    assert "saved to" in out and (t / "model" / "model.safetensors").exists()
    code, out, err = run(
        capsys, "score", t / "test.csv", "--model", t / "model", "--out", t / "scores.csv"
    )
    assert code == 0, err
    lines = (t / "scores.csv").read_text().splitlines()
    assert lines[0] == "id,score,label" and len(lines) == 61
    code, out, err = run(capsys, "evaluate", t / "scores.csv", "--labels", t / "labels.csv")
    assert code == 0, err
    metrics = json.loads((t / "scores.metrics.json").read_text())
    assert metrics["auc"] > 0.95 and metrics["n_anomalies"] == 20
    assert "average_precision" in out
    code, out, _ = run(
        capsys,
        "evaluate",
        t / "scores.csv",
        "--labels",
        t / "labels.csv",
        "--top-fraction",
        0.4,
        "--json",
        t / "m.json",
    )
    assert code == 0 and json.loads((t / "m.json").read_text())["recall"] > 0.9
    code, _, _ = run(
        capsys,
        "score",
        t / "test.csv",
        "--model",
        t / "model",
        "--out",
        t / "s2.csv",
        "--threshold",
        1e9,
    )
    assert code == 0 and ",1\n" not in (t / "s2.csv").read_text()


def test_mnist_idx_one_class(mnist_dir, tmp_path, capsys):
    code, out, err = run(
        capsys,
        "train",
        mnist_dir / "train-images-idx3-ubyte.gz",
        "--labels",
        mnist_dir / "train-labels-idx1-ubyte.gz",
        "--normal-class",
        1,
        "--epochs",
        1,
        "--lr",
        1e-3,
        "--error-sigma",
        1,
        "--error-top",
        0.25,
        "--channels-last",
        "--out",
        tmp_path / "m1",
        "--quiet",
    )
    assert code == 0, err
    assert "on 6742 samples of shape (1, 28, 28)" in out
    params = json.loads((tmp_path / "m1" / "config.json").read_text())["params"]
    assert params["error_sigma"] == 1 and params["error_top"] == 0.25
    assert params["channels_last"] is True
    code, _, err = run(
        capsys,
        "score",
        mnist_dir / "t10k-images-idx3-ubyte.gz",
        "--model",
        tmp_path / "m1",
        "--out",
        tmp_path / "s.csv",
    )
    assert code == 0, err
    code, out, err = run(
        capsys,
        "evaluate",
        tmp_path / "s.csv",
        "--labels",
        mnist_dir / "t10k-labels-idx1-ubyte.gz",
        "--normal-class",
        1,
    )
    assert code == 0, err
    assert json.loads((tmp_path / "s.metrics.json").read_text())["auc"] > 0.8


def test_errors_are_one_line_and_nothing_saved_is_lost(tables, capsys):
    t = tables
    assert (
        run(capsys, "train", t / "train.csv", "--out", t / "model", "--epochs", 1, "--quiet")[0]
        == 0
    )
    saved = (t / "model" / "model.safetensors").read_bytes()
    (t / "nan.csv").write_text("a,b\n1,nan\n2,3\n")
    (t / "text.csv").write_text("a,b\n1,x\n2,y\n")
    (t / "narrow.csv").write_text("a,b\n1,2\n2,3\n")
    (t / "nan_frames.csv").write_text("video,frame,score,normality\nv,0,1,0.5\nv,1,2,nan\n")
    cases = [
        (("train", t / "missing.csv", "--out", t / "model"), "does not exist"),
        (("train", t / "nan.csv", "--out", t / "model"), "NaN"),
        (("train", t / "text.csv", "--out", t / "model"), "non-numeric"),
        (("train", t / "train.csv", "--out", t / "model", "--epochs", -1), "epochs"),
        (("train", t / "train.csv", "--out", t / "model", "--error-sigma", 1), "error_sigma"),
        (("train", t / "train.csv", "--out", t / "model", "--channels-last"), "channels_last"),
        (("score", t / "narrow.csv", "--model", t / "model", "--out", t / "s.csv"), "trained on"),
        (("score", t / "test.csv", "--model", t / "nomodel", "--out", t / "s.csv"), "not exist"),
        (("evaluate", t / "test.csv", "--labels", t / "labels.csv"), "not a scores file"),
        (("evaluate", t / "nan_frames.csv", "--labels", t / "labels.csv"), "NaN"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, *argv)
        assert code != 0, argv
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("memae: error:") and message in lines[0]
        assert "Traceback" not in err
    assert (t / "model" / "model.safetensors").read_bytes() == saved
    (t / "model" / "config.json").write_text("{broken")
    code, _, err = run(
        capsys, "score", t / "test.csv", "--model", t / "model", "--out", t / "s.csv"
    )
    assert code != 0 and "corrupt" in err and not (t / "s.csv").exists()


def test_console_script_help_lists_every_verb():
    """The ``memae`` the install put beside this interpreter (pyproject's console script)."""
    script = Path(sys.executable).parent / "memae"
    assert script.exists(), f"no console script {script}: install memae (pip install -e .)"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True)
    for verb in ("train", "score", "evaluate", "demo", "bench"):
        assert verb in out.stdout


def test_demo_smoke(tmp_path, capsys):
    code, out, err = run(
        capsys, "demo", "--out", tmp_path / "demo", "--epochs", 2, "--limit", 1500, "--quiet"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("ae ") and "AUC" in lines[0]
    assert lines[1].startswith("memae ") and "AUC" in lines[1]
    for name in ("roc.png", "reconstructions.png", "memory_slots.png", "scores_memae.png"):
        assert (tmp_path / "demo" / name).stat().st_size > 5000
    results = json.loads((tmp_path / "demo" / "results.json").read_text())
    for line, name in zip(lines[:2], ("ae", "memae"), strict=True):
        assert line.split()[-1] == f"{results[name]['auc']:.4f}"  # printed = recorded
    config = results["config"]
    assert config["train"] > 0 and 0 < config["test_anomalies"] < config["test"]


def test_one_hot_tables_keep_their_encoding_for_scoring(tmp_path, capsys):
    rng = np.random.default_rng(0)
    kinds = np.array(["web", "mail", "ftp"])
    rows = [f"{v:.3f},{kinds[i % 3]}" for i, v in enumerate(rng.normal(0, 1, 60))]
    (tmp_path / "train.csv").write_text("value,kind\n" + "\n".join(rows) + "\n")
    (tmp_path / "test.csv").write_text("kind,value\nweb,0.1\ntelnet,0.2\n")  # other order, new kind
    code, _, err = run(
        capsys, "train", tmp_path / "train.csv", "--out", tmp_path / "m", "--epochs", 1, "--quiet"
    )
    assert code != 0 and "--one-hot" in err
    code, _, err = run(
        capsys,
        "train",
        tmp_path / "train.csv",
        "--out",
        tmp_path / "m",
        "--epochs",
        1,
        "--quiet",
        "--one-hot",
    )
    assert code == 0, err
    enc = json.loads((tmp_path / "m" / "config.json").read_text())["encoder"]  # in the model
    assert enc["columns"][1] == {"name": "kind", "categories": ["ftp", "mail", "web"]}
    assert not (tmp_path / "m" / "table_encoding.json").exists()
    code, _, err = run(
        capsys,
        "score",
        tmp_path / "test.csv",
        "--model",
        tmp_path / "m",
        "--out",
        tmp_path / "s.csv",
    )
    assert code == 0, err
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 3
    (tmp_path / "bad.csv").write_text("value\n1\n")
    code, _, err = run(
        capsys,
        "score",
        tmp_path / "bad.csv",
        "--model",
        tmp_path / "m",
        "--out",
        tmp_path / "s2.csv",
    )
    assert code != 0 and "no column 'kind'" in err


def test_model_lists_keep_commas_inside_brackets():
    from memae.cli.options import str_list as _str_list

    specs = _str_list("arnet:channels=[16,32,64], ae,memae:similarity=cosine")
    assert specs == ["arnet:channels=[16,32,64]", "ae", "memae:similarity=cosine"]
    nested = _str_list("memae:layers=[[3,2,32],[3,3,8]],ae")
    assert nested == ["memae:layers=[[3,2,32],[3,3,8]]", "ae"]


def test_evaluate_json_is_json_and_a_closed_pipe_is_quiet(tables, capsys):
    t = tables
    run(capsys, "train", t / "train.csv", "--out", t / "model", "--epochs", 1, "--quiet")
    run(capsys, "score", t / "test.csv", "--model", t / "model", "--out", t / "s.csv")
    code, out, _ = run(capsys, "evaluate", t / "s.csv", "--labels", t / "labels.csv")
    assert code == 0 and "threshold" in out and "nan" not in out
    text = (t / "s.metrics.json").read_text()
    assert json.loads(text)["threshold"] is None and "NaN" not in text
    argv = [
        sys.executable,
        "-m",
        "memae.cli",
        "evaluate",
        t / "s.csv",
        "--labels",
        t / "labels.csv",
    ]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before memae writes a line (like `| head -0`)
    assert child.wait(timeout=120) == 0
    assert child.stderr.read() == b""


def test_outputs_never_overwrite_inputs_and_missing_folders_are_created(tables, capsys):
    t = tables
    run(capsys, "train", t / "train.csv", "--out", t / "model", "--epochs", 1, "--quiet")
    data = (t / "test.csv").read_text()
    for argv in [
        ("score", t / "test.csv", "--model", t / "model", "--out", t / "test.csv"),
        ("score", t / "test.csv", "--model", t / "model", "--out", t / "model" / "s.csv"),
        ("train", t / "train.csv", "--out", t / "train.csv"),
        ("evaluate", t / "test.csv", "--labels", t / "labels.csv", "--json", t / "labels.csv"),
    ]:
        code, _, err = run(capsys, *argv)
        assert code == 1 and "would overwrite the input" in err, argv
    assert (t / "test.csv").read_text() == data
    code, _, err = run(
        capsys, "score", t / "test.csv", "--model", t / "model", "--out", t / "new" / "s.csv"
    )
    assert code == 0 and "created the folder" in err and (t / "new" / "s.csv").exists()
    assert oct((t / "new" / "s.csv").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_train_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    np.savetxt(tmp_path / "t.csv", rng.normal(size=(200, 5)), delimiter=",")
    out = tmp_path / "new" / "model"
    code, text, err = run(capsys, "train", tmp_path / "t.csv", "--out", out, "--dry-run")
    assert code == 0, err
    plan = dict(line.split(": ", 1) for line in text.splitlines()[1:])
    assert plan["family"] == "mlp" and plan["samples"] == "200" and plan["held_out"] == "20"
    assert int(plan["epochs"]) > 0 and plan["scaling"] == "minmax" and plan["device"] == "cpu"
    assert not (tmp_path / "new").exists()  # nothing written
    from memae import MemAEDetector

    code, _, err = run(capsys, "train", tmp_path / "t.csv", "--out", out, "--epochs", 1)
    assert code == 0, err
    saved = MemAEDetector.load(out).plan_
    assert saved.family == "mlp" and saved.epochs == 1 and saved.held_out == 20
    assert saved.train_rows == 180 and saved.scaling == "minmax"
