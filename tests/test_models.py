"""One contract test over the whole registry: every variant on every family."""

import pytest
import torch

from memae.models import VARIANTS, create_model, family_for, list_models
from memae.models.conv2d import default_layers
from memae.models.mlp import PAPER_KDD_HIDDEN

SHAPES = {
    "mlp": ((9,), {}),
    "conv2d-gray": ((1, 12, 12), {}),
    "conv2d-color": ((3, 16, 20), {}),
    "conv3d": ((1, 4, 16, 16), {"channels": (4, 4, 8, 8)}),
}
# (rank, small options) of the families that variants fix
OWN_FAMILY = {
    "unet": (3, {}),
    "map": (3, {}),
    "conv2d": (3, None),
    "pred": (4, {"channels": (4, 8, 8), "context": 2}),
}


def _case(name, shape_name):
    """The variant on that sample shape, if it runs there: a variant of its own family (U-Net,
    predictor) runs on the shapes of that family's rank, with that family's small options."""
    shape, kw = SHAPES[shape_name]
    fam = VARIANTS[name].family
    if fam is None:
        return shape, kw
    rank, options = OWN_FAMILY[fam]
    return (shape, kw if options is None else options) if len(shape) == rank else None


CASES = [(n, f) for n in list_models() for f in SHAPES if _case(n, f) is not None]


@pytest.mark.parametrize(("name", "family"), CASES)
def test_model_contract(name, family):
    torch.manual_seed(0)
    shape, kw = _case(name, family)
    model = create_model(name, shape, **kw)
    x = torch.randn(3, *shape)
    out = model(x)
    target = model.target(x)  # x, or a predictor's last frame
    assert out.reconstruction.shape == target.shape
    if model.predicts:
        assert target.shape == (3, shape[0], model.predicts, *shape[2:])
    assert torch.isfinite(out.reconstruction).all() and torch.isfinite(out.aux_loss)
    assert out.aux_loss.dim() == 0
    if VARIANTS[name].bottleneck in ("memory", "memory-local", "mnad"):
        assert out.weights is not None and out.weights.shape[:2] == (3, model.memory.num_slots)
    else:
        assert out.weights is None and model.memory is None
    scores_itself = VARIANTS[name].head is not None or VARIANTS[name].kind != "autoencoder"
    assert (out.score is not None) == scores_itself
    if scores_itself:
        assert out.score.shape == (3,) and torch.isfinite(out.score).all()
    ((out.reconstruction - target) ** 2).mean().add(out.aux_loss).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{pname} has a non-finite gradient"
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x).reconstruction, model(x).reconstruction)
        if scores_itself:
            torch.testing.assert_close(model(x).score, model(x).score)


