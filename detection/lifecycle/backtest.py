"""Backtests: a period's transactions replayed through the decision as it would have run then,
under the configuration in force now (the baseline) and under that configuration with one
change (the candidate), compared with what production decided.

The replay reuses the decision's own pieces, vectorised: `features.compute_features_frame` over
the period and the look-back its windows need (features see history strictly before each
transaction and labels only once known), the model's batch scores (`scoring.model_scores`), the
lists and rules' `mask` in the order `decide()` runs them (`rules.evaluate_checks_frame`; a
list entry's expiry judged at each transaction's time) and the bands (`scoring.frame_decisions`).
A row stored as declined by the account's own rules (frozen card, no credit) stays declined.

What a replay cannot know: a candidate that would have declined a payment production charged
would have turned it into a declined attempt in the card's later features; the replay keeps
the history as it happened (only blocks change features; approve and review both charge).
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.validators import refuse_card_number
from detection import conf, services
from detection.contracts import Decision
from detection.ml import features
from detection.ml.thresholds import risk_scores
from detection.models import ListEntry, Rule
from detection.serving import bands, registry, rules, scoring

# The longest window a feature reads (30 days of the card, the merchant's 30 days ending one
# label delay ago): the look-back is this plus the label delay and the longest velocity window.
FEATURE_WINDOW = timedelta(days=30)
MAX_CHANGES_LISTED = 500
CHANGE_KINDS = ("rule", "list_add", "list_remove", "bands", "model")
RULE_FIELDS = (
    "name",
    "kind",
    "action",
    "amount",
    "max_count",
    "window_minutes",
    "values",
    "order",
    "active",
    "mode",
    "rollout_percent",
)
ALERTS = (Decision.REVIEW.value, Decision.BLOCK.value)


@dataclass(frozen=True)
class Configuration:
    """What decides: the active list entries and rules (model instances, saved or not), the
    model version and its bands."""

    entries: tuple
    rules: tuple
    model_version: str
    thresholds: dict = field(default_factory=dict)

    def checks(self):
        return rules.Snapshot(entries=self.entries, rules=self.rules).checks

    def rules_look_back(self) -> timedelta:
        """The history the rules read before a transaction: the longest velocity window."""
        windows = [rule.window_minutes or 0 for rule in self.rules if rule.kind == Rule.Kind.VELOCITY]
        return timedelta(minutes=max(windows, default=0))

    def look_back(self, label_delay: timedelta) -> timedelta:
        return FEATURE_WINDOW + label_delay + self.rules_look_back()


def current_configuration() -> Configuration:
    """The lists, rules, serving model and its bands in force now."""
    loaded = registry.serving_model()
    if loaded is None:
        raise registry.RegistryError(_("There is no usable champion model; train or promote one first."))
    return Configuration(
        entries=tuple(ListEntry.objects.filter(active=True)),
        rules=tuple(Rule.objects.filter(active=True)),
        model_version=loaded.name,
        thresholds=dict(loaded.thresholds),
    )


# --- The candidate change -----------------------------------------------------------------------


def apply_change(config: Configuration, change: dict) -> Configuration:
    """`config` with one change: {"rule": {...}} (a new rule, or the rule of that "id" edited;
    "active": false takes it out), {"list_add": [{list_type, kind, value[, expires_at]}]},
    {"list_remove": [{list_type, kind, value}]}, {"bands": {"review": t, "block": t}} or
    {"model": VERSION}. Raises ValidationError saying what is wrong."""
    if not isinstance(change, dict) or len(change) != 1 or next(iter(change)) not in CHANGE_KINDS:
        raise ValidationError(
            _("Give exactly one change, one of: %(kinds)s.") % {"kinds": ", ".join(CHANGE_KINDS)}
        )
    kind, value = next(iter(change.items()))
    return {
        "rule": _with_rule,
        "list_add": _with_entries_added,
        "list_remove": _with_entries_removed,
        "bands": _with_bands,
        "model": _with_model,
    }[kind](config, value)


def _with_rule(config, fields):
    if not isinstance(fields, dict):
        raise ValidationError(_('A rule is an object of its fields, such as {"kind": "amount_above", ...}.'))
    unknown = set(fields) - {*RULE_FIELDS, "id"}
    if unknown:
        raise ValidationError(_("Unknown rule fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    if "id" in fields:
        try:
            rule = copy.copy(Rule.objects.get(pk=int(fields["id"])))
        except (Rule.DoesNotExist, TypeError, ValueError):
            raise ValidationError(_("There is no rule with the id %(id)s.") % {"id": fields["id"]}) from None
    else:
        rule = Rule(name=_("Backtested rule"), order=100, active=True)
    for name in RULE_FIELDS:
        if name in fields:
            setattr(rule, name, _decimal(fields[name]) if name == "amount" else fields[name])
    rule.full_clean(exclude=["created_at", "updated_at"])
    others = tuple(r for r in config.rules if rule.pk is None or r.pk != rule.pk)
    return replace(config, rules=(*others, rule) if rule.active else others)


def _decimal(value):
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({"amount": _("Enter a number.")}) from None


def _entries(items, *, adding):
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise ValidationError(_("List entries are a list of objects with list_type, kind and value."))
    entries = []
    for item in items:
        allowed = (
            {"list_type", "kind", "value", "reason", "expires_at"}
            if adding
            else {"list_type", "kind", "value"}
        )
        unknown = set(item) - allowed
        if unknown:
            raise ValidationError(
                _("Unknown list entry fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
            )
        expires_at = item.get("expires_at")
        if expires_at is not None:
            expires_at = parse_datetime(str(expires_at))
            if expires_at is None:
                raise ValidationError(
                    {"expires_at": _("Enter a date and time, such as 2026-01-31T00:00:00Z.")}
                )
        entry = ListEntry(
            list_type=item.get("list_type", ""),
            kind=item.get("kind", ""),
            value=str(item.get("value", "")),
            reason=str(item.get("reason", "")),
            expires_at=expires_at,
        )
        entry.full_clean(exclude=["created_by"], validate_unique=False, validate_constraints=False)
        if entry.kind != ListEntry.Kind.CARD_FINGERPRINT:
            refuse_card_number(entry.value)
        entries.append(entry)
    return entries


def _key(entry):
    return (entry.list_type, entry.kind, entry.value)


def _with_entries_added(config, items):
    added = _entries(items, adding=True)
    keys = {_key(entry) for entry in added}
    return replace(config, entries=(*(e for e in config.entries if _key(e) not in keys), *added))


def _with_entries_removed(config, items):
    keys = {_key(entry) for entry in _entries(items, adding=False)}
    missing = keys - {_key(entry) for entry in config.entries}
    if missing:
        raise ValidationError(
            _("Not on the active lists: %(entries)s.")
            % {"entries": ", ".join(f"{t} {k}={v}" for t, k, v in sorted(missing))}
        )
    return replace(config, entries=tuple(e for e in config.entries if _key(e) not in keys))


def _with_bands(config, thresholds):
    return replace(config, thresholds=bands.merged_thresholds(config.thresholds, thresholds))


def _with_model(config, version):
    name = str(version or "")
    try:
        loaded = registry.loaded_version(name)
    except (registry.RegistryError, registry.ArtifactError) as error:
        raise ValidationError(str(error)) from None
    return replace(config, model_version=loaded.name, thresholds=dict(loaded.thresholds))


# --- The replay ---------------------------------------------------------------------------------


def replay(
    frame: pd.DataFrame,
    *,
    start: datetime,
    end: datetime,
    configurations: dict[str, Configuration],
    label_delay: timedelta,
    production: pd.DataFrame | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> pd.DataFrame:
    """Each transaction of [start, end) in the canonical `frame` (which holds its look-back)
    decided under each configuration: columns `<name>_decision`, `<name>_score` (the model's),
    `<name>_risk_score` (NaN where a list or rule decided, as `decide()` stores None),
    `<name>_by` and `<name>_hit` (the list entry or rule), beside the transaction's own columns
    and, from `production`, what was stored (`production_*`)."""
    report = progress or (lambda percent, stage: None)
    frame = frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)
    times = frame["occurred_at"]
    rows = ((times >= moment(start)) & (times < moment(end))).to_numpy()
    period = frame[rows].reset_index(drop=True)
    out = period[
        ["transaction_id", "occurred_at", "card_id", "merchant_id", "amount", "is_fraud", "label_known_at"]
    ]
    out = out.copy()
    account = np.zeros(len(period), dtype=bool)
    if production is not None:
        stored = period[["transaction_id"]].merge(production, on="transaction_id", how="left")
        for column in ("decision", "score", "risk_score", "model_version", "decided_by"):
            out[f"production_{column}"] = stored[column].to_numpy()
        account = stored["account_rule"].fillna(False).to_numpy(dtype=bool)
    report(10, _("Computing features"))
    feature_rows = features.compute_features_frame(frame, label_delay=label_delay, rows=rows)
    report(50, _("Scoring"))
    scores = {}
    for config in configurations.values():
        if config.model_version not in scores:
            loaded = registry.loaded_version(config.model_version)
            scores[config.model_version] = scoring.model_scores(loaded, feature_rows)[1]
    report(75, _("Applying lists, rules and bands"))
    for name, config in configurations.items():
        checks = config.checks()
        # The rules read only their own windows: the features' month of look-back is left out.
        near = (times >= moment(start) - config.rules_look_back()).to_numpy()
        near_frame = frame[near]
        listed, source, which = (
            array[rows[near]]
            for array in rules.evaluate_checks_frame(checks, near_frame, now=near_frame["occurred_at"])
        )
        model_scores = scores[config.model_version]
        decisions = scoring.frame_decisions(model_scores, config.thresholds, listed)
        risk = risk_scores(model_scores).astype(float)
        risk[listed != ""] = np.nan
        decided_by = np.where(listed != "", source, "model").astype(object)
        names = np.array([_hit_name(check) for check in checks] + [""], dtype=object)
        # An account's own rule declined it after detection decided: it stays declined.
        decisions[account] = Decision.BLOCK.value
        risk[account] = np.nan
        decided_by[account] = "account"
        out[f"{name}_decision"] = decisions
        out[f"{name}_score"] = model_scores
        out[f"{name}_risk_score"] = risk
        out[f"{name}_by"] = decided_by
        out[f"{name}_hit"] = names[which]
    report(90, _("Writing the report"))
    return out


def moment(value) -> pd.Timestamp:
    moment = pd.Timestamp(value)
    return moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")


def _hit_name(check) -> str:
    if isinstance(check, rules.RuleCheck):
        return check.name
    return f"{check.source}:{check.kind}"


# --- The report ---------------------------------------------------------------------------------


def known_frauds(result: pd.DataFrame, *, as_of: datetime) -> np.ndarray:
    """The transactions known to be fraud at `as_of` (every other one looked legitimate then)."""
    fraud = result["is_fraud"].fillna(0).to_numpy(dtype=int) == 1
    known = (result["label_known_at"] < moment(as_of)).fillna(False).to_numpy(dtype=bool)
    return fraud & known


def _figures(result, name, fraud, days) -> dict:
    decision = result[f"{name}_decision"].to_numpy(dtype=object)
    amount = result["amount"].to_numpy(dtype=float)
    alert = np.isin(decision, ALERTS)
    block = decision == Decision.BLOCK.value
    cards = result["card_id"].to_numpy(dtype=object)
    by_day = (
        pd.DataFrame(
            {
                "day": days,
                "alerts": alert,
                "reviews": decision == Decision.REVIEW.value,
                "blocks": block,
                "frauds_caught": alert & fraud,
                "frauds_missed": ~alert & fraud,
                "false_alarms": alert & ~fraud,
            }
        )
        .groupby("day", sort=True)
        .sum()
    )
    n_days = max(len(by_day), 1)
    return {
        "transactions": len(result),
        "approved": int((decision == Decision.APPROVE.value).sum()),
        "reviewed": int((decision == Decision.REVIEW.value).sum()),
        "blocked": int(block.sum()),
        "frauds_caught": int((alert & fraud).sum()),
        "frauds_caught_amount": round(float(amount[alert & fraud].sum()), 2),
        "frauds_blocked": int((block & fraud).sum()),
        "frauds_blocked_amount": round(float(amount[block & fraud].sum()), 2),
        "frauds_missed": int((~alert & fraud).sum()),
        "frauds_missed_amount": round(float(amount[~alert & fraud].sum()), 2),
        "false_alarms": int((alert & ~fraud).sum()),
        "false_blocks": int((block & ~fraud).sum()),
        "false_blocks_amount": round(float(amount[block & ~fraud].sum()), 2),
        "alerts_per_day": round(float(alert.sum()) / n_days, 2),
        "cards_alerted": int(pd.unique(cards[alert]).size),
        "cards_falsely_alerted": int(pd.unique(cards[alert & ~fraud]).size),
        "per_day": [
            {"day": str(day)[:10], **{column: int(value) for column, value in row.items()}}
            for day, row in by_day.iterrows()
        ],
    }


def build_report(result: pd.DataFrame, *, as_of: datetime, names=("baseline", "candidate")) -> dict:
    """The comparison, labels judged as known at `as_of`: for production (when stored) and
    each configuration, frauds caught and missed (count and money), false alarms, alerts a day,
    cards affected, a series per day; and the transactions whose decision the change alters."""
    fraud = known_frauds(result, as_of=as_of)
    days = result["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D").to_numpy()
    has_production = "production_decision" in result and result["production_decision"].notna().any()
    report = {
        "as_of": moment(as_of).isoformat(),
        "transactions": len(result),
        "known_frauds": int(fraud.sum()),
        "days": int(pd.unique(days).size),
    }
    for name in (("production",) if has_production else ()) + tuple(names):
        report[name] = _figures(result, name, fraud, days)
    first, second = names
    changed = result[f"{first}_decision"].to_numpy(dtype=object) != result[f"{second}_decision"].to_numpy(
        dtype=object
    )
    moves = pd.Series(
        result.loc[changed, f"{first}_decision"] + "→" + result.loc[changed, f"{second}_decision"]
    ).value_counts()
    listed = result[changed].head(MAX_CHANGES_LISTED)
    report["changes"] = {
        "count": int(changed.sum()),
        "cards": int(result.loc[changed, "card_id"].nunique()),
        "by_move": {move: int(count) for move, count in moves.items()},
        "listed": [
            {
                "transaction_id": row["transaction_id"],
                "occurred_at": row["occurred_at"].isoformat(),
                "card_id": row["card_id"],
                "amount": float(row["amount"]),
                "known_fraud": bool(known),
                f"{first}_decision": row[f"{first}_decision"],
                f"{second}_decision": row[f"{second}_decision"],
                f"{second}_by": row[f"{second}_by"],
                f"{second}_hit": row[f"{second}_hit"],
                f"{first}_score": round(float(row[f"{first}_score"]), 6),
                f"{second}_score": round(float(row[f"{second}_score"]), 6),
            }
            for (_, row), known in zip(listed.iterrows(), fraud[changed][: len(listed)], strict=True)
        ],
    }
    if has_production:
        agree = result["production_decision"].to_numpy(dtype=object) == result[f"{first}_decision"].to_numpy(
            dtype=object
        )
        report["baseline_agrees_with_production"] = int(agree.sum())
    return report


# --- A whole run --------------------------------------------------------------------------------


@dataclass
class Outcome:
    result: pd.DataFrame
    report: dict
    baseline: Configuration
    candidate: Configuration


def backtest(
    *,
    start: datetime,
    end: datetime,
    change: dict,
    history: Callable[..., pd.DataFrame],
    decisions: Callable[..., pd.DataFrame] | None,
    label_delay: timedelta,
    as_of: datetime | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> Outcome:
    """Backtest `change` over [start, end) against the configuration in force now: the history
    (`history(start=..., end=...)`, a canonical frame) from the look-back both configurations
    need, production's decisions (`decisions(start=..., end=...)`), labels judged at `as_of`
    (default: now)."""
    if end <= start:
        raise ValidationError(_("The period's end must be after its start."))
    report = progress or (lambda percent, stage: None)
    baseline = current_configuration()
    candidate = apply_change(baseline, change)
    report(2, _("Reading the history"))
    look_back = max(baseline.look_back(label_delay), candidate.look_back(label_delay))
    frame = history(start=start - look_back, end=end)
    production = decisions(start=start, end=end) if decisions is not None else None
    result = replay(
        frame,
        start=start,
        end=end,
        configurations={"baseline": baseline, "candidate": candidate},
        label_delay=label_delay,
        production=production,
        progress=report,
    )
    summary = build_report(result, as_of=as_of or timezone.now())
    summary["period"] = {"start": moment(start).isoformat(), "end": moment(end).isoformat()}
    summary["baseline_model"], summary["candidate_model"] = baseline.model_version, candidate.model_version
    summary["change"] = change
    report(100, _("Done"))
    return Outcome(result, summary, baseline, candidate)


def backtest_stored(*, start, end, change, as_of=None, progress=None) -> Outcome:
    """`backtest` on the stored history and production's stored decisions, with the label delay
    of the settings."""
    delay = conf.label_delay()
    return backtest(
        start=start,
        end=end,
        change=change,
        history=lambda **bounds: services.stored_history(label_delay=delay, **bounds),
        decisions=services.stored_decisions,
        label_delay=delay,
        as_of=as_of,
        progress=progress,
    )
