import math

import pytest
import torch

from memae.memory import (
    Memory,
    UsageMeter,
    addressing_entropy,
    collapse,
    hard_shrink,
    l1_normalize,
)


def test_shrinkage_zeroes_below_threshold_and_keeps_the_rest_proportional():
    w = torch.tensor([[0.5, 0.3, 0.15, 0.05]])
    out = l1_normalize(hard_shrink(w, 0.1))
    assert out[0, 3] == 0
    kept = torch.tensor([0.5, 0.3, 0.15])
    torch.testing.assert_close(out[0, :3], kept / kept.sum())


def test_renormalised_rows_sum_to_one_or_stay_all_zero():
    w = torch.tensor([[0.2, 0.2, 0.6], [0.01, 0.02, 0.03]])
    out = l1_normalize(hard_shrink(w, 0.1))
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out.sum(1), torch.tensor([1.0, 0.0]))
    assert (out[1] == 0).all()


def test_all_zero_rows_from_the_module_are_zero_not_nan():
    mem = Memory(10, 4, shrink_threshold=0.5, similarity="cosine", temperature=100.0)
    read = mem(torch.randn(8, 4))  # near-uniform weights, all below 0.5
    assert (read.weights == 0).all() and (read.output == 0).all()


def test_entropy_matches_hand_computation():
    w = torch.tensor([[0.5, 0.5, 0.0], [0.25, 0.25, 0.5]])
    expected = (math.log(2) + (2 * 0.25 * math.log(4) + 0.5 * math.log(2))) / 2
    assert addressing_entropy(w) == pytest.approx(expected, rel=1e-6)


def test_only_addressed_slots_receive_gradient():
    torch.manual_seed(0)
    mem = Memory(20, 8, shrink_threshold=0.08, similarity="dot")
    with torch.no_grad():
        mem.weight.mul_(8)  # peaky addressing, so several slots fall under the threshold
    read = mem(torch.randn(3, 8))
    (read.output.pow(2).sum() + addressing_entropy(read.weights)).backward()
    addressed = (read.weights > 0).any(0)
    assert 0 < addressed.sum() < 20
    grad = mem.weight.grad.abs().sum(1)
    assert (grad[addressed] > 0).all()
    assert grad[~addressed].max() <= 1e-6 * grad[addressed].max()


@pytest.mark.parametrize("similarity", ["dot", "cosine", "scaled_dot"])
def test_weights_are_a_distribution_over_slots(similarity):
    mem = Memory(16, 5, shrink_threshold=1 / 16, similarity=similarity)
    w = mem(torch.randn(7, 5)).weights
    assert w.shape == (7, 16) and (w >= 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(7))


def test_cosine_ignores_query_norm_and_dot_does_not():
    torch.manual_seed(1)
    q = torch.randn(4, 6)
    cos, dot = Memory(12, 6, 0.0, "cosine"), Memory(12, 6, 0.0, "dot")
    torch.testing.assert_close(cos(q).weights, cos(5 * q).weights)
    assert not torch.allclose(dot(q).weights, dot(5 * q).weights)


def test_cosine_temperature_sharpens_addressing():
    torch.manual_seed(2)
    q = torch.randn(32, 6)
    soft = Memory(50, 6, 0.0, "cosine", temperature=1.0)
    sharp = Memory(50, 6, 0.0, "cosine", temperature=0.05)
    sharp.weight.data.copy_(soft.weight.data)
    assert addressing_entropy(sharp(q).weights) < addressing_entropy(soft(q).weights)


def test_feature_map_is_one_query_per_location():
    torch.manual_seed(3)
    mem = Memory(10, 4, shrink_threshold=0.1)
    z = torch.randn(2, 4, 3, 5)
    read = mem(z)
    assert read.output.shape == z.shape and read.weights.shape == (2, 10, 3, 5)
    flat = mem(z[:, :, 1, 2])
    torch.testing.assert_close(read.output[:, :, 1, 2], flat.output)
    torch.testing.assert_close(read.weights[:, :, 1, 2], flat.weights)
    assert mem(torch.randn(2, 4, 2, 3, 3)).weights.shape == (2, 10, 2, 3, 3)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="similarity"):
        Memory(4, 4, similarity="euclid")
    with pytest.raises(ValueError, match="shrink_threshold"):
        Memory(4, 4, shrink_threshold=1.5)
    with pytest.raises(ValueError, match="expects"):
        Memory(4, 4)(torch.randn(3, 5))


def test_usage_meter_counts_slots_and_nonzeros():
    meter = UsageMeter(4)
    meter.update(torch.tensor([[1.0, 0, 0, 0], [0.5, 0.5, 0, 0]]))
    meter.update(torch.tensor([[0.0, 0, 0, 0]]))
    s = meter.summary()
    assert s["slots_addressed"] == 2 and s["num_slots"] == 4
    assert s["mean_nonzero_per_query"] == pytest.approx(1.0)
    assert s["zero_rows_fraction"] == pytest.approx(1 / 3)
    # slot usage: the share of addressed queries whose largest weight is on each slot
    assert s["slot_usage"] == [1.0, 0.0, 0.0, 0.0] and s["effective_slots"] == pytest.approx(1)


def test_effective_slots_count_how_evenly_the_queries_spread():
    even, one = UsageMeter(8), UsageMeter(8)
    even.update(torch.eye(8).repeat(3, 1))
    one.update(torch.eye(8)[[5] * 24])
    assert even.summary()["effective_slots"] == pytest.approx(8)
    assert collapse(even.summary()) is None
    assert one.summary()["effective_slots"] == pytest.approx(1)
    assert "one slot takes 100% of the queries" in collapse(one.summary())
    merged = UsageMeter.merge([even, one]).summary()  # the ranks of a distributed fit
    assert merged["slot_usage"][5] == pytest.approx((3 + 24) / 48)


