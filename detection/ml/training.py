"""Training with a time-honest protocol and a comparison of algorithms (registering the result
as a model version is `detection.services.register`).

Protocol (all periods half-open, UTC)
-------------------------------------
Training with ``--train-start S --train-end E`` happens as if at ``E + D`` (D, the label delay,
7 days by default). It uses only what the bank knows then: transactions that occurred before
``E`` (features from the whole history before each of them, including before ``S``) and fraud
labels known by ``E + D`` (``label_known_at < E + D``); any other row counts as legitimate, as
the bank saw it. Nothing at or after ``E`` is read for the model, so the week(s) after ``E`` can
be a judge's test period.

Model choice and thresholds are made inside the window, on its end:

* **fit** ``[S, E − G − V)``: the candidates are fitted here.
* **gap** ``[E − G − V, E − V)``: skipped, as the label delay separates training from use.
* **validation** ``[E − V, E)``: compares the candidates (average precision) and sets the
  decision thresholds, with the labels known at ``E + D``.
* **train** ``[S, E)``: the chosen algorithm is then refitted on the whole window (same sampling
  and weighting); that refit is the registered model.
* **test** ``[E + D, E + D + test_days)``, optional: when the data contain it, the registered
  model (and the refitted logistic-regression baseline) are evaluated there with true labels,
  for the report only; it never influences the model. Without it, a warning says that test
  metrics are missing.
* **refit** ``[S, C)``, only when a ``labels_cutoff`` C (after ``E``) is given, as retraining
  does: the train fit above becomes the *holdout* model (what a gate may measure on the rows
  after ``E``, which it never saw) and the chosen algorithm is fitted once more on everything
  known at C, so the registered model also learns the newest frauds. Its labels are those known
  by C; a row whose label is not mature at C (it occurred in ``[C − D, C)``) counts only if a
  fraud was reported for it: its legitimate neighbours are left out rather than counted as
  legitimate, since some of them will still be reported, and counting them would teach the
  model that recent transactions are legitimate.

Sizes. With a long window (``E − S ≥ D + 2·V``, V = ``validation_days``, 7) the gap is D and the
validation V, so the candidates are compared exactly as the model will be used: on transactions
one label delay after the last one they learnt from. With a shorter window (the benchmark's 7
days) there is no room for both, and the fit period matters most: the gap is dropped (G = 0) and
V shrinks to 30 % of the window in whole days, at least 1 day (7 days → fit 5 days, validate 2).
Validation labels are still those known at ``E + D``, at least D after each validation
transaction, as for the fit rows. Windows under 2 days are refused.

Imbalance and cost: every known fraud is kept; legitimate rows are sampled down to at most
``max_train_rows`` in total for the final fit (``selection_max_rows`` for each candidate, smaller
by default, so comparing three algorithms and refitting one stays within the cost of the earlier
protocol) and weighted back by the inverse of their sampling rate, so the fitted model still sees
the true class balance. On top of that, logistic regression and the random forest use
class-balanced weights (fraud weighs as much in total as legitimate rows); gradient boosting
keeps the true balance (it copes with rare positives and stays better calibrated).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from detection.ml import evaluation
from detection.ml.features import FEATURE_NAMES, compute_features_frame
from detection.ml.options import LearningOptions
from detection.ml.thresholds import reaches

BASELINE = "logistic_regression"
DEFAULT_MAX_TRAIN_ROWS = 150_000
# Rows for each candidate of the comparison; the chosen one is refitted with max_train_rows.
DEFAULT_SELECTION_MAX_ROWS = 100_000
MIN_WINDOW = timedelta(days=2)
# Short windows: validation is this share of the window (whole days, at least one), no gap.
SHORT_VALIDATION_SHARE = 0.3


class TrainingError(ValueError):
    """Training cannot be done as asked (periods without data, no fraud to learn from...)."""


# name → (estimator class, class-balanced weights?, default parameters). Sized so that 150k
# training rows fit in well under a minute on two cores.
CANDIDATES = {
    "logistic_regression": (LogisticRegression, True, {"C": 0.1, "max_iter": 2000}),
    "random_forest": (
        RandomForestClassifier,
        True,
        {
            "n_estimators": 80,
            "max_depth": 12,
            "min_samples_leaf": 5,
            "max_features": "sqrt",
            "max_samples": 0.3,
        },
    ),
    "hist_gradient_boosting": (
        HistGradientBoostingClassifier,
        False,
        {
            "max_iter": 200,
            "learning_rate": 0.05,
            "max_leaf_nodes": 15,
            "min_samples_leaf": 100,
            "l2_regularization": 1.0,
            "early_stopping": False,
        },
    ),
}


def _build(name, params, seed):
    estimator, _, _ = CANDIDATES[name]
    extra = {"random_state": seed} if name != "logistic_regression" else {}
    if name == "random_forest":
        extra["n_jobs"] = 2
    model = estimator(**params, **extra)
    # Logistic regression needs scaled inputs; trees do not.
    return make_pipeline(StandardScaler(), model) if name == "logistic_regression" else model


ALGORITHMS = tuple(CANDIDATES)


@dataclass
class TrainingResult:
    algorithm: str
    pipeline: object
    parameters: dict
    periods: dict
    metrics: dict
    comparison: dict
    thresholds: dict
    curves: dict
    importances: dict
    typical_values: dict
    baseline: dict
    warnings: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    training_rows: dict = field(default_factory=dict)
    # With a labels cutoff: (pipeline, thresholds) fitted on [S, E) only, for a gate after E.
    holdout: tuple | None = None

    def summary(self) -> dict:
        return {
            "algorithm": self.algorithm,
            "periods": {k: [v[0].isoformat(), v[1].isoformat()] for k, v in self.periods.items()},
            "training_rows": self.training_rows,
            "comparison": self.comparison,
            "thresholds": self.thresholds,
            "baseline": self.baseline,
            "warnings": self.warnings,
            "seconds": self.seconds,
        }


def _aware(value) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):  # a date
        value = datetime(value.year, value.month, value.day)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def plan_periods(train_start, train_end, *, label_delay=timedelta(days=7), validation_days=7, test_days=7):
    """{"fit", "gap", "validation", "train", "test"} → (start, end) datetimes (see the module
    docstring): fit, gap and validation split the training window [train_start, train_end),
    train is the whole window (the final fit), test starts one label delay after its end."""
    train_start, train_end = _aware(train_start), _aware(train_end)
    if not isinstance(label_delay, timedelta):
        label_delay = timedelta(days=float(label_delay))
    if train_start >= train_end:
        raise TrainingError("The training period must start before it ends.")
    window = train_end - train_start
    if window < MIN_WINDOW:
        raise TrainingError(
            f"The training period must last at least {MIN_WINDOW.days} days: its end is used to "
            "choose the model and the thresholds."
        )
    validation, gap = timedelta(days=validation_days), label_delay
    if window < label_delay + 2 * validation:
        # Too short for a full gap and validation: keep most of the window to learn from.
        share = int(window.total_seconds() * SHORT_VALIDATION_SHARE // 86400)
        validation, gap = min(validation, timedelta(days=max(1, share))), timedelta(0)
    validation_start = train_end - validation
    test_start = train_end + label_delay
    return {
        "train": (train_start, train_end),
        "fit": (train_start, validation_start - gap),
        "gap": (validation_start - gap, validation_start),
        "validation": (validation_start, train_end),
        "test": (test_start, test_start + timedelta(days=test_days)),
    }


def _same_alert_rate(thresholds, candidate_scores, refit_scores, legitimate):
    """Thresholds for the refitted model that flag the same share of legitimate validation rows
    as the candidate's thresholds did (the refit's scores are on another scale). Legitimate rows
    only: the refit learned the validation frauds, so their scores say nothing of new traffic.
    A threshold above 1 (flag nothing) stays as it is; one above every legitimate row stays above
    every one, and never rises above the candidate's."""
    moved = {}
    candidate_legit, refit_legit = candidate_scores[legitimate], refit_scores[legitimate]
    for band, threshold in thresholds.items():
        rate = float(np.mean(reaches(candidate_legit, threshold))) if len(candidate_legit) else 0.0
        if threshold > 1 or not len(refit_legit):
            moved[band] = threshold
        elif rate == 0.0:  # above every legitimate row, as the candidate's was
            moved[band] = float(min(np.nextafter(refit_legit.max(), np.inf), threshold))
        else:
            moved[band] = float(np.quantile(refit_legit, 1.0 - rate, method="higher"))
    return moved


