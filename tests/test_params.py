"""The one parameter table (memae.params) against the estimator, the CLI and the PyOD wrapper."""

import inspect

import numpy as np
import pytest

from memae import InputError, MemAEDetector
from memae.cli import CLI_DEFAULTS, build_parser
from memae.fitting import AUTO_TRAINING, resolve_schedule
from memae.models import list_families
from memae.models.registry import BOTTLENECK_DEFAULTS
from memae.params import DEFAULTS, MODEL_KEYS, PARAMS


def test_signature_is_the_table():
    sig = inspect.signature(MemAEDetector.__init__).parameters
    names = [n for n in sig if n != "self"]
    assert names == [p.name for p in PARAMS]
    assert {n: sig[n].default for n in names} == DEFAULTS


def test_every_parameter_is_a_train_flag_with_the_table_default():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    actions = {a.dest: a for a in train._actions}
    for p in PARAMS:
        if p.name == "verbose":  # --quiet
            assert "quiet" in actions
            continue
        assert p.name in actions, p.name
        assert p.cli_flag in actions[p.name].option_strings
        assert actions[p.name].default == CLI_DEFAULTS.get(p.name, p.default), p.name
        assert p.help in actions[p.name].help


def test_cli_model_options_are_json():
    args = build_parser().parse_args(
        ["train", "x.csv", "--out", "m", "--model-options", '{"hidden": [8, 4]}', "--lr", "auto"]
    )
    assert args.model_options == {"hidden": [8, 4]} and args.lr == "auto"
    assert build_parser().parse_args(["train", "x", "--out", "m", "--epochs", "7"]).epochs == 7


def test_pyod_wrapper_defaults_are_the_detectors():
    pytest.importorskip("pyod")
    from memae.pyod import MemAE

    sig = inspect.signature(MemAE.__init__).parameters
    for name, p in sig.items():
        if name in DEFAULTS:
            assert p.default == DEFAULTS[name], name


def test_memory_keys_are_bottleneck_settings_and_every_family_has_a_budget():
    assert set(MODEL_KEYS) <= set(BOTTLENECK_DEFAULTS)
    assert set(list_families()) == set(AUTO_TRAINING)


def test_a_setting_given_twice_is_an_error_naming_both():
    X = np.zeros((8, 3), np.float32)
    with pytest.raises(InputError, match=r"mem_slots=10 and as model_options\['mem_slots'\]=20"):
        MemAEDetector(mem_slots=10, model_options={"mem_slots": 20}).fit(X)
    with pytest.raises(InputError, match="epochs is a detector parameter"):
        MemAEDetector(model_options={"epochs": 3}).fit(X)
    det = MemAEDetector(model_options={"mem_slots": 7}, epochs=1, random_state=0).fit(X + 1)
    assert det.model_.memory.num_slots == 7  # given once, in model_options: fine


@pytest.mark.parametrize(
    ("name", "value"),
    [("epochs", -1), ("epochs", "many"), ("lr", 0), ("batch_size", 2.5), ("verbose", -1)],
)
def test_constraints_come_from_the_table(name, value):
    with pytest.raises(InputError, match=f"{name}="):
        MemAEDetector(**{name: value}).fit(np.zeros((8, 3)))


def test_auto_schedule_is_sized_by_the_data():
    big = resolve_schedule("mlp", 100_000, "auto", "auto", "auto")
    small = resolve_schedule("mlp", 60, "auto", "auto", "auto")
    assert (big.epochs, big.batch_size, big.lr) == (10, 128, 1e-3)
    assert (small.epochs, small.batch_size) == (200, 8)  # several steps an epoch
    assert resolve_schedule("conv3d", 1000, 4, 2, 0.5) == type(big)(4, 2, 0.5)
    det = MemAEDetector(epochs=1, random_state=0).fit(
        np.random.default_rng(0).normal(size=(300, 4))
    )
    assert det.schedule_ == resolve_schedule("mlp", 270, 1, "auto", "auto")


def test_the_shrinkage_range_is_the_parameter_tables():
    """The table refuses what the memory cannot take (a weight is at most 1): lam in [0, 1)."""
    from memae.params import BY_NAME

    kind = BY_NAME["shrink_threshold"].kind
    assert kind.accepts(0.0) and kind.accepts(0.99) and not kind.accepts(1.0)
    with pytest.raises(InputError, match=r"invalid parameter: shrink_threshold=1.0"):
        MemAEDetector(shrink_threshold=1.0).fit(np.zeros((8, 3), np.float32))
