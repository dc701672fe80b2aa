"""Distributed training under torchrun, on CPU with gloo: N ranks with a global batch b fit what
one process fits with batch b; one model is written; a rank that dies ends the job.

The ranks sum gradients in another order than one process does. An autoencoder stays within
1e-7 of the one-process weights over epochs. MemAE's weights do not: memory slots that few
queries address get gradients near zero, whose rounding Adam scales up to steps of about lr, and
the hard shrinkage is discontinuous. So the autoencoder's weights are compared, and MemAE's
scores, threshold and memory statistics."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from memae import MemAEDetector
from memae.cli import main

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
FIT = {"epochs": 3, "batch_size": 32, "random_state": 0, "threads": 1}
FITS = {"ae": FIT | {"model": "ae"}, "memae": FIT | {"epochs": 1}}
IMAGES = {"epochs": 1, "batch_size": 8, "random_state": 0, "threads": 1, "model": "ae"}
FLAGS = ["--epochs", "3", "--batch-size", "32", "--seed", "0", "--threads", "1", "--quiet"]
TRAIN_FLAGS = ["--model", "ae", *FLAGS]  # FITS["ae"]

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="this torch build has no torch.distributed"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MEMAE_KILL_AT"}
    return env | {"OMP_NUM_THREADS": "1", "MEMAE_DIST_TIMEOUT": "60"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args: list[str], cwd: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=180, **kw
    )


@pytest.fixture
def table(tmp_path: Path) -> Path:
    X = np.random.default_rng(0).normal(size=(600, 6)).astype(np.float32)
    X[:, 1] += X[:, 0]  # some structure to learn
    np.save(tmp_path / "x.npy", X)
    return tmp_path / "x.npy"


def _same_fit(a: MemAEDetector, b: MemAEDetector, X: np.ndarray, weights: bool = True) -> None:
    """The same fit up to rounding: weights (where they are well-conditioned), scores,
    threshold, best epoch, memory statistics."""
    if weights:
        pairs = zip(a.model_.state_dict().items(), b.model_.state_dict().values(), strict=True)
        for (name, pa), pb in pairs:
            np.testing.assert_allclose(pa.numpy(), pb.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    tol = 1e-4 if weights else 2e-3
    sa, sb = a.decision_function(X), b.decision_function(X)
    if weights:
        np.testing.assert_allclose(sa, sb, rtol=tol)
    else:  # a query at the shrinkage threshold may address one slot more or less
        assert np.isclose(sa, sb, rtol=tol).mean() > 0.99
        np.testing.assert_allclose(sa, sb, rtol=0.05)
    np.testing.assert_allclose(a.threshold_, b.threshold_, rtol=tol)
    assert a.history_.best_epoch == b.history_.best_epoch
    if a.memory_usage_ is not None:
        ua, ub = a.memory_usage_, b.memory_usage_
        assert ua["slots_addressed"] == ub["slots_addressed"]
        assert ua["zero_rows_fraction"] == ub["zero_rows_fraction"]
        np.testing.assert_allclose(ua["mean_entropy"], ub["mean_entropy"], rtol=tol)


def test_two_ranks_fit_what_one_process_fits_through_the_api(table: Path, tmp_path: Path):
    script = tmp_path / "fit.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import atexit, glob, os, sys, numpy as np, torch.distributed as dist
            from memae import MemAEDetector

            def at_exit():  # after memae's own exit handler: is the group, or a thread, left?
                names = []
                for comm in glob.glob("/proc/self/task/*/comm"):
                    try:
                        names.append(open(comm).read().strip())
                    except OSError:  # a thread that ended meanwhile
                        pass
                gloo = sorted(n for n in names if "gloo" in n)
                with open(sys.argv[1] + "exit.rank" + os.environ["RANK"], "w") as f:
                    f.write(f"{{dist.is_initialized()}} {{gloo}}")
            atexit.register(at_exit)
            for name, params in {FITS!r}.items():
                det = MemAEDetector(**params).fit(np.load({str(table)!r}))
                det.save(sys.argv[1] + name)  # rank 0 writes it
                assert det.run_["world_size"] == 2 and det.run_["backend"] == "gloo"
                if dist.get_rank() == 1:  # every rank holds the same fitted detector
                    np.save(sys.argv[1] + name + ".rank1.npy", det.decision_scores_)
            images = np.random.default_rng(0).random((48, 1, 16, 16), dtype=np.float32)
            det = MemAEDetector(**{IMAGES!r}).fit(images)  # BatchNorm: rank 0's statistics
            scores = det.decision_function(images)
            np.save(sys.argv[1] + f"conv.rank{{dist.get_rank()}}.npy", scores)
            # re-seeding: DDP gives every rank rank 0's counts and replacements each forward
            reseeded = MemAEDetector(**{FIT!r}, model_options={{"reseed": 2}}).fit(X := np.load(
                {str(table)!r}))
            memory = reseeded.model_.memory
            assert int(memory.batches) > 2 and not memory.due.any()
            np.save(sys.argv[1] + f"reseed.rank{{dist.get_rank()}}.npy", memory.weight.detach())
            """
        )
    )
    out = tmp_path / "m"
    done = _run(
        [*TORCHRUN, "--nproc-per-node", "2", "--standalone", str(script), str(out)], tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    X = np.load(table)
    for name, params in FITS.items():
        two = MemAEDetector.load(f"{out}{name}")
        _same_fit(two, MemAEDetector(**params).fit(X), X, weights=name == "ae")
        np.testing.assert_array_equal(np.load(f"{out}{name}.rank1.npy"), two.decision_scores_)
    np.testing.assert_array_equal(np.load(f"{out}conv.rank0.npy"), np.load(f"{out}conv.rank1.npy"))
    reseeded = [np.load(f"{out}reseed.rank{r}.npy") for r in (0, 1)]
    np.testing.assert_array_equal(*reseeded)
    # memae joined the group, so memae ends it, and its gloo threads (Linux lists them), before
    # the interpreter's teardown, where they aborted rank 0: "terminate called without an
    # active exception"
    left = [Path(f"{out}exit.rank{r}").read_text().split(" ", 1) for r in (0, 1)]
    assert [initialized for initialized, _ in left] == ["False", "False"]
    if sys.platform == "linux":
        assert [threads for _, threads in left] == ["[]", "[]"]


def test_torchrun_memae_train_writes_one_model_like_plain_memae_train(table: Path, tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    cmd = [*TORCHRUN, "--nproc-per-node", "2", "--standalone", "-m", "memae", "train"]
    done = _run([*cmd, str(table), "--out", str(two), *TRAIN_FLAGS], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("trained ") == 1  # rank 0 alone reports and writes
    assert main(["train", str(table), "--out", str(one), *TRAIN_FLAGS]) == 0
    run = json.loads((two / "config.json").read_text())["run"]
    assert run["world_size"] == 2 and run["backend"] == "gloo" and run["precision"] == "fp32"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "two", "x.npy"]
    _same_fit(MemAEDetector.load(two), MemAEDetector.load(one), np.load(table))


def test_two_nodes_on_loopback(table: Path, tmp_path: Path):
    """Two torchrun agents, one rank each, meeting through c10d rendezvous on 127.0.0.1."""
    port, out = _port(), tmp_path / "m"
    nodes = [
        subprocess.Popen(
            [
                *TORCHRUN,
                "--nnodes",
                "2",
                "--nproc-per-node",
                "1",
                "--node-rank",
                str(rank),
                "--rdzv-backend",
                "c10d",
                "--rdzv-endpoint",
                f"127.0.0.1:{port}",
                "--rdzv-id",
                "memae-test",
                "-m",
                "memae",
                "train",
                str(table),
                "--out",
                str(out),
                *TRAIN_FLAGS,
            ],
            cwd=tmp_path,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for rank in (0, 1)
    ]
    results = [node.communicate(timeout=180) for node in nodes]
    for node, (_, err) in zip(nodes, results, strict=True):
        assert node.returncode == 0, err[-3000:]
    det = MemAEDetector.load(out)
    assert det.run_["world_size"] == 2
    _same_fit(det, MemAEDetector(**FITS["ae"]).fit(np.load(table)), np.load(table))


def test_the_environment_decides_whether_a_fit_is_distributed(monkeypatch):
    from memae import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    assert distributed.launched() and not distributed.is_first_rank()
    monkeypatch.setenv("MEMAE_DISTRIBUTED", "0")  # inside someone else's job: one process
    assert not distributed.launched() and distributed.is_first_rank()
    monkeypatch.delenv("MEMAE_DISTRIBUTED")
    monkeypatch.delenv("WORLD_SIZE")  # RANK alone (a pod's variable) is not a job
    assert not distributed.launched() and distributed.is_first_rank()


def test_a_rank_that_dies_ends_the_job_with_an_error_not_a_hang(table: Path, tmp_path: Path):
    out = tmp_path / "m"
    cmd = [*TORCHRUN, "--nproc-per-node", "2", "--standalone", "-m", "memae", "train"]
    env = _env() | {"MEMAE_KILL_AT": "rank1:epoch 2 batch 3"}
    done = subprocess.run(
        [*cmd, str(table), "--out", str(out), *TRAIN_FLAGS],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "SIGKILL" in done.stderr or "Signal 9" in done.stderr, done.stderr[-3000:]
    assert not out.exists()  # nothing half written


def test_memae_bench_video_under_torchrun(tmp_path: Path):
    """Every rank runs the bench's jobs, each fit spread over both; rank 0 writes the table, the
    frame scores and the model."""
    sys.path.insert(0, str(Path(__file__).parent))
    from test_video import frames_layout

    root = frames_layout(tmp_path / "ped")
    script = tmp_path / "bench.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            from memae.bench.video import CONFIGS
            from memae.cli import main
            CONFIGS["cpu"] = {{**CONFIGS["cpu"], "size": (32, 32), "clip_len": 8,
                "channels": [4, 8, 8, 8], "mem_slots": 10, "epochs": 1, "batch_size": 8}}
            sys.exit(main(["bench", "video", "--data-dir", {str(root)!r}, "--models", "memae",
                "--no-figures", "--out", {str(tmp_path / "out")!r}]))
            """
        )
    )
    done = _run([*TORCHRUN, "--nproc-per-node", "2", "--standalone", str(script)], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    out = tmp_path / "out"
    assert len((out / "results.csv").read_text().splitlines()) == 2
    assert (out / "frame_scores" / "memae_seed0.csv").exists()
    det = MemAEDetector.load(out / "models" / "memae_seed0")
    assert det.run_["world_size"] == 2


def test_benches_other_than_video_refuse_torchrun(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it, without starting a job
    argv = ["bench", "tabular", "--suite", "odds", "--data-dir", ".", "--out", "t"]
    assert main(argv) == 1
    assert "run it in one process" in capsys.readouterr().err