def _in(times, period):
    return ((times >= pd.Timestamp(period[0])) & (times < pd.Timestamp(period[1]))).to_numpy()


def _weights(y, legit_weight, balanced):
    weights = np.where(y == 1, 1.0, legit_weight)
    if balanced and y.sum():
        weights[y == 1] = weights[y == 0].sum() / y.sum()
    return weights / weights.mean()


def _fit(pipeline, X, y, weights):
    if hasattr(pipeline, "steps"):
        pipeline.fit(X, y, **{f"{pipeline.steps[-1][0]}__sample_weight": weights})
    else:
        pipeline.fit(X, y, sample_weight=weights)
    return pipeline


def _scores(pipeline, X):
    return pipeline.predict_proba(X)[:, 1] if len(X) else np.zeros(0)


def _evaluate(y, scores, frame, thresholds, *, k, curves=False):
    return evaluation.evaluate(
        y,
        scores,
        card_ids=frame["card_id"].astype(str).to_numpy(),
        occurred_at=frame["occurred_at"],
        thresholds=thresholds,
        k=k,
        include_curves=curves,
    )


def _importances(pipeline, X, y, seed, max_rows=5_000):
    """Permutation importance (drop in average precision) on validation rows: faithful for any
    algorithm. A sample keeps every fraud to bound the cost."""
    if y.sum() == 0 or y.sum() == len(y):
        return {}
    rng = np.random.default_rng(seed)
    legit = np.flatnonzero(y == 0)
    keep = np.r_[np.flatnonzero(y == 1), rng.choice(legit, min(legit.size, max_rows), replace=False)]
    result = permutation_importance(
        pipeline, X[keep], y[keep], scoring="average_precision", n_repeats=2, random_state=seed, n_jobs=1
    )
    return {name: round(float(v), 6) for name, v in zip(FEATURE_NAMES, result.importances_mean, strict=True)}


