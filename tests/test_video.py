import json

import numpy as np
import pytest
import scipy.io
from PIL import Image

from memae import InputError
from memae.bench.budgets import BUDGETS
from memae.bench.video import CONFIGS, VideoBench, run
from memae.data.clips import ClipDataset, clip_starts, frame_scores
from memae.data.video import load_video_dataset, read_video, read_video_file, write_video_file
from memae.metrics import macro_auc, micro_auc
from memae.scoring import normality


def moving_square(n, size=32, anomalous=()):
    """A bright square moving right; frames in ``anomalous`` are noise instead."""
    rng = np.random.default_rng(len(anomalous))
    frames = np.full((n, size, size), 20, np.uint8)
    for t in range(n):
        x = (t * 2) % (size - 8)
        frames[t, 12:20, x : x + 8] = 220
        if t in anomalous:
            frames[t] = rng.integers(0, 256, (size, size))
    return frames


def save_frames(folder, frames, ext="jpg"):
    folder.mkdir(parents=True)
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:03d}.{ext}")


def frames_layout(root, n_train=2, test_len=40, bad=range(20, 30)):
    for v in range(n_train):
        save_frames(root / "training" / "frames" / f"{v + 1:02d}", moving_square(40))
    labels = []
    for v in range(2):
        anomalous = set(bad) if v == 0 else set()
        save_frames(
            root / "testing" / "frames" / f"{v + 1:02d}",
            moving_square(test_len, anomalous=anomalous),
        )
        masks = np.zeros((test_len, 32, 32), np.uint8)
        masks[list(anomalous)] = 255
        save_frames(root / "testing" / "masks" / f"{v + 1:02d}", masks, "png")
        labels.append(np.isin(np.arange(test_len), list(anomalous)).astype(int))
    np.save(root / "frame_labels_test.npy", np.concatenate(labels)[None])
    return root


