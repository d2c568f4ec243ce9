"""Which backtest justified a change going live: the one selector every go-live path asks (a rule
saved, a list entry added or taken off, a model promoted or rolled out, the bands moved), so the
audit trail names the backtest, or says plainly that the change went live untested.

A change is given in the backtest's own format (`detection.lifecycle.backtest.apply_change`):
{"rule": {...fields, "id"?}}, {"list_add": [...]}, {"list_remove": [...]}, {"bands": {...}} or
{"model": VERSION}. A run justifies it when it finished, measured that same change, began after
the object was last changed (before that it measured another world) and is at most
DETECTION_BACKTEST_JUSTIFICATION_DAYS old. Here, below `lifecycle`, because the registry's
promotion is a go-live path too.
"""

from datetime import timedelta
from decimal import Decimal, InvalidOperation

from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import AuditEntry
from detection import conf
from detection.models import BacktestRun, ListEntry, Mode, Rule

# What decides in a rule: a change of any of these is measured by a backtest, its name is not.
RULE_CONDITION = ("kind", "action", "amount", "max_count", "window_minutes", "values")
RULE_DECIDING = (*RULE_CONDITION, "order", "active", "mode", "rollout_percent")
LOOKED_AT = 200  # the most recent runs of the right kind: far more than a month of backtests
THRESHOLDS_CHANGED = "model_version.thresholds"
CHAMPION_CHANGED = ("model_version.promote", "model_version.rollback")


def run_began(run: BacktestRun):
    """When `run` read the configuration it compares with (its start; its request if unknown)."""
    return run.started_at or run.created_at


def justifying_backtest(change: dict, *, before: dict | None = None, since=None) -> BacktestRun | None:
    """The latest finished backtest of `change`, begun at or after `since` (the object's last
    change) and within the configured age, or None. `before` is what the change starts from:
    a rule's fields (an edit is measured on the rule as it was), or {"model", "thresholds"} of
    the champion for bands."""
    kind, value = next(iter(change.items()))
    recent = timezone.now() - timedelta(days=conf.backtest_justification_days())
    runs = BacktestRun.objects.annotate(
        began=Coalesce("started_at", "created_at"), ended=Coalesce("finished_at", "created_at")
    ).filter(status=BacktestRun.Status.SUCCEEDED, ended__gte=recent, change__has_key=kind)
    if since is not None:
        runs = runs.filter(began__gte=since)
    same = SAME[kind]
    for run in runs.order_by("-ended", "-id")[:LOOKED_AT]:
        measured = (run.change or {}).get(kind)
        if measured is not None and same(measured, value, before or {}, run):
            return run
    return None


def justification(
    change: dict, *, backtest=None, before=None, since=None, goes_live=True
) -> tuple[dict, str]:
    """What the audit entry of a change going live records: {"backtest": id or None} for its
    `after` (None: it went live untested, and the trail says so), and its note. `backtest` when
    the caller knows it (applied from its report: always named). A change that makes nothing
    decide more (`goes_live` false) records neither."""
    if backtest is None and not goes_live:
        return {}, ""
    run = backtest if backtest is not None else justifying_backtest(change, before=before, since=since)
    if run is None:
        return {"backtest": None}, ""
    return {"backtest": run.pk}, _("Justified by backtest #%(run)d.") % {"run": run.pk}


def went_live_untested(target, *, since) -> bool:
    """Whether the latest audit entry of `target` written at or after `since` records a change
    that went live without a backtest (for the page that made it to warn)."""
    entry = (
        AuditEntry.objects.filter(
            target_type=target._meta.label_lower, target_id=str(target.pk), created_at__gte=since
        )
        .order_by("-created_at", "-id")
        .only("after")
        .first()
    )
    return entry is not None and "backtest" in entry.after and entry.after["backtest"] is None


def last_audited(target, actions=None):
    """When `target` last had an audit entry (of one of `actions`), or None."""
    entries = AuditEntry.objects.filter(target_type=target._meta.label_lower, target_id=str(target.pk))
    if actions is not None:
        entries = entries.filter(action__in=actions)
    entry = entries.order_by("-created_at", "-id").only("created_at").first()
    return entry.created_at if entry else None