def test_scaled_dot_is_the_dot_product_over_sqrt_c():
    torch.manual_seed(0)
    dot = Memory(10, 64, shrink_threshold=0, similarity="dot")
    scaled = Memory(10, 64, shrink_threshold=0, similarity="scaled_dot")
    scaled.weight.data.copy_(dot.weight.data)
    q = torch.randn(5, 64) * 4
    expected = torch.softmax(q @ dot.weight.t() / 8, dim=1)
    torch.testing.assert_close(scaled.address(q), expected)


def test_module_time_counts_only_the_timed_module_and_unhooks():
    import time

    from torch import nn

    from memae.timing import module_time

    class Slow(nn.Module):
        def forward(self, x):
            time.sleep(0.02)
            return x

    slow = Slow()
    net = nn.Sequential(nn.Linear(4, 4), slow)
    with module_time(slow) as t:
        net(torch.zeros(2, 4))
        net(torch.zeros(2, 4))
    assert t.calls == 2 and 0.04 <= t.seconds < 0.5
    net(torch.zeros(2, 4))  # hooks removed: no more counting
    assert t.calls == 2
    with module_time(None) as none:
        net(torch.zeros(2, 4))
    assert none.seconds == 0.0 and none.calls == 0


def test_reseed_replaces_slots_no_query_took_before_the_next_batch():
    torch.manual_seed(0)
    mem = Memory(4, 2, shrink_threshold=0.0, similarity="cosine", reseed=2).train()
    with torch.no_grad():
        mem.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]))
    q = torch.tensor([[2.0, 0.1], [0.1, 3.0]])  # they take slots 0 and 1 only
    before = mem.weight.detach().clone()
    for _ in range(2):
        mem(q).output.sum().backward()  # the weight stays as it was under its backward
    torch.testing.assert_close(mem.weight.detach(), before)
    mem(q)  # the next batch starts by replacing slots 2 and 3 with queries of the last one
    new = mem.weight.detach()
    torch.testing.assert_close(new[:2], before[:2])
    assert all(any(torch.equal(row, x) for x in q) for row in new[2:])
    # the counts are saved with the model (a resumed training state re-seeds on time); a
    # memory without re-seeding keeps the state of before
    assert {"hits", "batches"} <= set(mem.state_dict()) and int(mem.batches) == 3
    assert list(Memory(4, 2).state_dict()) == ["weight"]
    untouched = Memory(4, 2, similarity="cosine").train()
    w0 = untouched.weight.detach().clone()
    for _ in range(3):
        untouched(q)
    torch.testing.assert_close(untouched.weight.detach(), w0)


def test_a_memory_per_position_reads_only_its_own_slots():
    from memae.memory import LocalMemory

    mem = LocalMemory(positions=2, num_slots=3, dim=4, shrink_threshold=0.0)
    with torch.no_grad():
        mem.weight.zero_()
        mem.weight[0, 0] = torch.tensor([9.0, 0, 0, 0])  # position 0 knows only e1
        mem.weight[1, 1] = torch.tensor([0, 9.0, 0, 0])  # position 1 only e2
    z = torch.tensor([1.0, 0, 0, 0]).reshape(1, 4, 1, 1).expand(1, 4, 1, 2).contiguous()
    with torch.no_grad():
        read = mem(z)  # the same query at both positions
    assert read.output.shape == z.shape and read.weights.shape == (1, 3, 1, 2)
    assert read.weights[0, 0, 0, 0] > 0.99  # position 0 takes its slot 0
    torch.testing.assert_close(read.weights[0, :, 0, 1], torch.full((3,), 1 / 3))  # no match
    assert read.output[0, 0, 0, 0] > 8.9 and read.output[0, 1, 0, 1] == pytest.approx(3.0)
    assert mem.decode_slots((1, 2)).shape == (3, 4, 1, 2)
    with pytest.raises(ValueError, match="2 positions"):
        mem(torch.randn(1, 4, 3, 1))
    with pytest.raises(ValueError, match="re-seed"):
        LocalMemory(2, 3, 4, reseed=5)


def test_mnad_items_move_to_their_queries_while_training_only():
    from memae.models.mnad import MNADBottleneck

    torch.manual_seed(0)
    mnad = MNADBottleneck(num_slots=4, dim=8, compact_weight=0.1, separate_weight=0.1, margin=1.0)
    q = torch.nn.functional.normalize(torch.randn(1, 8), dim=1)
    z = q.reshape(1, 8, 1, 1).expand(6, 8, 2, 2).contiguous()  # 24 queries, all equal
    nearest = int((q @ mnad.memory.items.t()).argmax())
    gap = (mnad.memory.items[nearest] - q[0]).norm()
    mnad.eval()
    before = mnad.memory.items.clone()
    out, w, aux = mnad(z)
    assert out.shape == z.shape and w.shape == (6, 4, 2, 2) and float(aux) == 0
    assert torch.equal(mnad.memory.items, before)  # scoring never changes the model
    mnad.train()
    _, _, aux = mnad(z)
    assert float(aux) > 0  # compactness: the queries are not on an item yet
    items = mnad.memory.items
    torch.testing.assert_close(items.norm(dim=1), torch.ones(4))
    assert (items[nearest] - q[0]).norm() < gap  # the nearest item moved towards them
    others = [i for i in range(4) if i != nearest]
    torch.testing.assert_close(items[others], before[others])  # the others stayed
