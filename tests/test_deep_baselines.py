"""The papers' deep baselines (DAGMM, DCN, DSEBM, PixCNN) and the untrained floor: the estimator
contract at tiny size, each scored by its own score through the one scoring path."""

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from memae import InputError, MemAEDetector
from memae.bench.common import make_detector
from memae.models import create_model
from memae.models.dagmm import energy, mixture
from memae.models.dcn import KMeansHead

SELF_SCORING = ["dagmm", "dcn", "dsebm"]


@pytest.mark.parametrize("model", SELF_SCORING)
def test_fits_scores_itself_and_round_trips(model, blobs, tmp_path):
    normal, anomalies = blobs
    det = MemAEDetector(model, epochs=15, random_state=0, threads=1, verbose=False).fit(normal)
    test = np.r_[normal[:30], anomalies]
    scores = det.decision_function(test)
    assert roc_auc_score(np.r_[np.zeros(30), np.ones(30)], scores) > 0.9
    # the reported score is the model's own, not its reconstruction error
    out = det.scorer()(torch.from_numpy(test))
    torch.testing.assert_close(out.score, out.model.score.float())
    assert not torch.allclose(out.score, out.error.mean(1))
    assert 0.0 < det.labels_.mean() < 0.3  # a label-free threshold on held-out scores
    det.save(tmp_path / model)
    loaded = MemAEDetector.load(tmp_path / model)
    np.testing.assert_allclose(loaded.decision_function(test), scores, rtol=1e-6)
    assert loaded.threshold_ == det.threshold_


@pytest.mark.parametrize("model", [*SELF_SCORING, "pixcnn"])
def test_images(model):
    rng = np.random.default_rng(0)
    X = rng.random((40, 1, 12, 12), dtype=np.float32)
    det = MemAEDetector(model, epochs=2, random_state=0, threads=1, verbose=False).fit(X)
    assert np.isfinite(det.decision_function(X[:5])).all()


def test_dagmm_mixture_and_energy_are_the_papers():
    # one component: the energy is the Gaussian negative log-density
    f = torch.randn(500, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    phi, mu, cov = mixture(f, torch.ones(500, 1, dtype=torch.float64), ridge=0.0)
    torch.testing.assert_close(mu[0], f.mean(0))
    torch.testing.assert_close(cov[0], torch.cov(f.t(), correction=0))
    gauss = torch.distributions.MultivariateNormal(mu[0], cov[0])
    torch.testing.assert_close(energy(f, phi, mu, cov), -gauss.log_prob(f))
    net = create_model("dagmm", (10,), hidden=[8, 4, 1])
    assert net.head.mu.shape == (4, 3)  # the paper's KDD setting: 1-d code + 2 features, K = 4


def test_dcn_centres_are_running_means_of_their_codes():
    head = KMeansHead(code_width=2, clusters=2, kmeans_weight=0.1).train()
    head.centres.copy_(torch.tensor([[0.0, 0.0], [10.0, 10.0]]))
    head.seeded.fill_(True)
    z = torch.tensor([[1.0, 1.0], [3.0, 1.0], [9.0, 9.0]])
    score, term = head(z, z, z)
    torch.testing.assert_close(head.centres, torch.tensor([[2.0, 1.0], [9.0, 9.0]]))
    torch.testing.assert_close(head.counts, torch.tensor([2.0, 1.0]))
    torch.testing.assert_close(score, torch.tensor([2**0.5, 10**0.5, 2**0.5]))
    assert term > 0


def test_dsebm_reconstruction_is_x_minus_the_energy_gradient():
    net = create_model("dsebm", (6,)).eval()
    x = torch.randn(4, 6)
    out = net(x)
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net.energy(xg).sum(), xg)
    torch.testing.assert_close(out.reconstruction, x - grad)
    torch.testing.assert_close(out.score, net.energy(x).detach())
    assert create_model("dsebm", (6,), dsebm_score="reconstruction")(x).score is None  # DSEBM-r


