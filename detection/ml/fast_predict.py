"""The champion's probability for a handful of rows, without scikit-learn's per-call overhead.

Online, each decision scores one row plus one copy per reason group (about 15 rows). For that
size scikit-learn's own `predict_proba` is mostly overhead: input validation, and for gradient
boosting one Python call per tree (200 of them, ~1.3 ms of a 3 ms decision). Here a fitted model
becomes plain arrays once, when its version is loaded:

* tree ensembles (histogram gradient boosting, random forest): every node of every tree in one
  table, and all (row, tree) pairs go down one level per numpy step;
* a scaled logistic regression: one matrix product.

The comparisons are scikit-learn's own (``x <= threshold``, missing values to the side the tree
learnt, float32 inputs for random forests), so scores agree to rounding. `compile_model` proves
it on probe rows before anything is served, and returns None for a model it cannot vouch for
(another algorithm, categorical splits, a disagreement): that model keeps scikit-learn's predict.
"""

import logging
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

logger = logging.getLogger(__name__)

# Above this many rows, scikit-learn's compiled (and threaded) predict is the faster one.
MAX_ROWS = 512
TOLERANCE = 1e-9


@dataclass(frozen=True)
class FlatForest:
    roots: np.ndarray  # first node of each tree
    children: np.ndarray  # [right, left] of node i at 2i, 2i+1; a leaf points at itself
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray  # where a missing value goes
    is_leaf: np.ndarray
    value: np.ndarray  # per leaf: a raw score (boosting) or the positive class's share (forest)
    depth: int
    boosted: bool  # True: expit(baseline + sum of leaves); False: mean of leaves
    baseline: float = 0.0
    float32_inputs: bool = False

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(matrix, dtype=np.float64)
        if self.float32_inputs:
            x = x.astype(np.float32).astype(np.float64)
        rows, width = x.shape
        node = np.tile(self.roots, (rows, 1))
        row_start = (np.arange(rows) * width)[:, np.newaxis]
        flat = x.ravel()
        has_missing = bool(np.isnan(flat).any())
        for level in range(self.depth):
            values = flat[row_start + self.feature[node]]
            go_left = values <= self.threshold[node]
            if has_missing:
                go_left |= np.isnan(values) & self.missing_left[node]
            node = self.children[2 * node + go_left]
            if level % 4 == 3 and self.is_leaf[node].all():
                break
        leaves = self.value[node]
        if self.boosted:
            return expit(self.baseline + leaves.sum(axis=1))
        return leaves.mean(axis=1)


class _Tree(NamedTuple):
    left: np.ndarray  # child indices within the tree
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    is_leaf: np.ndarray
    value: np.ndarray
    depth: int


def _forest(trees: list[_Tree], *, boosted, baseline=0.0, float32_inputs=False) -> FlatForest:
    sizes = np.array([len(tree.left) for tree in trees])
    roots = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.intp)
    offset = np.repeat(roots, sizes)

    def stacked(name, dtype):
        return np.concatenate([np.asarray(getattr(tree, name)) for tree in trees]).astype(dtype)

    is_leaf = stacked("is_leaf", bool)
    own = np.arange(len(is_leaf))
    children = np.empty(2 * len(is_leaf), dtype=np.intp)
    children[0::2] = np.where(is_leaf, own, stacked("right", np.intp) + offset)
    children[1::2] = np.where(is_leaf, own, stacked("left", np.intp) + offset)
    return FlatForest(
        roots=roots,
        children=children,
        feature=np.where(is_leaf, 0, stacked("feature", np.intp)),
        threshold=stacked("threshold", np.float64),
        missing_left=stacked("missing_left", bool),
        is_leaf=is_leaf,
        value=np.where(is_leaf, stacked("value", np.float64), 0.0),
        depth=max(tree.depth for tree in trees),
        boosted=boosted,
        baseline=baseline,
        float32_inputs=float32_inputs,
    )


