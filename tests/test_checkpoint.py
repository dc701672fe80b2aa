"""Model folders are whole or absent: a kill at any step of a save, a flipped byte, a bad value."""

import json
import os
import stat
import subprocess
import sys

import numpy as np
import pytest

from memae import CheckpointError, InputError, MemAEDetector
from memae.faults import KILL_AT


@pytest.fixture
def table(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "train.csv"
    np.savetxt(path, rng.normal(size=(120, 4)), delimiter=",", header="a,b,c,d", comments="")
    return path


def train(table, out, seed, kill_at=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if kill_at:
        env[KILL_AT] = kill_at
    argv = [sys.executable, "-m", "memae.cli", "train", str(table), "--out", str(out)]
    argv += ["--epochs", "1", "--seed", str(seed), "--quiet"]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("step", ["weights", "config", "backup", "swap"])
def test_a_train_killed_at_any_save_step_leaves_the_old_model_or_the_new(table, tmp_path, step):
    folder = tmp_path / "m"
    assert train(table, folder, seed=0).returncode == 0
    old = json.loads((folder / "config.json").read_text())
    killed = train(table, folder, seed=1, kill_at=f"model {step}")
    assert killed.returncode == -9, killed.stderr  # SIGKILL at that step
    det = MemAEDetector.load(folder)  # loads: never a mixture, never missing
    expected_seed = 1 if step == "swap" else 0
    assert det.seed_ == expected_seed
    config = json.loads((folder / "config.json").read_text())
    if expected_seed == 0:
        assert config == old
    # nothing stale; the training state stays until the model is saved, for --resume
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m.train-state", "train.csv"]
    assert train(table, folder, seed=2).returncode == 0  # and the next save works
    assert MemAEDetector.load(folder).seed_ == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "train.csv"]


def test_a_flipped_byte_or_a_bad_value_is_refused(table, tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4)).astype(np.float32)
    det = MemAEDetector(epochs=1, random_state=0).fit(X)
    det.save(tmp_path / "m")
    weights = tmp_path / "m" / "model.safetensors"
    good = weights.read_bytes()
    data = bytearray(good)
    data[-5] ^= 0x01  # inside the last tensor's values: still a valid safetensors file
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        MemAEDetector.load(tmp_path / "m")
    weights.write_bytes(good)
    cfg_path = tmp_path / "m" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    for key, value, message in [
        ("threshold", float("nan"), "threshold nan is not a number"),
        ("threshold", "0.1", "is not a number"),
        ("surprise", 1, "unknown keys: surprise"),
        ("encoder", {"columns": [{"name": "a"}]}, "malformed table encoder"),
        ("plan", {"epochs": 1, "surprise": 2}, "malformed plan"),
    ]:
        cfg_path.write_text(json.dumps({**cfg, key: value}))
        with pytest.raises(CheckpointError, match=message):
            MemAEDetector.load(tmp_path / "m")
    cfg_path.write_text(json.dumps(cfg))
    np.testing.assert_array_equal(
        MemAEDetector.load(tmp_path / "m").decision_function(X), det.decision_function(X)
    )


def test_saved_files_get_the_usual_modes_and_other_files_stay(tmp_path):
    det = MemAEDetector(epochs=1, random_state=0).fit(np.random.default_rng(0).normal(size=(50, 3)))
    old = os.umask(0o022)
    try:
        det.save(tmp_path / "m")
        (tmp_path / "m" / "notes.txt").write_text("mine")
        det.save(tmp_path / "m")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m").stat().st_mode) == 0o755
    for name in ("config.json", "model.safetensors"):
        assert stat.S_IMODE((tmp_path / "m" / name).stat().st_mode) == 0o644
    assert (tmp_path / "m" / "notes.txt").read_text() == "mine"


def scores_of(folder, table):
    X = np.loadtxt(table, delimiter=",", skiprows=1)
    return MemAEDetector.load(folder).decision_function(X)


