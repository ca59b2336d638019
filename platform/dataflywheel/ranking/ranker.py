"""The multi-objective ranker: one online River model per objective, combined into one score.

``P(click)`` learns from every impression, ``P(engaged | click)`` from clicked ones; the
ranking score is ``w_click * P(click) + w_engage * P(click) * P(engaged | click)``. Both
learn with ``learn_many`` mini-batches, hour after hour, from the previous hour's state.
A new model starts from the base rates (its intercepts), not from 0.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import polars as pl
from river import linear_model, optim

from dataflywheel.ranking import metrics
from dataflywheel.ranking.factors import OnlineFactors
from dataflywheel.ranking.inputs import input_matrix, model_inputs


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _objective(prior: float, learning_rate: float) -> linear_model.LogisticRegression:
    # Inputs are log-scaled to a few units already. (River's StandardScaler.learn_many can
    # produce a negative variance on near-constant columns and then fails.)
    return linear_model.LogisticRegression(optimizer=optim.SGD(learning_rate), intercept_init=_logit(prior), l2=1e-4)


def _logits(model: linear_model.LogisticRegression, X: np.ndarray, columns: list[str]) -> np.ndarray:
    """River's logistic regression on a matrix: inputs times weights plus the intercept. The sum
    runs column by column, not as one matrix product: a product's rounding depends on the
    matrix's shape, and a candidate's score must not depend on which other requests were
    scored beside it."""
    weights = model.weights  # a weight River has not learned yet is its initializer's 0
    logits = np.zeros(len(X))
    for j, column in enumerate(columns):
        logits += X[:, j] * weights.get(column, 0.0)
    return logits + model.intercept


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits))


@dataclass
class Ranker:
    """Two River models (one per objective) and the weights that make one ranking score of them."""

    click_prior: float = 0.04
    engage_prior: float = 0.5
    w_click: float = 1.0
    w_engage: float = 2.0
    learning_rate: float = 0.1
    batch_size: int = 2048
    examples_seen: int = 0
    # P(click)'s user x item term (``ranking.factors``); None: the regression alone.
    factors: OnlineFactors | None = None
    click: linear_model.LogisticRegression = field(init=False)
    engage: linear_model.LogisticRegression = field(init=False)

    def __post_init__(self):
        self.click = _objective(self.click_prior, self.learning_rate)
        self.engage = _objective(self.engage_prior, self.learning_rate)

    def learn_many(self, examples: pl.DataFrame) -> None:
        """Learn examples in mini-batches, in the order given (stream order: by impression time)."""
        self._learn(model_inputs(examples), examples)

    def score_then_learn(self, examples: pl.DataFrame, served: "Ranker | None" = None) -> dict[str, np.ndarray]:
        """Score examples with ``served``, then learn them; the scores. ``served`` is the model users
        were shown; by default this one before learning them (progressive validation).

        The inputs are built once for both.
        """
        X = model_inputs(examples)
        predicted = (served or self)._predict(X, examples)
        self._learn(X, examples)
        return predicted

    def predict(self, examples: pl.DataFrame, position: int | None = None) -> dict[str, np.ndarray]:
        """P(click), P(engaged | click) and the combined score per example.

        Position is a training feature so that the models learn its bias instead of
        crediting items for the slot they were shown in. To rank, pass the same
        ``position`` for every candidate (the order is not known before ranking).
        """
        if position is not None:
            examples = examples.with_columns(position=pl.lit(position))
        return self.predict_matrix(*input_matrix(examples), ids=_ids(examples) if self.factors else None)

    def predict_matrix(self, X: np.ndarray, columns: list[str], ids=None) -> dict[str, np.ndarray]:
        """The predictions on a matrix of model inputs, without building a data frame per call
        (the service scores every request); each row's are a function of that row alone.
        ``ids`` (user ids, item ids per row) feed the factors, when the ranker has them."""
        click_logits = _logits(self.click, X, columns)
        if self.factors is not None and ids is not None:
            click_logits = click_logits + self.factors.term(*ids)
        p_click, p_engage = _sigmoid(click_logits), _sigmoid(_logits(self.engage, X, columns))
        score = self.w_click * p_click + self.w_engage * p_click * p_engage
        return {"p_click": p_click, "p_engage": p_engage, "score": score}

    def p_click_at(self, p_click_first: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """P(click) at ``positions`` from P(click) scored at the first (ranking scores every
        candidate at position 0): position enters the click model only through its log-position
        weight, so moving a prediction to the slot it was shown in is exact."""
        logits = np.log(p_click_first / (1 - p_click_first))
        return _sigmoid(logits + self.click.weights.get("log_position", 0.0) * np.log1p(positions))

    def _predict(self, X: pd.DataFrame, examples: pl.DataFrame) -> dict[str, np.ndarray]:
        return self.predict_matrix(X.to_numpy(), list(X.columns), ids=_ids(examples) if self.factors else None)

    def _learn(self, X: pd.DataFrame, examples: pl.DataFrame) -> None:
        clicked = pd.Series(examples.get_column("clicked").to_numpy(), index=X.index)
        users, items = _ids(examples) if self.factors is not None else (None, None)
        for start in range(0, len(X), self.batch_size):
            batch = slice(start, start + self.batch_size)
            if self.factors is not None:  # on the regression's logit before it learns the batch
                base = _logits(self.click, X.iloc[batch].to_numpy(), list(X.columns))
                self.factors.learn(users[batch], items[batch], base, clicked.iloc[batch].to_numpy().astype(float))
            self.click.learn_many(X.iloc[batch], clicked.iloc[batch])
        # P(engaged | click) learns from the clicked examples only, in the same order.
        on_click = clicked.to_numpy()
        X_clicked = X[on_click]
        engaged = pd.Series(examples.get_column("engaged").to_numpy()[on_click], index=X_clicked.index)
        for start in range(0, len(X_clicked), self.batch_size):
            batch = slice(start, start + self.batch_size)
            self.engage.learn_many(X_clicked.iloc[batch], engaged.iloc[batch])
        self.examples_seen += len(X)


def _ids(examples: pl.DataFrame) -> tuple[list[str], list[str]]:
    return examples.get_column("user_id").to_list(), examples.get_column("item_id").to_list()


def progressive_metrics(examples: pl.DataFrame, predicted: dict[str, np.ndarray] | None) -> dict[str, float | None]:
    """Held-out quality of ``predicted`` on ``examples``; the quality metrics are None when nothing
    was scored (no model had served the hour)."""
    clicked = examples.get_column("clicked").to_numpy()
    observed = {"examples": examples.height, "click_rate": float(clicked.mean()) if examples.height else None}
    if predicted is None:
        quality = ("auc_click", "log_loss_click", "calibration_click", "auc_engage_given_click", "auc_engaged")
        return observed | dict.fromkeys(quality)
    engaged = examples.get_column("engaged").to_numpy()
    on_click = clicked.astype(bool)
    return observed | {
        "auc_click": metrics.auc(clicked, predicted["p_click"]),
        "log_loss_click": metrics.log_loss(clicked, predicted["p_click"]),
        "calibration_click": metrics.calibration(clicked, predicted["p_click"]),
        "auc_engage_given_click": metrics.auc(engaged[on_click], predicted["p_engage"][on_click]),
        "auc_engaged": metrics.auc(engaged, predicted["score"]),
    }
