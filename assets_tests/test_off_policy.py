"""Off-policy estimators on a bandit whose truth is known: a logging policy's data, another policy's value."""

import json

import numpy as np
import polars as pl
import pytest

from dataflywheel.cli import main
from dataflywheel.ranking import off_policy

CONTEXTS, ACTIONS = 400, 6


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    e = np.exp((scores - scores.max(axis=1, keepdims=True)) / temperature)
    return e / e.sum(axis=1, keepdims=True)


def _world(seed: int):
    """True click probabilities per (context, action); a logging policy that explores (softmax of
    noisy scores, mixed with uniform); a target policy that is sharper and differently wrong."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(1, 12, size=(CONTEXTS, ACTIONS))
    logging = 0.8 * _softmax(truth + rng.normal(0, 0.05, truth.shape), 0.05) + 0.2 / ACTIONS
    target = _softmax(truth + rng.normal(0, 0.02, truth.shape), 0.01)
    reward_model = np.clip(truth + rng.normal(0, 0.03, truth.shape), 0, 1)  # a decent, imperfect model
    value = float((target * truth).sum(axis=1).mean())  # contexts arrive uniformly
    return truth, logging, target, reward_model, value


def _log(world, n: int, rng: np.random.Generator) -> dict:
    truth, logging, target, reward_model, _ = world
    x = rng.integers(CONTEXTS, size=n)
    a = (rng.random((n, 1)) > np.cumsum(logging[x], axis=1)).sum(axis=1)  # an action drawn from logging
    return {
        "reward": (rng.random(n) < truth[x, a]).astype(float),
        "logging_propensity": logging[x, a],
        "target_propensity": target[x, a],
        "reward_hat_logged": reward_model[x, a],
        "reward_hat_target": (target[x] * reward_model[x]).sum(axis=1),
    }


def _estimators(log: dict) -> dict[str, off_policy.Estimate]:
    columns = [log[c] for c in ("reward", "logging_propensity", "target_propensity")]
    return {
        "ips": off_policy.ips(*columns),
        "snips": off_policy.snips(*columns),
        "doubly_robust": off_policy.doubly_robust(*columns, log["reward_hat_logged"], log["reward_hat_target"]),
        # What a naive reading of the logs says: the logging policy's click rate, not the target's.
        "logged_mean": off_policy.ips(log["reward"], log["logging_propensity"], log["logging_propensity"]),
    }


def test_each_estimators_interval_holds_the_target_policys_true_value_about_95_percent_of_the_time():
    world = _world(1)
    value = world[-1]
    covered = {name: 0 for name in ("ips", "snips", "doubly_robust", "logged_mean")}
    widths = {name: [] for name in covered}
    runs = 200
    for seed in range(runs):
        for name, e in _estimators(_log(world, 3_000, np.random.default_rng(seed))).items():
            covered[name] += e.ci_low <= value <= e.ci_high
            widths[name].append(e.ci_high - e.ci_low)
    for name in ("ips", "snips", "doubly_robust"):
        assert 0.90 <= covered[name] / runs <= 0.99, (name, covered[name] / runs)
    assert covered["logged_mean"] / runs < 0.2  # the logs alone answer another question: the test can tell
    assert np.mean(widths["doubly_robust"]) < np.mean(widths["ips"])  # a decent model cuts the variance


def test_the_target_policy_equal_to_the_logging_policy_gives_the_logged_mean():
    log = _log(_world(2), 5_000, np.random.default_rng(0))
    same = (log["reward"], log["logging_propensity"], log["logging_propensity"])
    assert off_policy.ips(*same).estimate == pytest.approx(log["reward"].mean())
    assert off_policy.snips(*same).estimate == pytest.approx(log["reward"].mean())


def test_a_row_the_logging_policy_could_not_have_taken_is_refused():
    with pytest.raises(ValueError, match="logging propensity"):
        off_policy.ips([1.0, 0.0], [0.5, 0.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="not finite"):  # a null read from Parquet: no estimate, not NaN
        off_policy.snips([1.0, float("nan")], [0.5, 0.5], [0.5, 0.5])


def test_the_command_prints_every_estimator_for_a_log_file(tmp_path, capsys):
    world = _world(3)
    log = _log(world, 20_000, np.random.default_rng(9))
    path = tmp_path / "log.parquet"
    pl.DataFrame(log).write_parquet(path)
    assert main(["ope", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"ips", "snips", "doubly_robust"}
    for estimate in printed.values():
        assert set(estimate) == {"estimate", "ci_low", "ci_high", "n"} and estimate["n"] == 20_000
        assert estimate["ci_low"] <= world[-1] <= estimate["ci_high"]
    pl.DataFrame(log).drop("reward_hat_logged", "reward_hat_target").write_parquet(path)
    assert main(["ope", str(path)]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"ips", "snips"}  # no reward model: no doubly robust
    pl.DataFrame(log).drop("reward").write_parquet(path)
    assert main(["ope", str(path)]) == 2
    assert "missing column(s) reward" in capsys.readouterr().err


def test_clipped_weights_bound_what_one_row_can_carry():
    reward = np.array([1.0, 0.0, 0.0, 0.0])
    logging_propensity = np.array([0.001, 0.5, 0.5, 0.5])
    target = np.array([1.0, 0.5, 0.5, 0.5])  # the first row's weight is 1,000
    assert off_policy.ips(reward, logging_propensity, target).estimate == pytest.approx(250.0)
    assert off_policy.ips(reward, logging_propensity, target, max_weight=20).estimate == pytest.approx(5.0)
    assert off_policy.snips(reward, logging_propensity, target, max_weight=20).estimate == pytest.approx(20 / 23)