def test_paper_architectures():
    mnist = create_model("memae", (1, 28, 28))
    assert mnist.latent_shape == (8, 3, 3) and mnist.memory.num_slots == 100
    assert mnist.memory.dim == 72
    cifar = create_model("memae", (3, 32, 32))
    assert cifar.latent_shape == (256, 2, 2) and cifar.memory.num_slots == 500
    kdd = create_model("memae", (120,), hidden=PAPER_KDD_HIDDEN)
    assert kdd.memory.num_slots == 50 and kdd.memory.dim == 3
    widths = [m.out_features for m in kdd.encoder if isinstance(m, torch.nn.Linear)]
    assert widths == [60, 30, 10, 3]
    for d, code in ((3, 2), (6, 2), (40, 10), (120, 30), (500, 32)):  # the tabular preset
        net = create_model("ae", (d,))
        widths = [m.out_features for m in net.encoder if isinstance(m, torch.nn.Linear)]
        assert widths == sorted(widths, reverse=True) and widths[-1] == code
        assert widths[0] >= max(64, d // 2) and net.memory is None
    video = create_model("memae", (1, 16, 64, 64))
    assert video.latent_shape == (256, 2, 4, 4) and video.memory.num_slots == 2000
    assert not video.flatten and video.memory.dim == 256


def test_variants_are_configurations():
    assert create_model("memae-nonspar", (5,)).memory.shrink_threshold == 0
    assert create_model("memae-nonspar", (5,)).bottleneck.entropy_weight == 0
    assert create_model("memae-noentropy", (5,)).memory.shrink_threshold == pytest.approx(1 / 50)
    assert create_model("memae", (5,), mem_slots=10, similarity="cosine").memory.num_slots == 10
    with pytest.raises(ValueError, match="fixes"):
        create_model("memae-nonspar", (5,), shrink_threshold=0.1)
    with pytest.raises(ValueError, match="unknown option"):
        create_model("ae", (5,), hiden=(3,))
    with pytest.raises(ValueError, match="unknown model"):
        create_model("memea", (5,))


def test_family_from_rank_and_odd_sizes():
    assert [family_for(s) for s in [(4,), (1, 8, 8), (1, 2, 8, 8)]] == ["mlp", "conv2d", "conv3d"]
    with pytest.raises(ValueError, match="rank"):
        family_for((3, 4))
    for shape in [(1, 27, 31), (3, 65, 64), (1, 7, 7)]:
        m = create_model("ae", shape)
        assert m(torch.randn(2, *shape)).reconstruction.shape == (2, *shape)
    assert len(default_layers(3, 256, 256)) == 7  # three extra stride-2 layers down to 32


def test_decode_memory_slots_shapes():
    assert create_model("memae", (1, 28, 28)).decode_memory_slots().shape == (100, 1, 28, 28)
    clip = create_model("memae", (1, 4, 16, 16), channels=(4, 4, 8, 8), mem_slots=6)
    assert clip.decode_memory_slots().shape == (6, 1, 4, 16, 16)


def test_unet_skip_levels():
    x = torch.randn(2, 1, 13, 11)
    fused_in = {}
    for skips in (0, 1, 2, None):
        m = create_model("arnet", (1, 13, 11), channels=(4, 8, 16), skips=skips)
        assert m(x).reconstruction.shape == x.shape
        # a level with a skip fuses twice its width: [finest, coarsest] input channels
        fused_in[skips] = [f[0].in_channels for f in m.decoder.fuse]
    assert fused_in == {0: [4, 8], 1: [4, 16], 2: [8, 16], None: [8, 16]}
    with pytest.raises(ValueError, match="skips"):
        create_model("arnet", (1, 13, 11), channels=(4, 8, 16), skips=3)


def test_memory_block_reads_blocks():
    """memory_block=b: one query of C * b * b values per b x b block of the code (DAAD)."""
    torch.manual_seed(0)
    m = create_model("memae", (1, 16, 12), family="unet", channels=(4, 8), skips=0, memory_block=2)
    assert m.memory.dim == 8 * 2 * 2  # the code is (8, 8, 6): 4 x 3 blocks
    out = m(torch.randn(2, 1, 16, 12))
    assert out.reconstruction.shape == (2, 1, 16, 12)
    assert out.weights.shape == (2, m.memory.num_slots, 4, 3)
    # a block's read-out depends on that block's code only, and lands where the block was
    z = torch.randn(1, 8, 8, 6)
    z2 = z.clone()
    z2[:, :, :2, :2] += 1.0  # the top-left block changes
    a, b = (m.bottleneck(v)[0] for v in (z, z2))
    assert not torch.allclose(a[:, :, :2, :2], b[:, :, :2, :2])
    torch.testing.assert_close(a[:, :, 2:], b[:, :, 2:])
    torch.testing.assert_close(a[:, :, :, 2:], b[:, :, :, 2:])
    assert m.bottleneck.decode_slots((8, 6)).shape == (m.memory.num_slots, 8, 8, 6)
    assert m.decode_memory_slots().shape == (m.memory.num_slots, 1, 16, 12)  # no skips: Fig. 3
    with pytest.raises(ValueError, match="skip connections"):
        create_model("arnet-mem", (1, 16, 12), channels=(4, 8)).decode_memory_slots()
    ms = create_model(
        "memae", (1, 16, 16), family="unet", channels=(4, 8, 8), memory_block=2, memory_scales=2
    )
    assert ms(torch.randn(2, 1, 16, 16)).reconstruction.shape == (2, 1, 16, 16)
    assert ms.skip_bottlenecks["1"].inner.memory.dim == 8 * 4
    unet = {"family": "unet", "channels": (4, 8)}
    for bad in (
        {"memory_block": 2},
        {"memory_block": 3, **unet},
        {"memory_block": "2", **unet},
        {"memory_block": 0, **unet},
    ):
        with pytest.raises(ValueError, match="memory_block"):
            create_model("memae", (1, 16, 16), **bad)
