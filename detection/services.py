"""What the commands, the background tasks and the API share: the stored history read for
training, a training result registered as a model version, and the scored CSV. Callers only
translate their own input (command options, a job's parameters) and output.
"""

import os
import tempfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.forms.models import model_to_dict
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from accounts.models import AuditEntry
from accounts.services import audit_record
from core.cardnumbers import mask_card_numbers
from core.csvcells import neutralise_column
from core.validators import refuse_card_number
from detection import conf
from detection.dataset import canonical_frame
from detection.ml import training
from detection.ml.csv_io import write_csv
from detection.ml.features import FEATURE_NAMES
from detection.models import BacktestRun, BandSettings, ListEntry, Rule, ShadowVerdict
from detection.serving import registry

SCORES_COLUMNS = ("transaction_id", "score", "risk_score", "decision", "reasons")


def stored_history(*, label_delay, end=None, start=None) -> pd.DataFrame:
    """The stored transactions (those in [start, end), either bound optional) as a canonical
    frame, each label with the moment it became known."""
    source = import_string(conf.training_source_path())
    bounds = {name: value for name, value in (("start", start), ("end", end)) if value is not None}
    return canonical_frame(source(**bounds), label_delay=label_delay)


def stored_decisions(*, start, end) -> pd.DataFrame:
    """What production decided for the transactions of [start, end) (conf.decisions_source_path)."""
    return import_string(conf.decisions_source_path())(start=start, end=end)


def shadow_verdicts_record(*, transaction_id, occurred_at, verdicts) -> list[ShadowVerdict]:
    """Store what the rules and challenger on trial would have decided for a transaction
    (`DecisionResult.trials`), next to its decision: called by whoever stores the decision, in
    the same database transaction."""
    if not verdicts:
        return []
    return ShadowVerdict.objects.bulk_create(
        ShadowVerdict(
            transaction_id=transaction_id,
            occurred_at=occurred_at,
            source=verdict["source"],
            rule_id=verdict.get("rule_id"),
            model_version=verdict.get("model_version") or "",
            mode=verdict["mode"],
            applied=bool(verdict.get("applied")),
            decision=verdict["decision"],
            score=verdict.get("score"),
            decided_by=verdict.get("decided_by") or "",
            hit=(verdict.get("hit") or "")[:140],
        )
        for verdict in verdicts
    )


def train_and_register(frame, *, promote="auto", created_by=None, notes="", **options):
    """Train on `frame` (training.train's options; the configured parameter overrides unless
    given) and register the result. Returns (result, version)."""
    options.setdefault("params", conf.training_params())
    result = training.train(frame, options=conf.learning_options(), **options)
    return result, register(result, promote=promote, created_by=created_by, notes=notes)


def register(result: training.TrainingResult, *, promote="auto", created_by=None, notes=""):
    """Record a training result as a model version in the registry."""
    periods = {name: result.periods[name] for name in ("train", "validation", "test")}
    comparison = {
        name: {period: _without_curves(entry[period]) for period in ("validation", "test")}
        | {"fit_seconds": entry["fit_seconds"], "parameters": entry["parameters"]}
        for name, entry in result.comparison.items()
    }
    return registry.register_version(
        pipeline=result.pipeline,
        algorithm=result.algorithm,
        parameters=result.parameters,
        feature_names=FEATURE_NAMES,
        periods=periods,
        metrics=result.metrics
        | {
            "baseline": result.baseline,
            "training_rows": result.training_rows,
            "periods": result.summary()["periods"],
        },
        comparison=comparison,
        thresholds=result.thresholds,
        curves=result.curves,
        importances=result.importances,
        typical_values=result.typical_values,
        created_by=created_by,
        promote=promote,
        notes=notes or "; ".join(result.warnings),
    )


BAND_SETTINGS_FIELDS = ("review_cards_per_day", "review_alert_rate", "block_precision")


@transaction.atomic
def band_settings_save(*, band_settings: BandSettings, actor) -> BandSettings:
    """Save staff's capacity and risk appetite (the one row; validated by its form) with who
    changed what in the audit trail. The next training, retraining or evaluation uses them."""
    before = BandSettings.objects.filter(pk=BandSettings.ROW).first()
    band_settings.pk = BandSettings.ROW
    band_settings.updated_by = actor
    band_settings.save()
    audit_record(
        actor=actor,
        action="band_settings.change",
        target=band_settings,
        before=model_to_dict(before, fields=BAND_SETTINGS_FIELDS) if before else {},
        after=model_to_dict(band_settings, fields=BAND_SETTINGS_FIELDS),
    )
    return band_settings


RULE_FIELDS = (
    "name",
    "kind",
    "amount",
    "max_count",
    "window_minutes",
    "values",
    "action",
    "order",
    "active",
    "mode",
    "rollout_percent",
)
LIST_ENTRY_FIELDS = ("list_type", "kind", "value", "reason", "expires_at")


@transaction.atomic
def rule_create(*, actor, name, kind, action, order=100, active=True, backtest=None, **condition) -> Rule:
    """A rule as staff write it in the admin (`condition`: amount, max_count, window_minutes or
    values, as its kind needs), validated as the admin validates it, with the audit trail (and
    the backtest that justified it, when there was one)."""
    rule = Rule(name=name, kind=kind, action=action, order=order, active=active, **condition)
    rule.full_clean()
    rule.save()
    audit_record(
        actor=actor,
        action="rule.create",
        target=rule,
        after=_audit_state(rule, RULE_FIELDS) | _justification(backtest),
        note=_justification_note(backtest),
    )
    return rule