@pytest.mark.parametrize(("model", "why"), [("dsebm", "gradient"), ("dagmm", "Cholesky")])
def test_what_onnx_cannot_express_is_refused_in_one_line(model, why, blobs, tmp_path):
    pytest.importorskip("onnx")
    det = MemAEDetector(model, epochs=1, threads=1, verbose=False).fit(blobs[0])
    with pytest.raises(InputError, match=f"cannot be exported.*{why}"):
        det.export_onnx(tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_dsebm_asked_to_compile_trains_eagerly(blobs, caplog):
    with caplog.at_level("WARNING", logger="memae.fitting"):
        det = MemAEDetector("dsebm", epochs=1, compile=True, threads=1, verbose=False)
        det.fit(blobs[0])
    assert "training it eagerly" in caplog.text and np.isfinite(det.decision_scores_).all()


def test_dagmm_energy_of_two_components_is_the_mixtures():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(300, 2, dtype=torch.float64, generator=g)
    gamma = torch.softmax(torch.randn(300, 2, dtype=torch.float64, generator=g), 1)
    phi, mu, cov = mixture(f, gamma, ridge=0.0)
    torch.testing.assert_close(phi, gamma.mean(0))
    gmm = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(phi), torch.distributions.MultivariateNormal(mu, cov)
    )
    torch.testing.assert_close(energy(f, phi, mu, cov), -gmm.log_prob(f))


def test_untrained_floor_is_epochs_zero(blobs):
    normal, anomalies = blobs
    training = {"threads": 1, "verbose": False}
    untrained = make_detector("memae:epochs=0", 0, training, "cpu").fit(normal)
    trained = make_detector("memae:epochs=2", 0, training, "cpu").fit(normal)
    assert untrained.history_.train_loss == [] and untrained.schedule_.epochs == 0
    assert len(trained.history_.train_loss) == 2
    params = zip(untrained.model_.parameters(), trained.model_.parameters(), strict=True)
    assert not all(torch.equal(a, b) for a, b in params)  # the same seed, never trained
    assert np.isfinite(untrained.decision_function(anomalies)).all()


def test_pixcnn_is_autoregressive_and_scores_by_likelihood():
    net = create_model("pixcnn", (2, 8, 8), pixel_width=8, pixel_blocks=2).eval()
    x = torch.rand(1, 2, 8, 8, requires_grad=True)
    logits = net.decoder(net.encoder(x))  # (1, 2 * levels, 8, 8)
    logits[0, :, 3, 4].sum().backward()
    seen = x.grad[0].abs().sum(0)  # (8, 8): the inputs that pixel (3, 4) depends on
    assert seen[:3].sum() > 0 and seen[3, :4].sum() > 0
    assert seen[3, 4:].sum() == 0 and seen[4:].sum() == 0  # not itself, nothing after it
    out = net(x.detach())
    assert out.score.shape == (1,) and out.reconstruction.shape == x.shape
    # the fitted term is the NLL per value: about log(levels) for an untrained net
    with torch.no_grad():
        loss = net.reconstruction_loss(net(x.detach()), x.detach())
    assert abs(float(loss) - np.log(256)) < 0.5


def test_pixcnn_flags_images_unlike_its_training_images():
    rng = np.random.default_rng(0)
    smooth = np.repeat(np.linspace(0, 1, 8, dtype=np.float32)[None, None, None], 8, 2)
    X = np.clip(smooth + 0.02 * rng.standard_normal((60, 1, 8, 8)), 0, 1).astype(np.float32)
    noise = rng.random((10, 1, 8, 8), dtype=np.float32)
    det = MemAEDetector("pixcnn", epochs=20, random_state=0, threads=1, verbose=False)
    det.set_params(model_options={"pixel_width": 8, "pixel_blocks": 2}, scaling="none").fit(X)
    scores = det.decision_function(np.r_[X[:10], noise])
    assert roc_auc_score(np.r_[np.zeros(10), np.ones(10)], scores) > 0.95
    assert det.history_.val_loss[-1] < det.history_.val_loss[0]  # the NLL fell