def _boosting(model: HistGradientBoostingClassifier):
    if len(model.classes_) != 2 or (model.is_categorical_ is not None and model.is_categorical_.any()):
        return None
    trees = []
    for (predictor,) in model._predictors:
        n = predictor.nodes
        trees.append(
            _Tree(
                n["left"],
                n["right"],
                n["feature_idx"],
                n["num_threshold"],
                n["missing_go_to_left"],
                n["is_leaf"],
                n["value"],
                int(n["depth"].max()),
            )
        )
    return _forest(trees, boosted=True, baseline=float(np.ravel(model._baseline_prediction)[0]))


def _random_forest(model: RandomForestClassifier):
    if len(model.classes_) != 2 or model.n_outputs_ != 1:
        return None
    trees = []
    for estimator in model.estimators_:
        t = estimator.tree_
        counts = t.value[:, 0, :]
        share = counts[:, 1] / np.maximum(counts.sum(axis=1), np.finfo(float).tiny)
        missing_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
        is_leaf = t.children_left == -1
        trees.append(
            _Tree(
                t.children_left,
                t.children_right,
                t.feature,
                t.threshold,
                missing_left,
                is_leaf,
                share,
                int(t.max_depth),
            )
        )
    return _forest(trees, boosted=False, float32_inputs=True)


@dataclass(frozen=True)
class ScaledLogistic:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def __call__(self, matrix: np.ndarray) -> np.ndarray:
        return expit(
            ((np.asarray(matrix, dtype=np.float64) - self.mean) / self.scale) @ self.coef + self.intercept
        )


def _logistic(model: Pipeline):
    steps = [step for _, step in model.steps]
    if (
        len(steps) != 2
        or not isinstance(steps[0], StandardScaler)
        or not isinstance(steps[1], LogisticRegression)
    ):
        return None
    scaler, regression = steps
    if len(regression.classes_) != 2:
        return None
    width = regression.coef_.shape[1]
    mean = scaler.mean_ if scaler.with_mean else np.zeros(width)
    scale = scaler.scale_ if scaler.with_std else np.ones(width)
    return ScaledLogistic(mean, scale, regression.coef_[0].copy(), float(regression.intercept_[0]))


def _probe_rows(n_features, thresholds, rng):
    """Rows that sit on and around the model's own thresholds, with some missing values."""
    if thresholds.size:
        picks = rng.choice(thresholds, size=(256, n_features))
    else:
        picks = rng.normal(scale=10.0, size=(256, n_features))
    nudge = rng.choice([-1e-9, 0.0, 1e-9], size=picks.shape) * np.maximum(1.0, np.abs(picks))
    rows = np.vstack([picks + nudge, rng.normal(scale=100.0, size=(64, n_features))])
    rows[rng.random(rows.shape) < 0.02] = np.nan
    return rows


def compile_model(model, n_features: int, reference):
    """A fast positive-class predictor for `model`, or None. `reference(matrix)` is the slow
    path it must agree with (scikit-learn's predict_proba for the positive class)."""
    try:
        if isinstance(model, HistGradientBoostingClassifier):
            fast = _boosting(model)
        elif isinstance(model, RandomForestClassifier):
            fast = _random_forest(model)
        elif isinstance(model, Pipeline):
            fast = _logistic(model)
        else:
            fast = None
        if fast is None:
            return None
        thresholds = fast.threshold[~fast.is_leaf] if isinstance(fast, FlatForest) else np.zeros(0)
        thresholds = thresholds[np.isfinite(thresholds)]  # a split of missing values only is at +inf
        rows = _probe_rows(n_features, thresholds, np.random.default_rng(0))
        if isinstance(fast, ScaledLogistic):
            rows = np.nan_to_num(rows)  # a logistic regression refuses missing values
        expected = reference(rows)
        if not np.allclose(fast(rows), expected, rtol=0, atol=TOLERANCE):
            logger.warning(
                "The fast predictor disagrees with %s; using scikit-learn's.", type(model).__name__
            )
            return None
        return fast
    except (AttributeError, KeyError, IndexError, ValueError, TypeError):
        logger.warning("No fast predictor for %s; using scikit-learn's.", type(model).__name__, exc_info=True)
        return None
