import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from memae import InputError, MemAEDetector
from memae.bench.image import ImageBench, parse_model, run
from memae.data.cifar import load_cifar10, load_cifar100
from memae.data.images import load_image_dataset
from memae.data.mvtec import load_mvtec
from memae.data.protocols import standard_split


def write_cifar10(root, n=20):
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, n)),
            b"batch_label": name.encode(),
        }
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)


def test_cifar10_batches_in_the_official_layout(tmp_path):
    write_cifar10(tmp_path)
    Xtr, ytr, Xte, yte = load_cifar10(tmp_path)
    assert Xtr.shape == (100, 3, 32, 32) and Xte.shape == (20, 3, 32, 32)
    assert ytr.shape == (100,) and Xtr.dtype == np.uint8
    data = load_image_dataset("cifar10", tmp_path)
    assert data.classes[0] == "airplane" and data.all()[0].shape == (120, 3, 32, 32)


def test_cifar100_superclasses(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train", 30), ("test", 10)):
        batch = {
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"fine_labels": list(rng.integers(0, 100, n)),
            b"coarse_labels": list(rng.integers(0, 20, n)),
        }
        with open(tmp_path / name, "wb") as fh:
            pickle.dump(batch, fh)
    Xtr, ytr, Xte, yte = load_cifar100(tmp_path)
    assert Xtr.shape == (30, 3, 32, 32) and ytr.max() < 20


def test_cifar_reader_refuses_code_in_pickles(tmp_path):
    write_cifar10(tmp_path)

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as fh:
        pickle.dump({b"data": Evil()}, fh)
    with pytest.raises(InputError, match="refusing to load builtins.print"):
        load_cifar10(tmp_path)


def make_mvtec(root, size=16):
    rng = np.random.default_rng(0)
    for sub in ("train/good", "test/good", "test/scratch", "ground_truth/scratch"):
        (root / sub).mkdir(parents=True)

    def image(defect):
        a = (rng.random((size, size, 3)) * 40 + 100).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        if defect:
            a[4:8, 4:8] = 255
            mask[4:8, 4:8] = 255
        return a, mask

    for i in range(12):
        Image.fromarray(image(False)[0]).save(root / "train/good" / f"{i:03d}.png")
    for i in range(4):
        Image.fromarray(image(False)[0]).save(root / "test/good" / f"{i:03d}.png")
        a, m = image(True)
        Image.fromarray(a).save(root / "test/scratch" / f"{i:03d}.png")
        Image.fromarray(m).save(root / "ground_truth/scratch" / f"{i:03d}_mask.png")
    return root


def test_mvtec_layout_with_masks(tmp_path):
    cat = load_mvtec(make_mvtec(tmp_path / "bottle"), image_size=(16, 16))
    assert cat.train.shape == (12, 3, 16, 16) and cat.test.shape == (8, 3, 16, 16)
    assert cat.labels.tolist() == [0] * 4 + [1] * 4
    assert cat.masks.shape == (8, 16, 16) and cat.masks[4:].sum() == 4 * 16
    assert not cat.masks[:4].any()
    (tmp_path / "bottle/ground_truth/scratch/000_mask.png").unlink()
    with pytest.raises(InputError, match="missing ground-truth mask"):
        load_mvtec(tmp_path / "bottle", image_size=(16, 16))


def test_standard_protocol():
    ytr, yte = np.array([0, 1, 0, 2, 0]), np.array([0, 1, 2, 0])
    Xtr, Xte = np.arange(5)[:, None], np.arange(4)[:, None] + 10
    s = standard_split(Xtr, ytr, Xte, yte, 0)
    assert s.train[:, 0].tolist() == [0, 2, 4]
    assert s.test_labels.tolist() == [0, 1, 1, 0] and len(s.test) == 4


def test_model_specs():
    assert parse_model("memae:similarity=cosine:temperature=0.05") == (
        "memae",
        {"similarity": "cosine", "temperature": 0.05},
    )
    assert parse_model("arnet:channels=[8,16]") == ("arnet", {"channels": [8, 16]})
    # detector parameters read as the parameter table reads them: the recorded specs rerun
    assert parse_model("memae:channels_last=1:epochs=200:lr=0.001") == (
        "memae",
        {"channels_last": True, "epochs": 200, "lr": 0.001},
    )
    assert parse_model("ae:compile=false")[1] == {"compile": False}
    with pytest.raises(InputError, match="unknown model"):
        parse_model("memea")
    with pytest.raises(InputError, match="key=value"):
        parse_model("memae:cosine")


def test_compile_flag_reaches_the_detectors():
    from memae.bench.common import make_detector
    from memae.cli import bench_from_args, build_parser

    def bench(*flags):
        argv = ["bench", "image", "--dataset", "mnist", "--data-dir", "d", "--out", "o", *flags]
        args = build_parser().parse_args(argv)
        args.argv = argv
        return bench_from_args(args)[1]

    assert make_detector("arnet", 0, bench("--compile").training(), "cpu").compile is True
    assert make_detector("arnet", 0, bench().training(), "cpu").compile is False


def test_every_bench_flag_is_a_field_of_its_bench():
    import dataclasses

    from memae.cli import GLOBAL_DESTS, build_parser

    kinds = build_parser()._subparsers._group_actions[0].choices["bench"]
    for kind, parser in kinds._subparsers._group_actions[0].choices.items():
        module = __import__(f"memae.bench.{kind}", fromlist=["Bench"])
        fields = {f.name for f in dataclasses.fields(module.Bench)}
        dests = {a.dest for a in parser._actions if a.dest != "help"} - GLOBAL_DESTS
        assert dests <= fields, (kind, dests - fields)


def test_bench_image_from_the_command_line(tmp_path, capsys):
    from memae.cli import main

    folder_images(tmp_path / "data")
    argv = ["bench", "image", "--dataset", "folder", "--data-dir", str(tmp_path / "data")]
    argv += ["--models", "ae,memae:mem_slots=7", "--classes", "0", "--epochs", "1"]
    code = main([*argv, "--no-figures", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = (tmp_path / "out" / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and "memae bench image" in out and "--no-figures" in out
    assert not (tmp_path / "out" / "figures").exists()


def folder_images(root):
    rng = np.random.default_rng(0)
    for cls, value in (("a", 40), ("b", 200), ("c", 120)):
        (root / cls).mkdir(parents=True)
        for i in range(15):
            img = np.clip(rng.normal(value, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / cls / f"{i}.png")


def test_bench_end_to_end_on_a_folder_and_resumes(tmp_path):
    folder_images(tmp_path / "data")
    bench = ImageBench(
        "folder",
        tmp_path / "data",
        tmp_path / "out",
        classes=[0, 1],
        models=["ocsvm", "kde", "ae", "memae"],
        seeds=[0, 1],
        epochs=2,
    )
    table = run(bench)
    assert len(table.rows) == 2 * 2 * 4
    csv_text = (tmp_path / "out" / "results.csv").read_text()
    assert csv_text.startswith("dataset,protocol,class,seed,model")
    for col in ("dataset", "protocol", "model", "class", "seed", "auc"):
        assert col in csv_text.splitlines()[0].split(",")
    md = (tmp_path / "out" / "results.md").read_text()
    assert "| memae |" in md and "± " in md
    figures = tmp_path / "out" / "figures"
    for name in (
        "roc_class0.png",
        "reconstructions_class0.png",
        "memory_memae_class0.png",
        "hist_memae_class1.png",
    ):
        assert (figures / name).stat().st_size > 3000, name
    before = csv_text
    run(bench)  # resumes: nothing recomputed
    assert (tmp_path / "out" / "results.csv").read_text() == before


def test_parallel_jobs_give_the_rows_and_figures_of_one_job(tmp_path):
    from memae.cli import build_parser

    rng = np.random.default_rng(0)
    for cls, value in (("a", 40), ("b", 200)):
        (tmp_path / "data" / cls).mkdir(parents=True)
        for i in range(15):
            img = np.clip(rng.normal(value, 20, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(tmp_path / "data" / cls / f"{i}.png")
    args = build_parser().parse_args(
        ["bench", "image", "--dataset", "folder", "--data-dir", "d", "--jobs", "2", "--out", "o"]
    )
    opts = {"models": ["ocsvm", "memae"], "seeds": [0, 1], "epochs": 2}
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # two jobs of one thread each ...
        parallel = ImageBench("folder", tmp_path / "data", tmp_path / "p", jobs=args.jobs, **opts)
        rows = {(r["class"], r["seed"], r["model"]): r for r in run(parallel).rows}
        torch.set_num_threads(1)  # ... against one job of one thread: the same arithmetic
        alone = run(ImageBench("folder", tmp_path / "data", tmp_path / "s", **opts)).rows
    finally:
        torch.set_num_threads(threads)
    assert len(rows) == len(alone) == 2 * 2 * 2
    for row in alone:
        twin = rows[row["class"], row["seed"], row["model"]]
        assert (twin["auc"], twin["ap"], twin["n_test"]) == (row["auc"], row["ap"], row["n_test"])
    for name in ("reconstructions_class1.png", "memory_memae_class0.png", "roc_class1.png"):
        assert (tmp_path / "p" / "figures" / name).stat().st_size > 3000, name
    with pytest.raises(InputError, match="jobs"):
        run(ImageBench("folder", tmp_path / "data", tmp_path / "x", jobs=0))


def test_bench_on_mvtec_reports_pixel_auc(tmp_path):
    bench = ImageBench(
        "mvtec",
        make_mvtec(tmp_path / "bottle"),
        tmp_path / "out",
        models=["ae", "arnet:channels=[8,16]", "memae-map:channels=[8,16]:memory_block=2"],
        seeds=[0],
        epochs=2,
        image_size=(16, 16),
    )
    rows = run(bench).rows
    assert [r["model"] for r in rows] == [
        "ae",
        "arnet:channels=[8,16]",
        "memae-map:channels=[8,16]:memory_block=2",
    ]
    assert float(rows[2]["slots_addressed"]) > 0
    for row in rows:
        assert 0 <= float(row["pixel_auc"]) <= 1 and row["n_anomalies"] == "4"
    figures = tmp_path / "out" / "figures"
    assert (figures / "heatmaps_ae.png").stat().st_size > 3000
    assert (figures / "heatmaps_arnet_channels_8_16.png").stat().st_size > 3000
    assert (figures / "restorations_arnet_channels_8_16_class0.png").stat().st_size > 3000
    assert "Pixel AUC" in (tmp_path / "out" / "results.md").read_text()


def test_bench_refuses_bad_settings(tmp_path):
    with pytest.raises(InputError, match="unknown dataset"):
        run(ImageBench("svhn", tmp_path, tmp_path / "o"))
    with pytest.raises(InputError, match="does not exist"):
        run(ImageBench("mnist", tmp_path / "nope", tmp_path / "o"))


def tinted_digits(size: int, n: int = 200) -> np.ndarray:
    """Real digits (0s of the embedded sample) at size x size, each tinted its own colour."""
    import torch.nn.functional as F

    from memae.data.sample import load_mnist_sample

    images, labels = load_mnist_sample()
    x = torch.from_numpy(images[labels == 0][:n].astype(np.float32) / 255)
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    tint = np.random.default_rng(0).uniform(0.4, 1.0, (n, 3, 1, 1)).astype(np.float32)
    return (x * torch.from_numpy(tint)).numpy()


def test_a_collapsed_memory_is_reported_with_the_settings_to_change(caplog):
    """The paper's dot-product addressing (the old default) on larger colour images: every
    query's largest weight lands on one slot, every reconstruction is one template (issue #22).
    conv2d's defaults (cosine, re-seeded) keep many slots in use on the same images."""
    X = tinted_digits(64)
    params = {"epochs": 3, "batch_size": 32, "random_state": 0, "threads": 1}
    with caplog.at_level("WARNING", logger="memae.detector"):
        paper = MemAEDetector(**params, similarity="dot", model_options={"reseed": 0}).fit(X)
    usage = paper.memory_usage_
    assert usage["effective_slots"] < 2 and usage["top_slot_share"] > 0.9
    assert "memory collapse" in caplog.text and "reseed" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="memae.detector"):
        default = MemAEDetector(**params).fit(X)
    assert default.memory_usage_["effective_slots"] > 5  # 6.0 here; 77-158 in the study
    assert "memory collapse" not in caplog.text


def test_reseeding_dead_slots_spreads_the_memory():
    """The same images with cosine addressing: one slot without re-seeding, many with it."""
    X = tinted_digits(64)
    params = {"epochs": 3, "batch_size": 32, "similarity": "cosine", "random_state": 0}
    plain = MemAEDetector(**params, threads=1, model_options={"reseed": 0}).fit(X)
    reseeded = MemAEDetector(**params, threads=1, model_options={"reseed": 5}).fit(X)
    assert plain.memory_usage_["effective_slots"] < 2
    assert reseeded.memory_usage_["effective_slots"] > 5


def test_a_block_memory_saves_and_loads_to_the_same_scores(tmp_path):
    cat = load_mvtec(make_mvtec(tmp_path / "bottle"), image_size=(16, 16))
    options = {"channels": [8, 16], "memory_block": 2}
    det = MemAEDetector("memae-map", epochs=2, threads=1, random_state=0, model_options=options)
    det.fit(cat.train)
    assert det.family_defaults_ == {"similarity": "cosine", "reseed": 10}
    det.save(tmp_path / "m")
    back = MemAEDetector.load(tmp_path / "m")
    np.testing.assert_array_equal(back.decision_function(cat.test), det.decision_function(cat.test))
    assert back.model_.memory.dim == 16 * 2 * 2
