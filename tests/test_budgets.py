"""Every preset budget is a model's own, read by the rule off that model's committed curve."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from memae.bench.budgets import BUDGETS, CURVES, rule
from memae.bench.common import parse_model, with_budget
from memae.models.registry import list_models

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
ENTRIES = [(preset, model) for preset, models in BUDGETS.items() for model in models]


@pytest.mark.parametrize(("preset", "model"), ENTRIES)
def test_each_budget_is_the_rule_on_that_models_own_curve(preset: str, model: str):
    assert model in list_models()
    path, column, spec = CURVES[preset, model]
    with open(RESULTS / path, newline="") as f:
        rows = list(csv.DictReader(f))
    if spec is not None:  # never one model's curve for another, nor another setup's
        assert parse_model(spec)[0] == model
        assert {r["model"] for r in rows} == {spec}
    assert rule([float(r[column]) for r in rows]) == BUDGETS[preset][model]
    assert BUDGETS[preset][model] < len(rows)  # read off a longer run


def test_the_rule_is_where_the_running_mean_comes_within_reach_of_its_end():
    losses = [1.0, 0.5, 0.3, 0.2, 0.2, 0.2, 0.2]
    assert rule(losses, within=0.05, smooth=1) == 4
    assert rule(losses, within=0.05, smooth=3) == 6  # 0.2 once the 0.3 leaves the mean
    assert rule([1.0, 0.5], within=1.0, smooth=1) == 1
    with pytest.raises(ValueError, match="ends above zero"):  # DAGMM's objective: no share
        rule([0.3, -0.5, -0.7, -0.8])


def test_a_budget_is_the_models_unless_the_bench_was_given_its_epochs():
    training = {"epochs": 100, "lr": 1e-3}
    mine = BUDGETS["mnist"]["vae"]
    assert with_budget(training, BUDGETS["mnist"], "vae:beta=2", None)["epochs"] == mine
    assert with_budget(training, BUDGETS["mnist"], "vae", 7)["epochs"] == 100  # --epochs given
    assert with_budget(training, BUDGETS["mnist"], "ocsvm", None) == training  # no budget