def train(frame: pd.DataFrame, *, options: LearningOptions, **kwargs) -> TrainingResult:
    """Compare the candidates inside the training window, register-ready refit of the best,
    test report when the data have it (see `_train` for the arguments). `options` carries the
    bank's choices (band sizes, k) and the OpenMP/BLAS threads training may use."""
    with threadpool_limits(limits=options.training_threads):
        return _train(frame, options=options, **kwargs)


def _train(
    frame: pd.DataFrame,
    *,
    train_start,
    train_end,
    label_delay=timedelta(days=7),
    validation_days=7,
    test_days=7,
    algorithms=ALGORITHMS,
    max_train_rows=DEFAULT_MAX_TRAIN_ROWS,
    selection_max_rows=DEFAULT_SELECTION_MAX_ROWS,
    seed=0,
    features: pd.DataFrame | None = None,
    params: dict | None = None,
    log=None,
    options: LearningOptions,
    labels_cutoff=None,
) -> TrainingResult:
    """Fit every candidate on the fit period, pick the best on validation, refit it on the whole
    window, report test when the data have it; with `labels_cutoff`, refit it once more on every
    label known then (see the module docstring).

    `features` may be passed when already computed (same index as `frame`); `params` overrides
    candidates' parameters by name: ``{"random_forest": {"n_estimators": 200}}``."""
    log = log or (lambda message: None)
    k = options.card_precision_k
    if not isinstance(label_delay, timedelta):
        label_delay = timedelta(days=float(label_delay))
    unknown = set(algorithms) - set(ALGORITHMS)
    if unknown:
        raise TrainingError(
            f"Unknown algorithm(s): {', '.join(sorted(unknown))}; known: {', '.join(ALGORITHMS)}."
        )
    periods = plan_periods(
        train_start, train_end, label_delay=label_delay, validation_days=validation_days, test_days=test_days
    )
    seconds = {}
    warnings = []
    if len(frame) == 0:
        raise TrainingError("There are no transactions to train on.")
    horizon = pd.Timestamp(periods["test"][1])
    if labels_cutoff is not None:
        labels_cutoff = pd.Timestamp(_aware(labels_cutoff))
        if labels_cutoff < pd.Timestamp(periods["train"][1]):
            raise TrainingError("The labels cutoff must not be before the end of the training period.")
        periods["refit"] = (periods["train"][0], labels_cutoff.to_pydatetime())
        horizon = max(horizon, labels_cutoff)
    times = pd.to_datetime(frame["occurred_at"], utc=True)
    # Rows after the test period (and the labels cutoff) never feed any feature we use: drop
    # them early. Rows at or after train_end only serve the test report and the last refit.
    relevant = (times < horizon).to_numpy()
    frame, times = frame[relevant], times[relevant]
    in_train, in_fit, in_val, in_test = (
        _in(times, periods[p]) for p in ("train", "fit", "validation", "test")
    )
    if not in_fit.any():
        raise TrainingError(f"No transactions in the training period {_fmt(periods['fit'])}.")
    if not in_val.any():
        raise TrainingError(
            f"No transactions in the validation period {_fmt(periods['validation'])} (the end of the "
            "training period): the data must cover the whole training period."
        )
    if not in_test.any() and test_days:
        warnings.append(
            f"No transactions in the test period {_fmt(periods['test'])}: test metrics are not reported."
        )

    if features is None:
        started = time.perf_counter()
        features = compute_features_frame(frame, label_delay=label_delay)
        seconds["features"] = round(time.perf_counter() - started, 2)
        log(f"Features for {len(frame)} transactions in {seconds['features']} s.")
    else:
        features = features.loc[frame.index]
    X_all = features[FEATURE_NAMES].to_numpy(dtype=np.float64)
    fraud = pd.to_numeric(frame["is_fraud"], errors="coerce").fillna(0).to_numpy() == 1
    known = pd.to_datetime(frame["label_known_at"], utc=True).fillna(times + label_delay)
    trained_at = pd.Timestamp(periods["train"][1] + label_delay)
    # What the bank knows when it trains: frauds reported by then; the rest look legitimate.
    # Fit and validation rows alike (validation is part of the training window).
    y_known = (fraud & (known < trained_at).to_numpy()).astype(np.int8)
    if y_known[in_fit].sum() == 0:
        raise TrainingError(
            f"No fraud known in the training period {_fmt(periods['fit'])}: nothing to learn."
        )
    y_val = y_known[in_val]
    if y_val.sum() == 0:
        raise TrainingError(
            f"No fraud known in the validation period {_fmt(periods['validation'])} (the end of the "
            "training period): cannot compare models; train on a longer period."
        )
    y_test = fraud[in_test].astype(np.int8)  # true labels: the report only

    rng = np.random.default_rng(seed)
    fit_idx, fit_rate, _ = _sample(in_fit, y_known, min(selection_max_rows, max_train_rows), rng)
    X_fit, y_fit = X_all[fit_idx], y_known[fit_idx]
    log(f"Candidates fitted on {fit_idx.size} rows of {_fmt(periods['fit'])}.")

    val_frame, test_frame = frame[in_val], frame[in_test]
    X_val, X_test = X_all[in_val], X_all[in_test]
    fitted, comparison = {}, {}
    for name in algorithms:
        _, balanced, defaults = CANDIDATES[name]
        chosen_params = {**defaults, **(params or {}).get(name, {})}
        started = time.perf_counter()
        pipeline = _fit(
            _build(name, chosen_params, seed), X_fit, y_fit, _weights(y_fit, 1.0 / fit_rate, balanced)
        )
        fit_seconds = time.perf_counter() - started
        if hasattr(pipeline, "n_jobs"):
            pipeline.set_params(n_jobs=1)  # threaded forest sums are not bit-for-bit repeatable
        val_scores = _scores(pipeline, X_val)
        bands = evaluation.choose_bands(
            y_val,
            val_scores,
            card_ids=val_frame["card_id"].astype(str).to_numpy(),
            occurred_at=val_frame["occurred_at"],
            options=options,
        )
        thresholds = bands["thresholds"]
        entry = {
            "parameters": {**chosen_params, "class_weight": "balanced" if balanced else "weighted back"},
            "fit_seconds": round(fit_seconds, 2),
            # "bands": which rule set each threshold, for staff (the model version's page).
            "validation": _evaluate(y_val, val_scores, val_frame, thresholds, k=k)
            | {"bands": bands["rules"]},
            "test": None,  # filled for the refitted models only
        }
        fitted[name] = (pipeline, thresholds, val_scores)
        comparison[name] = entry
        log(
            f"{name}: validation AP {_num(entry['validation']['average_precision'])}, "
            f"card precision@{entry['validation']['k']} {_num(entry['validation']['card_precision_at_k'])} "
            f"({fit_seconds:.1f} s)"
        )
    seconds["training"] = round(sum(c["fit_seconds"] for c in comparison.values()), 2)

    best = max(algorithms, key=lambda a: comparison[a]["validation"]["average_precision"] or 0.0)
    candidate, thresholds, val_scores = fitted[best]

    # The winner learns from the whole window; its thresholds keep the alert rates chosen on
    # validation (a refit's scores are on another scale than the candidate's).
    train_idx, rate, training_rows = _sample(in_train, y_known, max_train_rows, rng)
    log(
        f"Refitting {best} on {_fmt(periods['train'])}: {training_rows['frauds']} frauds + "
        f"{training_rows['legitimate_sampled']} legitimate (sampled at {rate:.3f})."
    )
    X_train, y_train = X_all[train_idx], y_known[train_idx]
    refits = {}
    started = time.perf_counter()
    # The baseline is refitted too (it is cheap) only to compare with it on test.
    for name in dict.fromkeys([best, BASELINE] if in_test.any() and BASELINE in algorithms else [best]):
        _, balanced, _ = CANDIDATES[name]
        refit = _fit(
            _build(
                name, {k: v for k, v in comparison[name]["parameters"].items() if k != "class_weight"}, seed
            ),
            X_train,
            y_train,
            _weights(y_train, 1.0 / rate, balanced),
        )
        if hasattr(refit, "n_jobs"):
            refit.set_params(n_jobs=1)  # serving scores one transaction at a time
        refits[name] = refit
        refit_thresholds = _same_alert_rate(
            fitted[name][1], fitted[name][2], _scores(refit, X_val), y_val == 0
        )
        fitted[name] = (fitted[name][0], refit_thresholds, fitted[name][2])
        if in_test.any():
            comparison[name]["test"] = _evaluate(
                y_test, _scores(refit, X_test), test_frame, refit_thresholds, k=k
            )
    seconds["refit"] = round(time.perf_counter() - started, 2)
    pipeline = refits[best]
    validation_thresholds, thresholds = thresholds, fitted[best][1]
    holdout = None
    if labels_cutoff is not None:
        holdout = (pipeline, thresholds)
        started = time.perf_counter()
        pipeline, thresholds, final_rows = _refit_to_cutoff(
            best,
            comparison[best]["parameters"],
            times=times,
            X_all=X_all,
            fraud=fraud,
            known=known,
            start=periods["train"][0],
            labels_cutoff=labels_cutoff,
            label_delay=label_delay,
            max_train_rows=max_train_rows,
            rng=rng,
            seed=seed,
            candidate_thresholds=(validation_thresholds, val_scores),
            X_val=X_val,
            legitimate_val=y_val == 0,
        )
        seconds["refit_to_cutoff"] = round(time.perf_counter() - started, 2)
        log(
            f"Refitted {best} on {_fmt(periods['refit'])}: {final_rows['frauds']} frauds + "
            f"{final_rows['legitimate_sampled']} legitimate; {final_rows['immature_left_out']} "
            "recent rows without a mature label left out."
        )
        training_rows = final_rows | {"holdout": training_rows}

    tested = holdout or (pipeline, thresholds)
    started = time.perf_counter()
    metrics = {
        "validation": _evaluate(y_val, val_scores, val_frame, validation_thresholds, k=k, curves=True)
        | {"bands": comparison[best]["validation"]["bands"]},
        # The model that never saw the test rows: with a labels cutoff the last refit may have.
        "test": _evaluate(y_test, _scores(tested[0], X_test), test_frame, tested[1], k=k, curves=True)
        if in_test.any()
        else None,
    }
    curves = {p: (m or {}).pop("curves", {}) for p, m in metrics.items()}
    # On validation rows, which the candidate (not the refit) never saw.
    importances = _importances(candidate, X_val, y_val, seed)
    seconds["importances"] = round(time.perf_counter() - started, 2)
    legit_train = X_all[np.flatnonzero(in_train & (y_known == 0))]
    typical = dict(zip(FEATURE_NAMES, np.median(legit_train, axis=0).tolist(), strict=True))
    baseline = _versus_baseline(comparison, best)
    return TrainingResult(
        algorithm=best,
        pipeline=pipeline,
        parameters={
            **comparison[best]["parameters"],
            "seed": seed,
            "max_train_rows": max_train_rows,
            "selection_max_rows": selection_max_rows,
        },
        periods=periods,
        metrics={k: v for k, v in metrics.items() if v is not None},
        comparison=comparison,
        thresholds=thresholds,
        curves=curves,
        importances=importances,
        typical_values=typical,
        baseline=baseline,
        warnings=warnings,
        seconds=seconds,
        training_rows=training_rows | {"fit_rows": int(fit_idx.size), "fit_period_rows": int(in_fit.sum())},
        holdout=holdout,
    )