@pytest.mark.parametrize("options", [[], ["--model-options", '{"reseed": 3}']])
def test_a_killed_train_resumes_to_the_scores_of_an_uninterrupted_one(table, tmp_path, options):
    # with re-seeding, the counts since the last re-seeding travel in the training state too
    def run_train(out, *extra, kill_at=None):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if kill_at:
            env[KILL_AT] = kill_at
        argv = [sys.executable, "-m", "memae.cli", "train", str(table), "--out", str(out)]
        argv += ["--epochs", "6", "--batch-size", "16", "--lr-schedule", "cosine", "--quiet"]
        argv += options
        return subprocess.run([*argv, *extra], env=env, capture_output=True, text=True)

    assert run_train(tmp_path / "whole").returncode == 0
    killed = run_train(tmp_path / "m", kill_at="epoch 4 batch 3")  # mid-epoch SIGKILL
    assert killed.returncode == -9 and not (tmp_path / "m").exists()
    assert (tmp_path / "m.train-state").is_dir()
    resumed = run_train(tmp_path / "m", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not (tmp_path / "m.train-state").exists()  # removed once the model is saved
    np.testing.assert_array_equal(
        scores_of(tmp_path / "m", table), scores_of(tmp_path / "whole", table)
    )
    whole = json.loads((tmp_path / "whole" / "config.json").read_text())
    again = json.loads((tmp_path / "m" / "config.json").read_text())
    assert again["threshold"] == whole["threshold"] and again["best_epoch"] == whole["best_epoch"]


def test_sigint_stops_at_a_batch_says_how_to_resume_and_keeps_the_old_model(table, tmp_path):
    assert train(table, tmp_path / "m", seed=0).returncode == 0
    before = (tmp_path / "m" / "model.safetensors").read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1", KILL_AT: "int:epoch 2 batch 1"}
    argv = [sys.executable, "-m", "memae.cli", "train", str(table), "--out", str(tmp_path / "m")]
    done = subprocess.run(
        [*argv, "--epochs", "4", "--quiet"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "stopped after 1 complete epoch(s)" in done.stderr and "--resume" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert (tmp_path / "m" / "model.safetensors").read_bytes() == before
    again = subprocess.run(
        [*argv, "--epochs", "4", "--quiet", "--resume"], capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert MemAEDetector.load(tmp_path / "m").history_.best_epoch >= 0


def test_keeping_a_training_state_changes_no_figure_and_costs_at_most_a_share(
    tmp_path, monkeypatch
):
    """Saving the state only reads the RNGs, so the fit is the one without; a tiny fit saves
    only as often as keeps the saves under SAVE_SHARE of its time, a slow one every epoch."""
    from memae.persist import trainstate

    writes = []
    write = trainstate.write_folder
    monkeypatch.setattr(
        trainstate, "write_folder", lambda *a, **k: writes.append(1) or write(*a, **k)
    )
    X = np.random.default_rng(0).normal(size=(80, 5))
    plain = MemAEDetector(epochs=30, random_state=0).fit(X)
    kept = MemAEDetector(epochs=30, random_state=0).fit(X, state_dir=tmp_path / "s")
    np.testing.assert_array_equal(kept.decision_function(X), plain.decision_function(X))
    assert kept.history_.train_loss == plain.history_.train_loss
    assert (kept.history_.resumed_epochs, plain.history_.resumed_epochs) == (0, 0)
    assert 1 <= len(writes) < 30 and not (tmp_path / "s").exists()
    writes.clear()
    monkeypatch.setattr(trainstate, "SAVE_SHARE", 1e12)  # as if every epoch were slow
    MemAEDetector(epochs=30, random_state=0).fit(X, state_dir=tmp_path / "s")
    assert len(writes) == 30


def test_a_kept_state_resumes_even_from_a_save_killed_between_its_renames(tmp_path, monkeypatch):
    """keep_state leaves the state of a finished fit; resume='auto' continues it (a finished
    one: every epoch resumed, the same detector), after putting back a half-swapped save."""
    from memae.persist import atomic, trainstate

    monkeypatch.setattr(trainstate, "SAVE_SHARE", 1e12)  # every epoch saved, as for slow ones

    X = np.random.default_rng(0).normal(size=(80, 5))
    state = tmp_path / "s"
    first = MemAEDetector(epochs=3, random_state=0).fit(X, state_dir=state, keep_state=True)
    assert state.is_dir() and first.history_.resumed_epochs == 0
    state.rename(atomic._backup(state))  # a kill between the two renames of a save
    again = MemAEDetector(epochs=3, random_state=0).fit(X, state_dir=state, resume="auto")
    assert again.history_.resumed_epochs == 3 and not state.exists()
    np.testing.assert_array_equal(again.decision_function(X), first.decision_function(X))
    fresh = MemAEDetector(epochs=3, random_state=0).fit(X, state_dir=state, resume="auto")
    assert fresh.history_.resumed_epochs == 0  # nothing there: starts afresh
    with pytest.raises(InputError, match="resume must be"):
        MemAEDetector(epochs=3).fit(X, state_dir=state, resume="yes")


def test_resume_refuses_a_state_of_another_run(tmp_path, monkeypatch):
    X = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(CheckpointError, match="no training state"):
        MemAEDetector(epochs=2).fit(X, state_dir=tmp_path / "s", resume=True)
    from memae.persist import TrainState

    monkeypatch.setattr(TrainState, "remove", lambda self: None)  # keep a finished fit's state
    MemAEDetector(epochs=2, random_state=0).fit(X, state_dir=tmp_path / "s")
    with pytest.raises(CheckpointError, match="another run"):
        MemAEDetector(epochs=3, random_state=0).fit(X, state_dir=tmp_path / "s", resume=True)


def test_a_saved_model_keeps_the_family_defaults_of_its_time(tmp_path, monkeypatch):
    """conv2d's own addressing default (cosine, re-seeded) is recorded; a model saved under it
    loads as saved after the default changes, and a folder that records none (format v1)
    loads with the global defaults (dot, no re-seeding)."""
    import dataclasses

    from memae.models import registry

    X = np.random.default_rng(0).random((40, 1, 16, 16), dtype=np.float32)
    det = MemAEDetector(epochs=1, batch_size=8, random_state=0, threads=1).fit(X)
    memory = det.model_.memory
    assert (memory.similarity, memory.reseed) == ("cosine", 10)  # conv2d's defaults
    det.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["family_defaults"] == {"similarity": "cosine", "reseed": 10}
    conv2d = registry._FAMILIES["conv2d"]
    monkeypatch.setitem(registry._FAMILIES, "conv2d", dataclasses.replace(conv2d, defaults={}))
    assert MemAEDetector(epochs=1).fit(X).model_.memory.similarity == "dot"  # a new default
    again = MemAEDetector.load(tmp_path / "m")
    assert again.model_.memory.similarity == "cosine"
    np.testing.assert_array_equal(again.decision_function(X), det.decision_function(X))
