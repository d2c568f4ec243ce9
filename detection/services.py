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
from django.utils.dateparse import parse_datetime
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
from detection.models import BacktestRun, BandSettings, ListEntry, Mode, ModelVersion, Rule, ShadowVerdict
from detection.serving import justification, registry

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
    values, as its kind needs, and its mode), validated as the admin validates it, with the
    audit trail: a rule that decides names the backtest that justified it (`backtest`, or the
    latest of the same rule), or None."""
    rule = Rule(name=name, kind=kind, action=action, order=order, active=active, **condition)
    rule.full_clean()
    rule.save()
    rule.refresh_from_db()  # the values as stored (an amount with its two decimals)
    after = _audit_state(rule, RULE_FIELDS)
    justified, note = justification.justification(
        {"rule": after}, backtest=backtest, goes_live=_rule_goes_live(None, after)
    )
    audit_record(actor=actor, action="rule.create", target=rule, after=after | justified, note=note)
    return rule


@transaction.atomic
def rule_update(*, actor, rule: Rule, fields: dict, backtest=None) -> Rule:
    """`rule` with `fields` (of RULE_FIELDS) changed, validated as the admin validates it, with
    the state stored before and after in the audit trail; a change that makes it decide more
    (activated, out of shadow, a wider rollout, a new condition) names the backtest that
    justified it, or None."""
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise ValidationError(_("Unknown rule fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))})
    stored = Rule.objects.select_for_update().get(pk=rule.pk)
    before = _audit_state(stored, RULE_FIELDS)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule.full_clean()
    rule.save()
    rule.refresh_from_db()  # the values as stored (an amount with its two decimals)
    after = _audit_state(rule, RULE_FIELDS)
    justified, note = justification.justification(
        {"rule": after | {"id": rule.pk}},
        backtest=backtest,
        before=before,
        since=stored.updated_at,
        goes_live=_rule_goes_live(before, after),
    )
    audit_record(
        actor=actor, action="rule.change", target=rule, before=before, after=after | justified, note=note
    )
    return rule


@transaction.atomic
def rule_delete(*, rule: Rule, actor) -> None:
    """Delete a rule, audited. Taking out a rule that decided changes decisions as much as adding
    one, so its audit entry names the backtest of taking it out ({"rule": {"id", "active":
    false}}), or None; a rule that decided nothing (inactive, in shadow) names none."""
    stored = Rule.objects.select_for_update().filter(pk=rule.pk).first()
    if stored is None:
        return
    before = _audit_state(stored, RULE_FIELDS)
    justified, note = justification.justification(
        {"rule": before | {"id": stored.pk, "active": False}},
        before=before,
        since=stored.updated_at,
        goes_live=stored.active and stored.mode != Mode.SHADOW,
    )
    audit_record(
        actor=actor,
        action="rule.delete",
        target=stored,
        before=before,
        after={"deleted": True} | justified,
        note=note,
    )
    stored.delete()


def rule_shadow(*, rule: Rule, actor) -> Rule:
    """Put a rule in shadow: it runs on every payment and is recorded, deciding none."""
    return rule_update(
        actor=actor, rule=rule, fields={"active": True, "mode": Mode.SHADOW, "rollout_percent": None}
    )


def _rule_goes_live(before: dict | None, after: dict) -> bool:
    """Whether a rule's change makes it decide where it did not: created or activated deciding,
    out of shadow, from rollout to everyone, a wider rollout, or another condition, action or
    order. Taking it out (inactive, shadow, a narrower rollout) or renaming it is not."""
    now = justification.rule_state(after)
    if not now["active"] or now["mode"] == Mode.SHADOW:
        return False
    if before is None:
        return True
    then = justification.rule_state(before)
    if not then["active"] or then["mode"] == Mode.SHADOW:
        return True
    if then["mode"] == Mode.ROLLOUT and now["mode"] == Mode.LIVE:
        return True
    if then["mode"] == now["mode"] == Mode.ROLLOUT and (now["rollout_percent"] or 0) > (
        then["rollout_percent"] or 0
    ):
        return True
    return any(then[name] != now[name] for name in (*justification.RULE_CONDITION, "order"))


def backtest_applied(run: BacktestRun):
    """The (first) audit entry of a change that went live justified by `run`, or None."""
    return AuditEntry.objects.filter(after__backtest=run.pk).order_by("created_at", "id").first()


@transaction.atomic
def backtest_apply(*, run: BacktestRun, actor) -> AuditEntry:
    """Make the change a finished backtest measured go live, as it was backtested: the rule
    created or edited, the list entries added or taken off, the model promoted or the champion's
    bands moved, each audited with the backtest as its justification. Refused when the run did
    not finish, it was applied already, or what it measured changed after it began (its figures
    would no longer describe the change). Returns the audit entry of the application."""
    run = BacktestRun.objects.select_for_update().get(pk=run.pk)
    if run.status != BacktestRun.Status.SUCCEEDED:
        raise ValidationError(_("Only a finished backtest can be applied."))
    change = run.change if isinstance(run.change, dict) and len(run.change) == 1 else {}
    kind, value = next(iter(change.items()), (None, None))
    if kind not in APPLIERS:
        raise ValidationError(_("This change cannot be applied from here."))
    if backtest_applied(run) is not None:
        raise ValidationError(_("This backtest has been applied already."))
    APPLIERS[kind](run, value, actor)
    return backtest_applied(run)


def _apply_rule(run, fields, actor):
    if not isinstance(fields, dict):
        raise ValidationError(_("This change cannot be applied from here."))
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
    if rule.updated_at > justification.run_began(run):
        raise ValidationError(_("The rule was changed after this backtest; backtest it again."))
    return rule_update(actor=actor, rule=rule, fields=fields, backtest=run)


def _backtested_entries(items) -> list[dict]:
    items = [items] if isinstance(items, dict) else items
    if not isinstance(items, list) or not items or not all(isinstance(item, dict) for item in items):
        raise ValidationError(_("This change cannot be applied from here."))
    return items


def _listed(item):
    list_type, kind, value = justification.entry_key(item)
    return ListEntry.objects.select_for_update().filter(list_type=list_type, kind=kind, value=value).first()


def _lists_changed():
    return ValidationError(_("The lists were changed after this backtest; backtest it again."))


def _apply_list_add(run, items, actor):
    began = justification.run_began(run)
    for item in _backtested_entries(items):
        expires_at = parse_datetime(str(item["expires_at"])) if item.get("expires_at") else None
        entry = _listed(item)
        if entry is None:
            list_entry_add(
                list_type=item.get("list_type", ""),
                kind=item.get("kind", ""),
                value=str(item.get("value", "")),
                reason=str(item.get("reason", "")),
                expires_at=expires_at,
                actor=actor,
                backtest=run,
            )
        elif entry.active or justification.entry_last_changed(entry) > began:
            raise _lists_changed()
        else:  # on the list but switched off, and so when it was backtested: switched on again
            list_entry_update(
                entry=entry, fields={"active": True, "expires_at": expires_at}, actor=actor, backtest=run
            )


def _apply_list_remove(run, items, actor):
    began = justification.run_began(run)
    entries = [_listed(item) for item in _backtested_entries(items)]
    if any(e is None or not e.active or justification.entry_last_changed(e) > began for e in entries):
        raise _lists_changed()
    for entry in entries:
        list_entry_update(entry=entry, fields={"active": False}, actor=actor, backtest=run)


def _champion_as_backtested(run) -> ModelVersion:
    """The champion, refused when it is not the one the backtest compared with, or its bands
    moved since."""
    try:
        champion = registry.get_version()
    except registry.RegistryError as error:
        raise ValidationError(str(error)) from None
    began = justification.run_began(run)
    baseline = (run.report or {}).get("baseline_model")
    moved = justification.thresholds_last_changed(champion)
    if (
        justification.champion_changed_since(began)
        or (baseline and baseline != champion.version)
        or (moved is not None and moved > began)
    ):
        raise ValidationError(_("The champion was changed after this backtest; backtest it again."))
    return champion


def _apply_model(run, version, actor):
    _champion_as_backtested(run)
    try:
        target = registry.get_version(str(version))
    except registry.RegistryError as error:
        raise ValidationError(str(error)) from None
    if target.status == ModelVersion.Status.CHAMPION:
        raise ValidationError(_("%(version)s is the champion already.") % {"version": target.version})
    moved = justification.thresholds_last_changed(target)
    if moved is not None and moved > justification.run_began(run):
        raise ValidationError(_("The model was changed after this backtest; backtest it again."))
    try:
        registry.promote_version(target, actor=actor, note=_("Promoted from its backtest."), backtest=run)
    except registry.RegistryError as error:
        raise ValidationError(str(error)) from None


def _apply_bands(run, thresholds, actor):
    champion = _champion_as_backtested(run)
    registry.thresholds_set(version=champion, bands_changed=thresholds, actor=actor, backtest=run)


APPLIERS = {
    "rule": _apply_rule,
    "list_add": _apply_list_add,
    "list_remove": _apply_list_remove,
    "model": _apply_model,
    "bands": _apply_bands,
}


def list_entry_add(*, list_type, kind, value, actor, reason="", expires_at=None, backtest=None) -> ListEntry:
    """Put a value on the allow or block list (from a case, the list's admin, a backtest's report
    or the demo), audited with the backtest that justified it (`backtest`, or the latest of the
    same entry), or None. A card or merchant id is an identifier and never a card number (a
    fingerprint is our own hash, whose digits are random, so it is not checked); the reason is
    free text, stored masked."""
    entry = ListEntry(
        list_type=list_type,
        kind=kind,
        value=value,
        reason=mask_card_numbers((reason or "").strip()),
        expires_at=expires_at,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    entry.full_clean(exclude=["created_by"], validate_unique=False, validate_constraints=False)
    _refuse_card_number(entry)
    already = ValidationError({"value": _("This value is already on that list.")})
    if ListEntry.objects.filter(list_type=list_type, kind=kind, value=entry.value).exists():
        raise already
    justified, note = justification.justification({"list_add": [_entry_item(entry)]}, backtest=backtest)
    try:
        with transaction.atomic():
            entry.save()
            audit_record(
                actor=actor,
                action="list_entry.add",
                target=entry,
                after=_audit_state(entry, LIST_ENTRY_FIELDS) | justified,
                note=" ".join(part for part in (entry.reason, note) if part),
            )
    except IntegrityError:  # added at the same moment by someone else
        raise already from None
    return entry


@transaction.atomic
def list_entry_update(*, entry: ListEntry, fields: dict, actor, backtest=None) -> ListEntry:
    """`entry` with `fields` (of LIST_ENTRY_FIELDS, or active) changed, validated and audited.
    Switched off, it is taken off its list (`list_entry.remove`); switched on or made another
    value, it is added: either way the audit entry names the backtest that justified it, or
    None."""
    unknown = set(fields) - {*LIST_ENTRY_FIELDS, "active"}
    if unknown:
        raise ValidationError(
            _("Unknown list entry fields: %(fields)s.") % {"fields": ", ".join(sorted(unknown))}
        )
    stored = ListEntry.objects.select_for_update().get(pk=entry.pk)
    before = _audit_state(stored, (*LIST_ENTRY_FIELDS, "active"))
    since = justification.entry_last_changed(stored)
    for name, value in fields.items():
        setattr(entry, name, value)
    entry.reason = mask_card_numbers((entry.reason or "").strip())
    entry.full_clean(exclude=["created_by"])
    _refuse_card_number(entry)
    entry.save()
    after = _audit_state(entry, (*LIST_ENTRY_FIELDS, "active"))
    action, justified, note = "list_entry.change", {}, ""
    if stored.active and not entry.active:
        action = "list_entry.remove"
        justified, note = justification.justification(
            {"list_remove": [_entry_item(stored)]}, backtest=backtest, since=since
        )
    elif entry.active and (not stored.active or _entry_item(stored) != _entry_item(entry)):
        justified, note = justification.justification(
            {"list_add": [_entry_item(entry)]}, backtest=backtest, since=since
        )
    if after != before or justified:
        audit_record(
            actor=actor, action=action, target=entry, before=before, after=after | justified, note=note
        )
    return entry


@transaction.atomic
def list_entry_delete(*, entry: ListEntry, actor) -> None:
    """Delete a list entry, audited as taken off its list (with the backtest that justified it
    when it was deciding, or None)."""
    stored = ListEntry.objects.select_for_update().filter(pk=entry.pk).first()
    if stored is None:
        return
    justified, note = justification.justification(
        {"list_remove": [_entry_item(stored)]},
        since=justification.entry_last_changed(stored),
        goes_live=stored.active,
    )
    audit_record(
        actor=actor,
        action="list_entry.remove",
        target=stored,
        before=_audit_state(stored, (*LIST_ENTRY_FIELDS, "active")),
        after={"deleted": True} | justified,
        note=note,
    )
    stored.delete()


def _entry_item(entry: ListEntry) -> dict:
    return {"list_type": entry.list_type, "kind": entry.kind, "value": entry.value}


def _refuse_card_number(entry: ListEntry):
    if entry.kind != ListEntry.Kind.CARD_FINGERPRINT:
        try:
            refuse_card_number(entry.value)
        except ValidationError as error:
            raise ValidationError({"value": error.messages}) from None


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