def _refit_to_cutoff(
    name,
    parameters,
    *,
    times,
    X_all,
    fraud,
    known,
    start,
    labels_cutoff,
    label_delay,
    max_train_rows,
    rng,
    seed,
    candidate_thresholds,
    X_val,
    legitimate_val,
):
    """The chosen algorithm fitted on [start, labels_cutoff) with the labels known at the
    cutoff: every known fraud, and legitimate rows only where labels are mature (older than one
    label delay): an unreported recent row may still turn out to be fraud. (pipeline, thresholds
    keeping the candidate's validation alert rates, row counts)."""
    y_cutoff = (fraud & (known <= labels_cutoff).to_numpy()).astype(np.int8)
    in_window = ((times >= pd.Timestamp(start)) & (times < labels_cutoff)).to_numpy()
    mature = (times < labels_cutoff - pd.Timedelta(label_delay)).to_numpy()
    usable = in_window & (mature | (y_cutoff == 1))
    idx, rate, rows = _sample(usable, y_cutoff, max_train_rows, rng)
    _, balanced, _ = CANDIDATES[name]
    pipeline = _fit(
        _build(name, {k: v for k, v in parameters.items() if k != "class_weight"}, seed),
        X_all[idx],
        y_cutoff[idx],
        _weights(y_cutoff[idx], 1.0 / rate, balanced),
    )
    if hasattr(pipeline, "n_jobs"):
        pipeline.set_params(n_jobs=1)
    thresholds, candidate_scores = candidate_thresholds
    thresholds = _same_alert_rate(thresholds, candidate_scores, _scores(pipeline, X_val), legitimate_val)
    rows["immature_left_out"] = int((in_window & ~usable).sum())
    return pipeline, thresholds, rows


