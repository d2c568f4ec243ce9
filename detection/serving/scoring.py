"""Deciding: lists, then rules, then the model's bands, with reasons.

Online, `decide(tx)` serves one transaction inside a request; offline, `score_frame(df)` scores
a whole frame the same way (vectorised) for `score_csv`. Neither ever crashes because of a bad
model: a refused champion falls back to the previous one, and with no model at all the rules
still run and everything else goes to review with the reason `no_model`.
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cache

import numpy as np
import pandas as pd
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from detection import conf
from detection.contracts import Decision, DecisionResult, HistorySource, Reason, TransactionInput
from detection.ml import features
from detection.ml.thresholds import risk_score, risk_scores
from detection.serving import registry, rules
from detection.serving.bands import RISK_WITHOUT_SCORE, band, bands
from detection.serving.reasons import Explainer, one_openmp_thread

logger = logging.getLogger(__name__)


@cache
def _history_class(path):
    return import_string(path)


def default_history() -> HistorySource:
    return _history_class(conf.history_source_path())()


_explainers: dict[tuple[int, str], Explainer] = {}


def explainer_for(loaded: registry.LoadedModel) -> Explainer:
    key = (loaded.version.pk, loaded.version.sha256)
    explainer = _explainers.get(key)
    if explainer is None:
        explainer = Explainer(loaded.pipeline, loaded.feature_names, loaded.version.typical_values)
        _explainers.clear()  # one or two versions serve at a time; keep memory flat
        _explainers[key] = explainer
    return explainer


# A card's key or fingerprint is the bank's own name for the card (an integrator knows its card
# by another id): a reason given to the submitter names only the entry's kind.
CARD_LIST_KINDS = ("card_id", "card_fingerprint")


def _list_or_rule_reason(hit: rules.Hit) -> Reason:
    if hit.source == "rule":
        params = {"rule": hit.name, "kind": hit.kind, "detail": hit.detail}
    else:
        value = hit.name.partition("=")[2]
        params = {"kind": hit.kind} if hit.kind in CARD_LIST_KINDS else {"kind": hit.kind, "value": value}
    return Reason(code=hit.source, params=params, contribution=1.0)


def _no_model_reason() -> Reason:
    return Reason(code="no_model")


def _online_features(tx, history):
    return features.compute_features_online(tx, history=history, label_delay=conf.label_delay())


def decide(tx: TransactionInput, *, history: HistorySource | None = None) -> DecisionResult:
    """Decide one transaction: allow list, block list, rules in order, then the model's bands.

    Rules and a challenger on trial (shadow, or rollout to a share of cards) take part as their
    mode says; what each would have decided under the arm that did not decide is returned in
    `trials`, for recording. A trial never costs a decision: the challenger failing to score
    leaves the champion deciding."""
    history = history if history is not None else default_history()
    hit, rule_trials = rules.evaluate_with_trials(tx, history=history)
    hits = [hit.as_dict()] if hit else []

    loaded = registry.serving_model()
    trial = registry.trial_model() if loaded is not None else None
    challenger_decides = trial is not None and trial.decides_for(tx.card_id)
    if challenger_decides:
        loaded, other = trial.loaded, loaded
    else:
        other = trial.loaded if trial is not None else None
    feature_values: dict[str, float] = {}
    score = other_score = None
    model_reasons: list[Reason] = []
    if loaded is not None:
        try:
            feature_values = _online_features(tx, history)
            score, model_reasons = explainer_for(loaded).score_and_explain(feature_values)
        except Exception:
            # A model that cannot score this input must not take the payment path down.
            logger.exception("Model %s failed on transaction %s", loaded.name, tx.transaction_id)
            loaded, score, model_reasons = None, None, []
    if other is not None and score is not None:
        try:
            # The same feature row, one more predict (no reasons: nobody reads them).
            other_score = _score_only(other, feature_values)
        except Exception:
            logger.exception("Model %s on trial failed on transaction %s", other.name, tx.transaction_id)
    features_out = {k: float(v) for k, v in feature_values.items()}
    version = loaded.name if loaded is not None else ""
    fallback_from = loaded.fallback_from if loaded is not None else ""

    if hit is not None:
        result = DecisionResult(
            decision=hit.decision,
            # The bank's list or rule decided, not a fraud risk: no risk score (the model's
            # `score` stays, for staff).
            risk_score=None,
            score=score,
            model_version=version,
            model_fallback_from=fallback_from,
            decided_by=hit.source,
            rule_hits=hits,
            reasons=[_list_or_rule_reason(hit), *model_reasons],
            features=features_out,
        )
    elif score is None:
        result = DecisionResult(
            decision=Decision.REVIEW,
            risk_score=RISK_WITHOUT_SCORE[Decision.REVIEW],
            decided_by="fallback",
            reasons=[_no_model_reason()],
            features=features_out,
        )
    else:
        result = DecisionResult(
            decision=band(score, loaded.thresholds),
            risk_score=risk_score(score),
            score=score,
            model_version=version,
            model_fallback_from=fallback_from,
            decided_by="model",
            reasons=model_reasons,
            features=features_out,
        )
    trials = trial_verdicts(
        result,
        model_decision=band(score, loaded.thresholds) if score is not None else Decision.REVIEW,
        rule_trials=rule_trials,
        model_trial=trial if other_score is not None else None,
        challenger_decides=challenger_decides,
        other=other,
        other_score=other_score,
        hit=hit,
    )
    return replace(result, trials=trials) if trials else result


def _score_only(loaded: registry.LoadedModel, feature_values: dict) -> float:
    row = np.array([[float(feature_values.get(name, np.nan)) for name in loaded.feature_names]])
    return float(explainer_for_trial(loaded).predict(row)[0])


_trial_explainers: dict[tuple[int, str], Explainer] = {}


def explainer_for_trial(loaded: registry.LoadedModel) -> Explainer:
    """The explainer of the model on trial, kept apart from the serving one so that neither
    evicts the other."""
    key = (loaded.version.pk, loaded.version.sha256)
    explainer = _trial_explainers.get(key)
    if explainer is None:
        explainer = Explainer(loaded.pipeline, loaded.feature_names, loaded.version.typical_values)
        _trial_explainers.clear()
        _trial_explainers[key] = explainer
    return explainer


def _verdict(**fields) -> dict:
    return {"rule_id": None, "model_version": "", "hit": "", **fields}


def trial_verdicts(
    result, *, model_decision, rule_trials, model_trial, challenger_decides, other, other_score, hit
):
    """Each trial's verdict under the arm that did not decide: a rule in shadow (or a rollout
    rule for a card outside its share) applied; a rollout rule that decided, left out; the
    challenger in shadow (or outside its share) deciding; the champion, where the challenger
    decided. The rules' other arm keeps the model that decided, the model's keeps the rules."""
    verdicts = []
    for trial in rule_trials:
        if trial.hit is not None:
            decision, by, name = trial.hit.decision, trial.hit.source, trial.hit.name
        else:
            decision, by, name = model_decision, "model" if result.score is not None else "fallback", ""
        verdicts.append(
            _verdict(
                source="rule",
                rule_id=trial.check.id,
                mode=trial.check.mode,
                applied=trial.applied,
                decision=Decision(decision).value,
                score=result.score,
                decided_by=by,
                hit=name,
            )
        )
    if model_trial is not None:
        decision = hit.decision if hit is not None else band(other_score, other.thresholds)
        verdicts.append(
            _verdict(
                source="model",
                model_version=model_trial.loaded.name,
                mode=model_trial.mode,
                applied=challenger_decides,
                decision=Decision(decision).value,
                score=other_score,
                decided_by=hit.source if hit is not None else "model",
                hit=hit.name if hit is not None else "",
            )
        )
    return verdicts


# ---------------------------------------------------------------------------------------------
# Offline: a whole frame at once.


# Below this many rows a chunk is not worth a thread of its own.
MIN_CHUNK_ROWS = 2_000


def by_row_chunks(function, *arrays):
    """`function(*arrays)` for row-wise functions (predict, top_codes), computed on chunks of
    rows by one thread per core, each running the model on a single OpenMP thread; the results
    are concatenated in order, so they are those of one call.

    Why: sklearn's OpenMP predict meets at a barrier after every tree, so while another process
    holds one of the cores both threads wait for it (531,408 rows with another process running:
    5.2-7.3 s with OpenMP's two threads, 3.5-3.9 s in chunks). Chunks taken in turn by the
    threads keep every core busy, and on a quiet machine are as fast as OpenMP."""
    n = len(arrays[0])
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    chunks = min(4 * workers, n // MIN_CHUNK_ROWS)
    if workers < 2 or chunks < 2:
        return function(*arrays)
    bounds = np.linspace(0, n, chunks + 1).astype(int)

    def run(start, stop):
        with one_openmp_thread():
            return function(*(array[start:stop] for array in arrays))

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return np.concatenate(list(pool.map(run, bounds[:-1], bounds[1:])))


def _offline_features(frame, label_delay=None):
    """The features of every row; the label delay is the setting's unless given."""
    delay = conf.label_delay() if label_delay is None else label_delay
    return features.compute_features_frame(frame, label_delay=delay)


def _loaded(version):
    loaded = registry.loaded_version(version) if version else registry.serving_model()
    if loaded is None:
        raise registry.RegistryError(_("There is no usable champion model; train or promote one first."))
    return loaded


def score_rows(df: pd.DataFrame, *, version=None, rows=None, label_delay=None):
    """The model's scores for the rows of `df` selected by `rows` (all by default), with the
    features computed over the whole frame. Returns (loaded model, feature matrix, scores)."""
    loaded = _loaded(version)
    feature_frame = _offline_features(df, label_delay)
    if rows is not None:
        feature_frame = feature_frame[np.asarray(rows, dtype=bool)]
    matrix, scores = model_scores(loaded, feature_frame)
    return loaded, matrix, scores


def model_scores(loaded: registry.LoadedModel, feature_frame: pd.DataFrame):
    """A loaded model's scores of rows whose features are computed: (feature matrix, scores)."""
    matrix = feature_frame[loaded.feature_names].to_numpy(dtype=float)
    scores = by_row_chunks(explainer_for(loaded).predict, matrix) if len(matrix) else np.zeros(0)
    return matrix, scores


def frame_decisions(scores: np.ndarray, thresholds, listed: np.ndarray) -> np.ndarray:
    """`decide()`'s verdict for every row: the list or rule that decided it (`listed`, "" where
    none did), else the model's band."""
    decisions = bands(scores, thresholds)
    decided = listed != ""
    decisions[decided] = listed[decided]
    return decisions


def score_frame(
    df: pd.DataFrame, *, version=None, rows=None, with_reasons=True, label_delay=None
) -> pd.DataFrame:
    """Score every transaction of a canonical frame with features from the whole frame.

    `rows` (a boolean mask over df) limits the output to a period while the history before it
    still feeds the features and velocity rules. Returns transaction_id, score, risk_score,
    decision, reasons. Reasons are computed for the transactions not approved (the others
    rarely have one worth telling, and skipping them keeps batch scoring fast). Raises
    registry.RegistryError when there is no model to score with.
    """
    loaded, matrix, scores = score_rows(df, version=version, rows=rows, label_delay=label_delay)
    listed, source = rules.evaluate_lists_and_rules_frame(df)
    if rows is not None:
        mask = np.asarray(rows, dtype=bool)
        df, listed, source = df[mask], listed[mask], source[mask]
    decisions = frame_decisions(scores, loaded.thresholds, listed)
    decided = listed != ""
    reasons = np.full(len(df), "", dtype=object)
    if with_reasons:
        explain = decisions != Decision.APPROVE
        if explain.any():
            reasons[explain] = by_row_chunks(
                explainer_for(loaded).top_codes, matrix[explain], scores[explain]
            )
    if decided.any():
        reasons[decided] = [
            f"{src};{r}" if r else src for src, r in zip(source[decided], reasons[decided], strict=True)
        ]
    return pd.DataFrame(
        {
            "transaction_id": df["transaction_id"].to_numpy(),
            "score": scores.round(6),
            "risk_score": risk_scores(scores),
            "decision": decisions,
            "reasons": reasons,
        }
    )
