"""Why the model scored a transaction as it did, measured on the model itself.

For each group of related features (the features one reason speaks about), the group is reset to
a typical legitimate value (stored with the model version: training medians of legitimate rows)
and the drop in score is measured. All the reset copies go through the model in ONE
`predict_proba` call together with the original row, so the reasons cost one model call, and
the largest drops become reasons: a stable code plus the values its sentence speaks of
(`detection.sentences` writes it when it is shown, in the reader's language).

Drops are ranked in log-odds, not probability: when two strong factors each push the score to
0.999, removing either one alone barely moves the probability, but it does move the log-odds.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from detection.contracts import Reason
from detection.ml import fast_predict


# One transaction is a handful of rows: OpenMP threads only add start-up and, on a busy
# machine, long spin-waits (measured: p99 of a 14-row predict 128 ms with 2 threads, 10 ms
# with 1). Small predictions, and batch chunks that have a thread of their own, therefore run
# on one OpenMP thread.
@cache
def _threadpools():
    # Created at first use: by then the model is loaded, and with it sklearn's OpenMP runtime,
    # which a controller created earlier would not know about.
    return ThreadpoolController()


def one_openmp_thread():
    return _threadpools().limit(limits=1, user_api="openmp")


# Every factor that raised the score enough, up to this many (the largest first), then the
# factors that lowered it most, up to MAX_LOWERING (a payment at the card's usual merchant, for
# its usual amount): people trust a verdict that says what spoke for the payment too.
MAX_REASONS = 5
MAX_LOWERING = 2
# A factor that moves the log-odds by less than this is not worth telling anyone about.
MIN_DROP = 0.25
EPSILON = 1e-7


def logit(p):
    p = np.clip(np.asarray(p, dtype=float), EPSILON, 1 - EPSILON)
    return np.log(p) - np.log1p(-p)


def _window(name):
    """'card_count_1h' -> '1h': the window a feature counts over, as the sentence reads it."""
    match = re.search(r"_(\d+[hd])$", name)
    return match.group(1) if match else ""


def _most_unusual(values, typical):
    """The feature of a group furthest from its typical value, relative to that value."""
    return max(
        values,
        key=lambda name: abs(values[name] - typical.get(name, 0.0)) / (abs(typical.get(name, 0.0)) + 1),
    )


def _rounded(value, digits=2):
    return round(float(value), digits) + 0.0  # + 0.0: never "-0"


# Each function gets the group's values and typical values ({feature: value}) of the row and
# returns the values its sentence speaks of (detection.sentences writes it when it is shown).
def _amount_vs_card(values, typical):
    if "amount_to_card_mean_30d" in values:
        return {"ratio": _rounded(values["amount_to_card_mean_30d"], 1)}
    return {"z": _rounded(values[_most_unusual(values, typical)], 1)}


def _amount(values, typical):
    return {"amount": _rounded(next(iter(values.values())))}


def _with_usual(params, name, typical, digits):
    """`params` with the typical value of `name` (a legitimate transaction's, from training), when
    the version has one: the sentence then says whether this is more or less than usual."""
    if name in typical:
        params["usual"] = _rounded(typical[name], digits)
    return params


def _card_velocity(values, typical):
    name = _most_unusual(values, typical)
    return _with_usual({"n": round(values[name]), "window": _window(name)}, name, typical, 0)


def _card_spending(values, typical):
    name = _most_unusual(values, typical)
    return _with_usual({"window": _window(name), "amount": _rounded(values[name])}, name, typical, 2)


def _declined_attempts(values, typical):
    counts = {name: value for name, value in values.items() if name.startswith("card_declined_count_")}
    if counts and max(counts.values()) > 0:
        name = _most_unusual(counts, typical)
        return {"n": round(counts[name]), "window": _window(name)}
    seconds = values.get("seconds_since_card_declined")
    return {} if seconds is None else {"seconds": round(seconds)}


def _nothing(values, typical):
    return {}


def _time_since(values, typical):
    return {"seconds": round(next(iter(values.values())))}


def _merchant_fraud(values, typical):
    if values.get("merchant_known_frauds_recent", 0) > typical.get("merchant_known_frauds_recent", 0):
        return {"recent_week": True}
    rates = {k: v for k, v in values.items() if "rate" in k}
    if not rates:
        return {}
    return {"days": re.sub(r"\D", "", _most_unusual(rates, typical).rsplit("_", 1)[-1]) or "?"}


def _merchant_volume(values, typical):
    return {"window": _window(_most_unusual(values, typical))}


def _time_of_day(values, typical):
    return {"hour": round(values["hour"])} if "hour" in values else {}


def _channel(values, typical):
    active = [name for name, value in values.items() if value >= 0.5]
    return {"channel": active[0].removeprefix("channel_")} if active else {}


@dataclass(frozen=True)
class ReasonSpec:
    code: str
    pattern: str  # regex over feature names: every matching feature belongs to this reason
    params: Callable[[dict, dict], dict]  # (group values, typical values) -> the sentence's values
    neutral: float | None = None  # reset value when the version stores no typical value

    def matches(self, feature):
        return re.search(self.pattern, feature) is not None


# The features of detection.ml.features, by reason. Order matters: a feature belongs to the first
# spec that matches it.
SPECS = [
    ReasonSpec("amount_vs_card_history", r"^amount_(to_card|zscore|ratio)", _amount_vs_card, None),
    ReasonSpec("card_velocity", r"^card_count_", _card_velocity, 0.0),
    ReasonSpec("card_spending", r"^card_(mean|max)_amount_", _card_spending, None),
    ReasonSpec("card_known_fraud", r"^card_known_frauds", _nothing, 0.0),
    ReasonSpec("time_since_previous", r"^seconds_since_card_previous", _time_since, None),
    ReasonSpec(
        "card_declined_attempts",
        r"^(card_declined_|seconds_since_card_declined)",
        _declined_attempts,
        None,
    ),
    ReasonSpec("new_merchant_for_card", r"^merchant_new_for_card", _nothing, 0.0),
    ReasonSpec("merchant_fraud", r"^merchant_(fraud_rate|known_frauds)", _merchant_fraud, 0.0),
    ReasonSpec("merchant_volume", r"^merchant_count_", _merchant_volume, None),
    ReasonSpec("time_of_day", r"^(hour|is_night)$", _time_of_day, None),
    ReasonSpec("weekend", r"^is_weekend$", _nothing, 0.0),
    ReasonSpec("new_country_for_card", r"^country_new_for_card", _nothing, 0.0),
    ReasonSpec("channel", r"^channel_", _channel, 0.0),
    ReasonSpec("amount", r"^amount$", _amount, None),
]


@dataclass(frozen=True)
class Group:
    code: str
    spec: ReasonSpec | None
    columns: tuple[int, ...]  # feature positions reset together


def _spec(name):
    return next((s for s in SPECS if s.matches(name)), None)


def groups_for(feature_names) -> list[Group]:
    """The reason groups of a model's features: the features one reason speaks about."""
    members: dict[str, list[int]] = {}
    specs: dict[str, ReasonSpec | None] = {}
    for index, name in enumerate(feature_names):
        spec = _spec(name)
        code = spec.code if spec else f"feature_{name}"
        members.setdefault(code, []).append(index)
        specs[code] = spec
    return [Group(code, specs[code], tuple(cols)) for code, cols in members.items()]


def typical_vector(feature_names, typical_values) -> np.ndarray:
    """The reset value of each feature: the version's typical value, else the spec's neutral
    value, else NaN (that feature is then never reset, so never a reason)."""
    values = np.full(len(feature_names), np.nan)
    for index, name in enumerate(feature_names):
        if (typical_values or {}).get(name) is not None:
            values[index] = float(typical_values[name])
            continue
        spec = _spec(name)
        if spec is not None and spec.neutral is not None:
            values[index] = spec.neutral
    return values


def _params(group: Group, feature_names, row, typical) -> dict:
    values = {feature_names[c]: float(row[c]) for c in group.columns}
    typical_values = {feature_names[c]: float(typical[c]) for c in group.columns if np.isfinite(typical[c])}
    if group.spec is None:
        name, value = next(iter(values.items()))
        return {"feature": name, "value": _rounded(value)}
    return group.spec.params(values, typical_values)


class Explainer:
    """Scores and reasons for one model version."""

    def __init__(self, pipeline, feature_names, typical_values):
        self.pipeline = pipeline
        self.feature_names = list(feature_names)
        self.typical = typical_vector(self.feature_names, typical_values)
        self.groups = groups_for(self.feature_names)
        # Models fitted on a DataFrame check the column names; those fitted on arrays warn when
        # given names. Give each what it was trained on.
        self._named = hasattr(pipeline, "feature_names_in_")
        # The same scores for a few rows (a decision and its reasons) in a fraction of the time.
        self._fast = fast_predict.compile_model(pipeline, len(self.feature_names), self._sklearn_predict)

    def _perturbed(self, row: np.ndarray):
        """The original row and one copy per group with that group reset to typical."""
        groups, copies = [], [row]
        for group in self.groups:
            cols = [c for c in group.columns if np.isfinite(self.typical[c]) and row[c] != self.typical[c]]
            if not cols:
                continue
            copy = row.copy()
            copy[cols] = self.typical[cols]
            copies.append(copy)
            groups.append(group)
        return groups, np.vstack(copies)

    def _sklearn_predict(self, matrix: np.ndarray) -> np.ndarray:
        data = pd.DataFrame(matrix, columns=self.feature_names) if self._named else matrix
        return self.pipeline.predict_proba(data)[:, 1]

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        if len(matrix) > fast_predict.MAX_ROWS:
            return self._sklearn_predict(matrix)
        if self._fast is not None:
            return self._fast(matrix)
        with one_openmp_thread():
            return self._sklearn_predict(matrix)

    def score_and_explain(
        self, features: dict, *, max_reasons=MAX_REASONS, max_lowering=MAX_LOWERING
    ) -> tuple[float, list[Reason]]:
        """The score of one transaction and its reasons, in one model call: those that raised
        the score (largest first), then those that lowered it (negative contribution)."""
        row = np.array([float(features.get(name, np.nan)) for name in self.feature_names])
        groups, matrix = self._perturbed(row)
        scores = self.predict(matrix)
        score = float(scores[0])
        log_odds = logit(scores)
        drops = log_odds[0] - log_odds[1:]
        order = np.argsort(-drops, kind="stable")
        raising = [i for i in order if drops[i] >= MIN_DROP][:max_reasons]
        lowering = [i for i in order[::-1] if drops[i] <= -MIN_DROP][:max_lowering]
        return score, [
            Reason(
                code=groups[index].code,
                params=_params(groups[index], self.feature_names, row, self.typical),
                contribution=round(score - float(scores[1 + index]), 4),
            )
            for index in [*raising, *lowering]
        ]

    def top_codes(self, matrix: np.ndarray, scores: np.ndarray, *, max_reasons=MAX_REASONS, chunk=400_000):
        """Vectorised reasons for many rows: each row's top codes joined by ';'.

        `chunk` bounds the rows of one predict call (~100 MB at 30 features): few large calls,
        because each call pays a thread barrier per tree, which is costly on a busy machine."""
        n = len(matrix)
        result = np.full(n, "", dtype=object)
        if n == 0 or not self.groups:
            return result
        codes = np.array([g.code for g in self.groups], dtype=object)
        per_chunk = max(1, chunk // max(1, len(self.groups)))
        for start in range(0, n, per_chunk):
            block = matrix[start : start + per_chunk]
            copies = np.repeat(block[np.newaxis, :, :], len(self.groups), axis=0)
            for g, group in enumerate(self.groups):
                cols = [c for c in group.columns if np.isfinite(self.typical[c])]
                if cols:
                    copies[g][:, cols] = self.typical[cols]
            reset_scores = self.predict(copies.reshape(-1, block.shape[1])).reshape(len(self.groups), -1)
            drops = logit(scores[start : start + per_chunk])[np.newaxis, :] - logit(reset_scores)
            order = np.argsort(-drops, axis=0, kind="stable")[:max_reasons]
            for row in range(block.shape[0]):
                picked = [codes[g] for g in order[:, row] if drops[g, row] >= MIN_DROP]
                result[start + row] = ";".join(picked)
        return result