def entry_last_changed(entry: ListEntry):
    """A list entry has no `updated_at`: its last change is its creation or its last audit."""
    audited = last_audited(entry)
    return max(entry.created_at, audited) if audited else entry.created_at


def thresholds_last_changed(version):
    return last_audited(version, (THRESHOLDS_CHANGED,))


def champion_changed_since(moment) -> bool:
    """Whether a promotion or a rollback happened after `moment`."""
    return AuditEntry.objects.filter(action__in=CHAMPION_CHANGED, created_at__gt=moment).exists()


# --- The same change ------------------------------------------------------------------------------


def rule_state(fields: dict) -> dict:
    """A rule's deciding fields as comparable values (the backtest's JSON or the model's)."""
    amount = fields.get("amount")
    if amount not in (None, ""):
        try:
            amount = str(Decimal(str(amount)).quantize(Decimal("0.01")))
        except InvalidOperation:
            amount = str(amount)
    else:
        amount = None
    return {
        "kind": str(fields.get("kind") or ""),
        "action": str(fields.get("action") or ""),
        "amount": amount,
        "max_count": _integer(fields.get("max_count")),
        "window_minutes": _integer(fields.get("window_minutes")),
        "values": ", ".join(Rule(values=str(fields.get("values") or "")).value_set),
        "order": _integer(fields.get("order", 100)),
        "active": bool(fields.get("active", True)),
        "mode": str(fields.get("mode") or Mode.LIVE),
        "rollout_percent": _integer(fields.get("rollout_percent")),
    }


def _integer(value):
    try:
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return value


def _same_rule(measured, went_live, before, run) -> bool:
    if not isinstance(measured, dict):
        return False
    rule_id = went_live.get("id")
    if rule_id is None:  # a new rule: the same kind, action and condition
        if measured.get("id") is not None:
            return False
        ours, theirs = rule_state(went_live), rule_state(measured)
        return all(ours[name] == theirs[name] for name in RULE_CONDITION)
    if str(measured.get("id")) != str(rule_id):
        return False
    # The run measured the rule as it was with its own fields changed: that must be the rule now.
    candidate = rule_state({**before, **{k: v for k, v in measured.items() if k != "id"}})
    now = rule_state(went_live)
    return all(candidate[name] == now[name] for name in RULE_DECIDING)


def entry_key(item) -> tuple[str, str, str]:
    """(list_type, kind, value) as the lists compare them (a country in capitals)."""
    get = item.get if isinstance(item, dict) else lambda name: getattr(item, name, "")
    kind = str(get("kind") or "")
    value = str(get("value") or "").strip()
    return (str(get("list_type") or ""), kind, value.upper() if kind == ListEntry.Kind.COUNTRY else value)


def _entry_keys(items):
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return None
    return {entry_key(item) for item in items if isinstance(item, dict)}


def _same_entries(measured, went_live, before, run) -> bool:
    keys = _entry_keys(measured)
    return bool(keys) and keys == _entry_keys(went_live)


def _same_bands(measured, went_live, before, run) -> bool:
    # Measured on the champion's scores: another model's bands say nothing about these.
    model = (run.report or {}).get("baseline_model")
    if model is not None and before.get("model") is not None and model != before["model"]:
        return False
    if not isinstance(measured, dict) or set(measured) - {"review", "block"}:
        return False
    thresholds = {**(before.get("thresholds") or {}), **measured}
    try:
        return all(abs(float(thresholds[name]) - float(went_live[name])) < 1e-9 for name in went_live)
    except (KeyError, TypeError, ValueError):
        return False


def _same_model(measured, went_live, before, run) -> bool:
    return str(measured) == str(went_live)


SAME = {
    "rule": _same_rule,
    "list_add": _same_entries,
    "list_remove": _same_entries,
    "bands": _same_bands,
    "model": _same_model,
}