def test_clip_starts_and_frame_alignment():
    assert clip_starts(20, 16, 1) == [0, 1, 2, 3, 4]
    assert clip_starts(20, 16, 3) == [0, 3, 4]  # the last full clip is always included
    with pytest.raises(ValueError, match="shorter than a clip"):
        clip_starts(10, 16, 1)
    n, T = 60, 16
    starts = clip_starts(n, T, 1)
    anomalous = np.zeros(n, bool)
    anomalous[30:40] = True
    clip = [float(anomalous[s + T // 2]) for s in starts]  # each clip scored by its centre
    per_frame = frame_scores(clip, starts, n, T)
    assert per_frame.shape == (n,)
    np.testing.assert_array_equal(per_frame > 0.5, anomalous)
    assert per_frame[:8].tolist() == [clip[0]] * 8 and per_frame[-7:].tolist() == [clip[-1]] * 7


def test_a_predictors_clip_score_goes_to_the_frame_it_predicts():
    n, T = 40, 8
    starts = clip_starts(n, T, 1)
    anomalous = np.zeros(n, bool)
    anomalous[20:25] = True
    clip = [float(anomalous[s + T - 1]) for s in starts]  # each clip scored by its last frame
    per_frame = frame_scores(clip, starts, n, T, predicts=1)
    np.testing.assert_array_equal(per_frame > 0.5, anomalous)
    assert per_frame[: T - 1].tolist() == [clip[0]] * (T - 1)  # before the first predicted frame


def test_eq11_normality_per_video():
    np.testing.assert_allclose(normality([2.0, 4.0, 3.0]), [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(normality([5.0, 5.0]), [1.0, 1.0])


def test_micro_vs_macro_auc():
    labels = [np.array([0, 0, 1, 1]), np.array([0, 1])]
    scores = [np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.9, 0.8])]
    assert macro_auc(labels, scores) == pytest.approx(0.5)  # (1 + 0) / 2
    # pooled: positives 0.3, 0.4, 0.8 vs negatives 0.1, 0.2, 0.9 -> 6 of 9 pairs ordered
    assert micro_auc(labels, scores) == pytest.approx(6 / 9)


def test_frames_layout_with_masks_and_labels(tmp_path):
    data = load_video_dataset(frames_layout(tmp_path / "ped"), size=(16, 16))
    assert len(data.train) == 2 and len(data.test) == 2
    assert data.train[0].frames.shape == (40, 16, 16)
    assert data.test[0].labels[20:30].all() and data.test[0].labels.sum() == 10
    assert data.test[0].masks.shape == (40, 16, 16) and data.test[0].masks[25].all()


def test_mat_ranges_and_mismatched_labels(tmp_path):
    root = frames_layout(tmp_path / "ped")
    (root / "frame_labels_test.npy").unlink()
    gt = np.empty((1, 2), dtype=object)
    gt[0, 0] = np.array([[21], [30]])
    gt[0, 1] = np.array([[1], [0]])  # an empty range
    scipy.io.savemat(root / "ped.mat", {"gt": gt})
    data = load_video_dataset(root, size=(16, 16))
    assert data.test[0].labels[20:30].all() and data.test[0].labels.sum() == 10
    (root / "ped.mat").unlink()
    np.save(root / "frame_labels_test.npy", np.zeros(79))
    with pytest.raises(InputError, match="79 frame labels"):
        load_video_dataset(root, size=(16, 16))


def test_ucsd_original_layout(tmp_path):
    root = tmp_path / "UCSDped2"
    save_frames(root / "Train" / "Train001", moving_square(20), "tif")
    save_frames(root / "Test" / "Test001", moving_square(20, anomalous={5, 6}), "tif")
    gt = np.zeros((20, 32, 32), np.uint8)
    gt[[5, 6], 4:8, 4:8] = 255
    save_frames(root / "Test" / "Test001_gt", gt, "bmp")
    data = load_video_dataset(tmp_path, size=None)
    assert [v.name for v in data.test] == ["Test001"]
    assert data.test[0].labels.tolist() == [int(i in (5, 6)) for i in range(20)]


def test_shanghaitech_per_video_masks(tmp_path):
    root = tmp_path / "sh"
    save_frames(root / "training" / "frames" / "01_001", moving_square(20))
    save_frames(root / "testing" / "frames" / "01_0014", moving_square(20))
    (root / "testing" / "test_frame_mask").mkdir()
    np.save(root / "testing" / "test_frame_mask" / "01_0014.npy", np.r_[np.zeros(15), np.ones(5)])
    data = load_video_dataset(root, size=(16, 16))
    assert data.test[0].labels.sum() == 5


@pytest.mark.parametrize("suffix", [".avi", ".mp4"])
def test_video_file_round_trip(tmp_path, suffix):
    frames = moving_square(12)
    write_video_file(tmp_path / f"v{suffix}", frames)
    back = read_video_file(tmp_path / f"v{suffix}")
    assert back.shape == frames.shape
    assert np.abs(back.astype(int) - frames).mean() < 12  # lossy codecs
    assert read_video(tmp_path / f"v{suffix}", size=(16, 16)).shape == (12, 16, 16)


def test_bad_video_inputs(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no frames"):
        read_video(tmp_path / "empty")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "000.jpg").write_bytes(b"not an image")
    with pytest.raises(InputError, match="cannot read frame"):
        read_video(tmp_path / "broken")
    (tmp_path / "junk.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(InputError, match="junk.mp4"):
        read_video(tmp_path / "junk.mp4")
    with pytest.raises(InputError, match="shorter than a clip"):
        ClipDataset([np.zeros((10, 8, 8), np.uint8)], clip_len=16)
    with pytest.raises(InputError, match="unknown video layout"):
        load_video_dataset(tmp_path)


def test_clips_are_views_in_minus_one_to_one():
    frames = np.arange(20 * 4 * 4, dtype=np.uint8).reshape(20, 4, 4)
    ds = ClipDataset([frames, frames[:17]], clip_len=16, stride=2)
    assert len(ds) == 3 + 2 and ds.starts == [[0, 2, 4], [0, 1]]
    clip = ds[1]
    assert clip.shape == (1, 16, 4, 4) and clip.min() >= -1 and clip.max() <= 1
    np.testing.assert_allclose(clip[0, 0].numpy(), frames[2] / 127.5 - 1, atol=1e-6)


def test_bench_video_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setitem(
        CONFIGS,
        "tiny",
        {
            "size": (32, 32),
            "clip_len": 8,
            "train_stride": 2,
            "channels": [4, 8, 8, 8],
            "mem_slots": 20,
            "shrink_threshold": None,
            "epochs": 15,
            "lr": 3e-3,
            "batch_size": 8,
        },
    )
    monkeypatch.setitem(BUDGETS, "ped2-tiny", {"ae": 12})  # AE's own budget, MemAE the config's
    root = frames_layout(tmp_path / "ped")
    bench = VideoBench(root, tmp_path / "out", config="tiny", models=["ae", "memae"])
    rows = run(bench).rows
    assert {r["model"] for r in rows} == {"ae", "memae"}
    assert {r["model"]: int(r["epochs"]) for r in rows} == {"ae": 12, "memae": 15}
    for r in rows:
        # Eq. 11 stretches the all-normal video to [0, 1] too, so micro AUC stays below 1
        assert float(r["micro_auc"]) > 0.75
        assert 0 <= float(r["pixel_auroc"]) <= 1
    lines = (tmp_path / "out" / "frame_scores" / "memae_seed0.csv").read_text().splitlines()
    assert lines[0] == "video,frame,score,normality,label" and len(lines) == 81
    first = [line.split(",") for line in lines[1:41]]
    worst = min(range(40), key=lambda i: float(first[i][3]))
    assert 16 <= worst < 34  # the noise segment (frames 20-29, smeared by 8-frame clips)
    assert (tmp_path / "out" / "figures" / "normality_memae.png").stat().st_size > 3000
    by_model = {r["model"]: r for r in rows}
    assert 0 < float(by_model["memae"]["memory_share"]) < 1
    assert float(by_model["ae"]["memory_share"]) == 0  # no memory, nothing timed
    assert "micro AUC" in (tmp_path / "out" / "results.md").read_text()
    assert "memory share" in (tmp_path / "out" / "results.md").read_text()
    assert (tmp_path / "out" / "models" / "memae_seed0" / "model.safetensors").exists()


def fit_clip_model(epochs=3, model="memae", **scoring):
    """A tiny MemAE (or another clip model) on 8-frame clips of a 16x16 moving square."""
    from memae import MemAEDetector

    options = (
        {"channels": [4, 8, 8], "context": 3} if "pred" in model else {"channels": [4, 4, 8, 8]}
    )
    return MemAEDetector(
        model,
        epochs=epochs,
        lr=3e-3,
        batch_size=8,
        scaling="none",
        random_state=0,
        mem_slots=10,
        model_options=options,
        **scoring,
    ).fit(ClipDataset([moving_square(40, size=16)], clip_len=8, stride=2))


@pytest.fixture(scope="module")
def clip_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clipmodel")
    det = fit_clip_model()
    det.save(folder / "m")
    return det, folder / "m"


@pytest.fixture(scope="module")
def predictor():
    return fit_clip_model(model="memae-pred")


@pytest.mark.parametrize("which", ["clip_model", "predictor"])
def test_stream_matches_batch_scoring(which, request):
    from memae.bench.video import score_videos
    from memae.data.video import Video
    from memae.stream import score_stream

    det = request.getfixturevalue(which)
    det = det[0] if isinstance(det, tuple) else det
    frames = moving_square(30, size=16, anomalous={12, 13})
    seen = []
    res = score_stream(
        det, iter(frames), top_k=3, batch_size=4, sink=lambda f, s, m: seen.append((f, s, m))
    )
    batch, maps = score_videos(det, [Video("v", frames)])
    np.testing.assert_allclose(res.scores, batch[0], rtol=1e-4)
    assert [s for _, s, _ in seen] == pytest.approx(res.scores.tolist(), rel=1e-6)
    np.testing.assert_allclose(np.stack([m for _, _, m in seen]), maps[0], rtol=1e-4, atol=1e-7)
    assert all(np.array_equal(f, g) for (f, _, _), g in zip(seen, frames, strict=True))
    assert len(res.worst) == 3 and res.worst[0][0] >= res.worst[-1][0]


def test_stream_memory_does_not_grow_with_length(clip_model):
    import tracemalloc

    from memae.stream import score_stream

    det, _ = clip_model

    def peak(n):
        frames = (moving_square(16, size=16)[i % 16] for i in range(n))
        tracemalloc.start()
        score_stream(det, frames, sink=lambda f, s, m: None)
        top = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return top

    short, long = peak(300), peak(3000)
    assert long < 1.5 * short + 200_000  # ten times the frames, about the same memory


def test_cli_scores_a_video_file_and_a_frame_folder(clip_model, tmp_path, capsys):
    from memae.cli import main

    _, model = clip_model
    frames = moving_square(30, size=16, anomalous={12, 13})
    write_video_file(tmp_path / "cam.avi", frames)
    np.save(tmp_path / "labels.npy", np.isin(np.arange(30), [12, 13]).astype(int))
    code = main(
        [
            "score",
            str(tmp_path / "cam.avi"),
            "--model",
            str(model),
            "--out",
            str(tmp_path / "out"),
            "--annotate",
            "--labels",
            str(tmp_path / "labels.npy"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    lines = (tmp_path / "out" / "frame_scores.csv").read_text().splitlines()
    assert lines[0] == "video,frame,score,normality" and len(lines) == 31
    for name in ("normality_cam.png", "heatmaps_cam.png"):
        assert (tmp_path / "out" / name).stat().st_size > 3000
    assert read_video_file(tmp_path / "out" / "cam_annotated.mp4").shape[0] == 30
    capsys.readouterr()
    csv_path = tmp_path / "out" / "frame_scores.csv"
    assert main(["evaluate", str(csv_path), "--labels", str(tmp_path / "labels.npy")]) == 0
    assert "micro AUC" in capsys.readouterr().out
    metrics = json.loads(csv_path.with_suffix(".metrics.json").read_text())
    normality = np.array([float(line.split(",")[3]) for line in lines[1:]])
    expected = micro_auc([np.load(tmp_path / "labels.npy")], [1 - normality])
    assert metrics["videos"] == 1 and metrics["micro_auc"] == pytest.approx(expected)
    labels = str(tmp_path / "labels.npy")
    assert main(["evaluate", str(csv_path), "--labels", labels, "--threshold", "0.5"]) == 1
    assert "--threshold and --top-fraction do not apply" in capsys.readouterr().err
    np.save(tmp_path / "graded.npy", np.arange(30) % 3)  # not 0/1 labels
    assert main(["evaluate", str(csv_path), "--labels", str(tmp_path / "graded.npy")]) == 1
    assert "labels must be 0 (normal) / 1 (anomaly)" in capsys.readouterr().err
    save_frames(tmp_path / "frames" / "01", frames)
    save_frames(tmp_path / "frames" / "02", moving_square(20, size=16))
    code = main(
        ["score", str(tmp_path / "frames"), "--model", str(model), "--out", str(tmp_path / "out2")]
    )
    assert code == 0, capsys.readouterr().err
    assert len((tmp_path / "out2" / "frame_scores.csv").read_text().splitlines()) == 51
    save_frames(tmp_path / "short", moving_square(5, size=16))
    code = main(
        ["score", str(tmp_path / "short"), "--model", str(model), "--out", str(tmp_path / "out3")]
    )
    assert code == 1 and "fewer than one clip" in capsys.readouterr().err


@pytest.mark.parametrize(("sigma", "top"), [(0.0, 1.0), (0.0, 0.05), (1.0, 1.0), (1.0, 0.05)])
def test_video_scores_are_decision_function(sigma, top, tmp_path, capsys):
    """`memae score` on a frame folder, the streaming scorer and the video bench give the frame
    scores of `decision_function` on the video's stride-1 clips, under every scoring rule."""
    from memae.bench.video import score_videos
    from memae.cli import main
    from memae.data.video import Video, iter_frames

    det = fit_clip_model(epochs=2, error_sigma=sigma, error_top=top)
    det.save(tmp_path / "m")
    save_frames(tmp_path / "frames" / "01", moving_square(30, size=16, anomalous={12}), "png")
    frames = np.stack(list(iter_frames(tmp_path / "frames" / "01", (16, 16))))
    clips = ClipDataset([frames], clip_len=8, stride=1)
    expected = frame_scores(det.decision_function(clips), clips.starts[0], len(frames), 8)

    argv = ["score", str(tmp_path / "frames"), "--model", str(tmp_path / "m")]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    lines = (tmp_path / "out" / "frame_scores.csv").read_text().splitlines()[1:]
    cli = np.array([float(line.split(",")[2]) for line in lines])
    np.testing.assert_allclose(cli, expected, rtol=1e-5)
    bench, _ = score_videos(det, [Video("01", frames)])
    np.testing.assert_allclose(bench[0], expected, rtol=1e-6)


def test_bench_video_from_the_command_line(tmp_path, monkeypatch, capsys):
    from memae.cli import main

    tiny = {**CONFIGS["cpu"], "size": (32, 32), "clip_len": 8, "channels": [4, 8, 8, 8]}
    monkeypatch.setitem(CONFIGS, "cpu", {**tiny, "mem_slots": 10, "epochs": 1, "batch_size": 8})
    root = frames_layout(tmp_path / "ped")
    argv = ["bench", "video", "--data-dir", str(root), "--models", "memae", "--no-figures"]
    code = main([*argv, "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "memae bench video: ped2" in out and "| memae |" in out
    assert len((tmp_path / "out" / "results.csv").read_text().splitlines()) == 2
    assert not (tmp_path / "out" / "figures").exists()


def test_a_failed_video_run_leaves_earlier_outputs_untouched(clip_model, tmp_path, capsys):
    from memae.cli import main

    _, model = clip_model
    write_video_file(tmp_path / "cam.avi", moving_square(30, size=16))
    np.save(tmp_path / "short.npy", np.zeros(10, int))
    argv = ["score", str(tmp_path / "cam.avi"), "--model", str(model), "--annotate"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    code = main([*argv, "--labels", str(tmp_path / "short.npy"), "--out", str(tmp_path / "out")])
    assert code == 1 and "fewer labels" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam.avi", "out", "short.npy"]


def test_annotated_video_is_the_footage_at_its_size_rate_and_colour(clip_model, tmp_path, capsys):
    import av

    from memae.cli import main

    _, model = clip_model
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(30, 24, 40, 3), dtype=np.uint8)
    frames[..., 0] = 200  # a strong red channel: colour must survive
    write_video_file(tmp_path / "street.avi", frames, fps=10)
    argv = ["score", str(tmp_path / "street.avi"), "--model", str(model), "--annotate"]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 0, capsys.readouterr().err
    with av.open(str(tmp_path / "out" / "street_annotated.mp4")) as container:
        stream = container.streams.video[0]
        assert float(stream.average_rate) == pytest.approx(10)
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 30 and decoded[0].shape == (24, 40, 3)  # not the model's 16x16
    top = decoded[0][:12].astype(int)  # above the score bar
    assert (top[..., 0] - top[..., 1]).mean() > 40  # colour, not grey