@transaction.atomic
def rule_update(*, actor, rule: Rule, fields: dict, backtest=None) -> Rule:
    """`rule` with `fields` (of RULE_FIELDS) changed, validated as the admin validates it, with
    the state before and after (and the backtest that justified it) in the audit trail."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown rule fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    before = _audit_state(rule, RULE_FIELDS)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule.save()
    rule.refresh_from_db()  # the values as stored (an amount with its two decimals)
    audit_record(
        actor=actor,
        action="rule.change",
        target=rule,
        before=before,
        after=_audit_state(rule, RULE_FIELDS) | _justification(backtest),
        note=_justification_note(backtest),
    )
    return rule


def backtest_applied(run: BacktestRun):
    """The audit entry of the rule change `run` justified, or None."""
    return (
        AuditEntry.objects.filter(action__in=("rule.create", "rule.change"), after__backtest=run.pk)
        .order_by("created_at", "id")
        .first()
    )


@transaction.atomic
def backtest_apply(*, run: BacktestRun, actor) -> Rule:
    """Make the rule change a finished backtest measured (a new rule created, or the rule it
    edited changed, as backtested), recording the backtest in the audit trail. Refused when the
    run did not finish, its change is not a rule's, it was applied already, or the rule was
    changed after the backtest ran (its figures would no longer describe the change)."""
    run = BacktestRun.objects.select_for_update().get(pk=run.pk)
    if run.status != BacktestRun.Status.SUCCEEDED:
        raise ValidationError(_("Only a finished backtest can be applied."))
    fields = (run.change or {}).get("rule")
    if not isinstance(fields, dict):
        raise ValidationError(_("Only a rule backtested can be applied from here."))
    if backtest_applied(run) is not None:
        raise ValidationError(_("This backtest has been applied already."))
    fields = {name: value for name, value in fields.items() if name in (*RULE_FIELDS, "id")}
    if fields.get("amount") is not None:
        fields["amount"] = Decimal(str(fields["amount"]))
    rule_id = fields.pop("id", None)
    if rule_id is None:
        fields.setdefault("name", _("Backtested rule"))
        return rule_create(actor=actor, backtest=run, **fields)
    rule = Rule.objects.select_for_update().filter(pk=rule_id).first()
    if rule is None:
        raise ValidationError(_("The rule backtested no longer exists."))
    if rule.updated_at > run.created_at:
        raise ValidationError(_("The rule was changed after this backtest; backtest it again."))
    return rule_update(actor=actor, rule=rule, fields=fields, backtest=run)


def _justification(backtest) -> dict:
    return {} if backtest is None else {"backtest": backtest.pk}


def _justification_note(backtest) -> str:
    return "" if backtest is None else _("Justified by backtest #%(run)d.") % {"run": backtest.pk}


def list_entry_add(*, list_type, kind, value, actor, reason="", expires_at=None) -> ListEntry:
    """Put a value on the allow or block list (from a case, the list's admin or the demo),
    audited. A card or merchant id is an identifier and never a card number (a fingerprint is our
    own hash, whose digits are random, so it is not checked); the reason is free text, stored
    masked."""
    entry = ListEntry(
        list_type=list_type,
        kind=kind,
        value=value,
        reason=mask_card_numbers((reason or "").strip()),
        expires_at=expires_at,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    entry.full_clean(exclude=["created_by"], validate_unique=False, validate_constraints=False)
    if kind != ListEntry.Kind.CARD_FINGERPRINT:
        try:
            refuse_card_number(entry.value)
        except ValidationError as error:
            raise ValidationError({"value": error.messages}) from None
    already = ValidationError({"value": _("This value is already on that list.")})
    if ListEntry.objects.filter(list_type=list_type, kind=kind, value=entry.value).exists():
        raise already
    try:
        with transaction.atomic():
            entry.save()
            audit_record(
                actor=actor,
                action="list_entry.add",
                target=entry,
                after=_audit_state(entry, LIST_ENTRY_FIELDS),
                note=entry.reason,
            )
    except IntegrityError:  # added at the same moment by someone else
        raise already from None
    return entry


def _audit_state(obj, fields) -> dict:
    """The fields for the audit trail, as JSON holds them: amounts and moments as text."""
    return {
        name: value if value is None or isinstance(value, bool | int | str) else str(value)
        for name, value in model_to_dict(obj, fields=fields).items()
    }


def _without_curves(metrics):
    if metrics is None:
        return None
    return {k: v for k, v in metrics.items() if k != "curves"}


def write_scores(scores: pd.DataFrame, path):
    """The scored CSV (SCORES_COLUMNS) at `path`, whole or not at all: written beside it, then
    renamed. Text cells come from an uploaded or imported file and could be formulas in a
    spreadsheet: they are neutralised."""
    path = Path(path)
    out = scores[list(SCORES_COLUMNS)].copy()
    for column in ("transaction_id", "decision", "reasons"):
        out[column] = neutralise_column(out[column])
    handle, tmp = tempfile.mkstemp(dir=path.parent, suffix=".csv.tmp")
    os.close(handle)
    try:
        write_csv(out, tmp, decimals=6)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
