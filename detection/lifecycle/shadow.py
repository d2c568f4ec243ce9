"""The comparison report of a rule or a challenger on trial (shadow or rollout), over a period,
with the labels known now: the backtest's own report (`backtest.build_report`) on what was
recorded live instead of a replay.

Each transaction decided while the trial ran has its real decision (stored with the payment,
`DETECTION_DECISIONS_SOURCE`) and a `ShadowVerdict`: the decision under the arm that did not
decide. So every transaction has both sides: *baseline*, without the change (the rule left out,
the champion deciding), and *candidate*, with it (the rule applied, the challenger deciding). In
shadow the baseline is production; in a rollout each side is production for its own share of
cards. A payment the account's own rules declined (frozen card, no credit) stays declined on both
sides, as in a backtest.
"""

from datetime import datetime

import numpy as np
import pandas as pd
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from detection import conf, services
from detection.contracts import Decision
from detection.lifecycle import backtest
from detection.models import Mode, ModelVersion, Rule, ShadowVerdict

SIDES = ("baseline", "candidate")
VERDICT_FIELDS = ("transaction_id", "mode", "applied", "decision", "score", "decided_by", "hit")


def _verdicts(*, rule_id, model_version, start, end) -> pd.DataFrame:
    if (rule_id is None) == (not model_version):
        raise ValidationError(_("Name either a rule or a model version."))
    verdicts = ShadowVerdict.objects.filter(occurred_at__gte=start, occurred_at__lt=end)
    if rule_id is not None:
        verdicts = verdicts.filter(source=ShadowVerdict.Source.RULE, rule_id=rule_id)
    else:
        verdicts = verdicts.filter(source=ShadowVerdict.Source.MODEL, model_version=model_version)
    frame = pd.DataFrame.from_records(
        list(verdicts.values_list(*VERDICT_FIELDS)), columns=list(VERDICT_FIELDS)
    )
    # One verdict per transaction (a submission records each trial once).
    return frame.drop_duplicates("transaction_id", keep="last")


def compared(verdicts: pd.DataFrame, history: pd.DataFrame, production: pd.DataFrame) -> pd.DataFrame:
    """The rows `backtest.build_report` reads, one per transaction with a verdict: its own
    columns (from the canonical `history`), `production_*`, and both sides."""
    rows = history[
        ["transaction_id", "occurred_at", "card_id", "merchant_id", "amount", "is_fraud", "label_known_at"]
    ].merge(verdicts, on="transaction_id", how="inner")
    rows = rows.merge(production, on="transaction_id", how="left").sort_values("occurred_at", kind="stable")
    rows = rows.reset_index(drop=True)
    applied = rows["applied"].to_numpy(dtype=bool)
    account = rows["account_rule"].fillna(False).to_numpy(dtype=bool)
    out = rows[
        ["transaction_id", "occurred_at", "card_id", "merchant_id", "amount", "is_fraud", "label_known_at"]
    ]
    out = out.copy()
    for column in ("decision", "score", "risk_score", "model_version", "decided_by"):
        out[f"production_{column}"] = rows[column].to_numpy()
    live = {
        "decision": rows["decision"].to_numpy(dtype=object),
        "score": rows["score"].to_numpy(dtype=float),
        "by": rows["decided_by"].to_numpy(dtype=object),
        "hit": np.full(len(rows), "", dtype=object),
    }
    other = {
        "decision": rows["verdict_decision"].to_numpy(dtype=object),
        "score": rows["verdict_score"].to_numpy(dtype=float),
        "by": rows["verdict_decided_by"].to_numpy(dtype=object),
        "hit": rows["verdict_hit"].to_numpy(dtype=object),
    }
    for side, with_change in zip(SIDES, (False, True), strict=True):
        # The side that decided is production; the other is the verdict.
        production_side = applied == with_change
        for key in ("decision", "score", "by", "hit"):
            values = np.where(production_side, live[key], other[key])
            if key == "decision":
                values = np.where(account, Decision.BLOCK.value, values)
            elif key == "by":
                values = np.where(account, "account", values)
            out[f"{side}_{key}"] = values
    out["applied"] = applied
    return out


def trial_report(
    *,
    start: datetime,
    end: datetime,
    rule_id: int | None = None,
    model_version: str = "",
    as_of: datetime | None = None,
) -> dict:
    """The report of a rule (`rule_id`) or a model version on trial over [start, end): production,
    baseline (without the change) and candidate (with it), as a backtest reports them, labels as
    known at `as_of` (default: now); for a rollout, production's figures on each arm too."""
    if end <= start:
        raise ValidationError(_("The period's end must be after its start."))
    as_of = as_of or timezone.now()
    verdicts = _verdicts(rule_id=rule_id, model_version=model_version, start=start, end=end)
    if verdicts.empty:
        raise ValidationError(
            _(
                "Nothing was recorded for this trial in the period: put the rule or model version in shadow or rollout first."
            )
        )
    verdicts = verdicts.rename(
        columns={name: f"verdict_{name}" for name in ("decision", "score", "decided_by", "hit")}
    )
    history = services.stored_history(start=start, end=end, label_delay=conf.label_delay())
    production = services.stored_decisions(start=start, end=end)
    result = compared(verdicts, history, production)
    report = backtest.build_report(result, as_of=as_of, names=SIDES)
    modes = sorted(set(verdicts["mode"]))
    applied = result["applied"].to_numpy(dtype=bool)
    cards = result["card_id"]
    report["period"] = {"start": backtest.moment(start).isoformat(), "end": backtest.moment(end).isoformat()}
    report["trial"] = {
        "source": "rule" if rule_id is not None else "model",
        "rule_id": rule_id,
        "model_version": model_version or "",
        "modes": modes,
        "now": _now_on_trial(rule_id, model_version),
        "applied": int(applied.sum()),
        "cards": int(cards.nunique()),
        "cards_applied": int(cards[applied].nunique()),
    }
    if Mode.ROLLOUT in modes:
        report["arms"] = {
            arm: backtest.build_report(result[rows].reset_index(drop=True), as_of=as_of, names=SIDES)[
                "production"
            ]
            for arm, rows in (("rollout", applied), ("control", ~applied))
            if rows.any()
        }
    return report


def _now_on_trial(rule_id, model_version) -> dict:
    """The trial's mode now (it may have been changed since the period)."""
    if rule_id is not None:
        rule = Rule.objects.filter(pk=rule_id).values("mode", "rollout_percent").first()
        return rule or {}
    version = (
        ModelVersion.objects.filter(version=model_version).values("trial_mode", "rollout_percent").first()
    )
    return {"mode": version["trial_mode"], "rollout_percent": version["rollout_percent"]} if version else {}
