"""The ranker before and after learning: priors for a cold model, and a signal it can pick up."""

import numpy as np
import polars as pl
import pytest

from dataflywheel.ranking import metrics
from dataflywheel.ranking.inputs import model_inputs
from dataflywheel.ranking.ranker import Ranker, progressive_metrics
from helpers import random_examples


def test_a_cold_model_predicts_the_base_rates_not_one_half():
    ranker = Ranker(click_prior=0.04, engage_prior=0.3)
    predicted = ranker.predict(random_examples(200, seed=1))
    np.testing.assert_allclose(predicted["p_click"], 0.04)
    np.testing.assert_allclose(predicted["p_engage"], 0.3)
    np.testing.assert_allclose(predicted["score"], 0.04 + 2.0 * 0.04 * 0.3)


def test_learning_picks_up_a_feature_that_drives_clicks():
    examples = random_examples(20_000, seed=2)
    # Clicks follow same_team: the model must learn to rank same-team items higher.
    same_team = examples.get_column("same_team").to_numpy()
    clicked = np.random.default_rng(3).random(examples.height) < np.where(same_team, 0.15, 0.02)
    examples = examples.with_columns(clicked=pl.Series(clicked))
    ranker = Ranker()
    train, test = examples.head(15_000), examples.tail(5_000)
    before = progressive_metrics(train, ranker.score_then_learn(train))
    assert before["auc_click"] == pytest.approx(0.5)  # the cold model ranks nothing
    after = metrics.auc(test.get_column("clicked").to_numpy(), ranker.predict(test)["p_click"])
    assert after > 0.55  # a binary feature caps it at ~0.75; one gradient step per batch learns slowly


def test_the_matrix_scorer_gives_what_river_predicts_and_each_row_alone_as_in_any_batch():
    """The service scores on a matrix of inputs instead of through River's data frames: the
    numbers are River's (to rounding), and a row's prediction is the same to the bit whether it
    is scored alone or with any other rows (requests are batched together)."""
    examples = random_examples(3_000, seed=4)
    ranker = Ranker()
    ranker.learn_many(examples.head(2_000))
    held_out = examples.tail(1_000)
    X = model_inputs(held_out)
    predicted = ranker.predict(held_out)
    np.testing.assert_allclose(predicted["p_click"], ranker.click.predict_proba_many(X)[True], rtol=1e-12)
    np.testing.assert_allclose(predicted["p_engage"], ranker.engage.predict_proba_many(X)[True], rtol=1e-12)
    assert np.unique(predicted["p_click"]).size > 100  # learned weights, not the prior everywhere
    matrix, columns = X.to_numpy(), list(X.columns)
    for start, stop in ((0, 1), (17, 18), (5, 400), (999, 1000)):
        alone = ranker.predict_matrix(matrix[start:stop], columns)
        for name in ("p_click", "p_engage", "score"):
            assert np.array_equal(alone[name], predicted[name][start:stop]), (name, start, stop)