def _sample(mask, y, max_rows, rng):
    """Bounded cost: every known fraud of `mask`, legitimate rows sampled so that at most
    `max_rows` remain (at least 1,000 legitimate); (indices, legitimate sampling rate, counts)."""
    idx = np.flatnonzero(mask)
    frauds, legit = idx[y[idx] == 1], idx[y[idx] == 0]
    budget = max(max_rows - frauds.size, 1000)
    rate = min(1.0, budget / max(legit.size, 1))
    if rate < 1.0:
        legit = np.sort(rng.choice(legit, budget, replace=False))
    counts = {
        "period_rows": int(idx.size),
        "frauds": int(frauds.size),
        "legitimate_sampled": int(legit.size),
        "legitimate_sampling_rate": round(rate, 6),
    }
    return np.r_[frauds, legit], rate, counts


def _versus_baseline(comparison, best):
    """How the chosen model compares with logistic regression: on test (both refitted on the
    whole window) when there is one, else on validation (both fitted on the fit period)."""
    if BASELINE not in comparison:
        return {}
    period = (
        "test"
        if comparison[best]["test"] is not None and comparison[BASELINE]["test"] is not None
        else "validation"
    )
    ours, base = comparison[best][period], comparison[BASELINE][period]
    out = {"period": period, "baseline": BASELINE, "chosen": best}
    for metric in ("average_precision", "card_precision_at_k", "roc_auc"):
        a, b = ours.get(metric), base.get(metric)
        out[metric] = {"chosen": a, "baseline": b, "difference": None if a is None or b is None else a - b}
    ap, cp = out["average_precision"]["difference"], out["card_precision_at_k"]["difference"]
    out["beats_baseline"] = best != BASELINE and ap is not None and cp is not None and ap > 0 and cp > 0
    return out


def _fmt(period):
    return f"{period[0]:%Y-%m-%d %H:%M} – {period[1]:%Y-%m-%d %H:%M} UTC"


def _num(value):
    return "n/a" if value is None else f"{value:.3f}"
