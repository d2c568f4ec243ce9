"""Admin pages of the learning loop: retraining runs (status, "Train now") and the monitoring
dashboards (models side by side, traffic over time). Staff who may see model versions may see
these; starting a retraining needs the right to change model versions (model managers)."""

import json
from datetime import date, timedelta
from decimal import Decimal

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.durations import duration_text
from detection import jobs, services
from detection.forms import BACKTEST_MAX_DAYS, BacktestPeriodForm
from detection.lifecycle import backtest, charts, dashboards, monitoring, retraining
from detection.models import BacktestRun, ListEntry, ModelVersion, RetrainingRun, Rule
from detection.serving import registry

VIEW = "detection.view_modelversion"
CHANGE = "detection.change_modelversion"
PERIODS = (7, 30, 90)  # days, offered on the traffic dashboard


class RunRecordAdmin(admin.ModelAdmin):
    """A run (retraining, backtest) is a record: started from its pages, the command or the API,
    never typed in, changed or deleted; read by whoever reads the models."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and request.user.has_perm(VIEW)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    @admin.display(description=gettext_lazy("progress"))
    def progress_display(self, obj):
        return f"{obj.progress}%"


@admin.register(RetrainingRun)
class RetrainingRunAdmin(RunRecordAdmin):
    list_display = [
        "id",
        "created_at",
        "trigger",
        "status",
        "progress_display",
        "stage",
        "outcome",
        "challenger",
        "requested_by",
        "finished_at",
        "error_short",
    ]
    list_filter = ["status", "trigger", "outcome"]
    list_select_related = ["challenger", "requested_by"]
    fields = [
        "trigger",
        "status",
        "progress",
        "stage",
        "error",
        "requested_by",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "task_id",
        "labels_cutoff",
        "new_labels",
        "new_frauds",
        "champion",
        "challenger",
        "outcome",
        "comparison",
    ]
    readonly_fields = fields

    @admin.display(description=gettext_lazy("error"))
    def error_short(self, obj):
        return (obj.error[:120] + "…") if len(obj.error) > 120 else obj.error

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path("train-now/", view(self.train_now), name="detection_retrain_now"),
            path("dashboard/models/", view(self.models_dashboard), name="detection_dashboard_models"),
            path("dashboard/traffic/", view(self.traffic_dashboard), name="detection_dashboard_traffic"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        retraining.expire_stale_runs()
        active = retraining.active_run()
        due = retraining.retraining_due()
        extra = {
            "active_run": active,
            "due": due,
            "can_train": request.user.has_perm(CHANGE),
            # No JavaScript needed: the page reloads itself while a run is queued or running.
            "refresh_seconds": 5 if active else None,
            "serving": registry.serving_status(),
        }
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def train_now(self, request):
        if request.method != "POST":
            return redirect("admin:detection_retrainingrun_changelist")
        if not request.user.has_perm(CHANGE):
            raise PermissionDenied
        run, created = retraining.retraining_request(
            trigger=RetrainingRun.Trigger.MANUAL, requested_by=request.user
        )
        if created:
            messages.success(
                request, _("Retraining run #%(run)d is queued for the worker.") % {"run": run.pk}
            )
        else:
            messages.warning(
                request,
                _("Run #%(run)d is already %(status)s; a second one was not started.")
                % {"run": run.pk, "status": run.get_status_display().lower()},
            )
        return redirect("admin:detection_retrainingrun_changelist")

    def _context(self, request, title):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "runs_url": reverse("admin:detection_retrainingrun_changelist"),
            "serving": registry.serving_status(),
        }

    def models_dashboard(self, request):
        context = self._context(request, _("Models: champion and challenger"))
        pair = monitoring.champion_and_challenger()
        versions = ModelVersion.objects.order_by("-created_at", "-id")
        chosen = request.GET.get("version")
        if chosen:
            picked = versions.filter(version=chosen).first()
            if picked is not None:
                pair["challenger"] = monitoring.version_report(picked)
        reports = [r for r in (pair["champion"], pair["challenger"]) if r is not None]
        if (
            pair["champion"]
            and pair["challenger"]
            and pair["champion"]["version"] == pair["challenger"]["version"]
        ):
            reports = reports[:1]
        for report in reports:
            report["importances_svg"] = (
                dashboards.chart(charts.importances_chart, report["importances"])
                if report["importances"]
                else None
            )
        curves = {r["version"].version: r["curves"] for r in reports if r["curves"]}
        context.update(
            {
                "reports": reports,
                "versions": versions[:50],
                "chosen": chosen or "",
                "last_run": pair["last_run"],
                "curves_svg": dashboards.chart(charts.curves_chart, curves) if curves else None,
            }
        )
        return TemplateResponse(request, "admin/detection/dashboard_models.html", context)

    def traffic_dashboard(self, request):
        context = self._context(request, _("Traffic and drift"))
        try:
            days = max(7, min(90, int(request.GET.get("days", 30))))
        except ValueError:
            days = 30
        board = dashboards.traffic_dashboard(days=days)
        oldest = board["data"]["queue_oldest_hours"]
        context.update(
            {
                **board,
                "days": days,
                "periods": PERIODS,
                "psi_warning_level": monitoring.PSI_WARNING,
                "oldest_age": None if oldest is None else duration_text(timedelta(hours=oldest)),
            }
        )
        return TemplateResponse(request, "admin/detection/dashboard_traffic.html", context)


# The report's figures shown on a backtest's page, by key; money is shown with two decimals.
BACKTEST_FIGURES = [
    ("frauds_caught", gettext_lazy("Frauds caught (review or block)")),
    ("frauds_caught_amount", gettext_lazy("Money of frauds caught")),
    ("frauds_missed", gettext_lazy("Frauds missed")),
    ("frauds_missed_amount", gettext_lazy("Money of frauds missed")),
    ("frauds_blocked", gettext_lazy("Frauds blocked")),
    ("false_alarms", gettext_lazy("False alarms")),
    ("false_blocks", gettext_lazy("Good payments blocked")),
    ("false_blocks_amount", gettext_lazy("Money of good payments blocked")),
    ("alerts_per_day", gettext_lazy("Alerts a day (review + block)")),
    ("cards_alerted", gettext_lazy("Cards alerted")),
    ("cards_falsely_alerted", gettext_lazy("Cards alerted without fraud")),
    ("approved", gettext_lazy("Approved")),
    ("reviewed", gettext_lazy("Held for review")),
    ("blocked", gettext_lazy("Blocked")),
]
MONEY_FIGURES = {"frauds_caught_amount", "frauds_missed_amount", "false_blocks_amount"}
BACKTEST_COLUMNS = ("production", "baseline", "candidate")
CHANGES_PER_PAGE = 25
RUNNING = (BacktestRun.Status.QUEUED, BacktestRun.Status.RUNNING)
DECISION_NAMES = {
    "approve": gettext_lazy("approve"),
    "review": gettext_lazy("review"),
    "block": gettext_lazy("block"),
}


def _figure(key, value):
    if value is None or value == "":
        return "—"
    if key in MONEY_FIGURES:
        return number_format(value, 2, force_grouping=True)
    if key == "alerts_per_day":
        return number_format(value, 1, force_grouping=True)
    return number_format(value, force_grouping=True)


def describe_change(change: dict) -> list[tuple[str, str]]:
    """The candidate change as (label, value) lines, in the reader's language."""
    kind, value = next(iter((change or {"": None}).items()))
    if kind == "rule" and isinstance(value, dict):
        lines = []
        if value.get("id") is not None:
            rule = Rule.objects.filter(pk=value["id"]).first()
            lines.append((_("Rule edited"), str(rule) if rule else f"#{value['id']}"))
        else:
            lines.append((_("New rule"), str(value.get("name") or _("Backtested rule"))))
        labels = {field.name: str(field.verbose_name) for field in Rule._meta.fields}
        choices = {"kind": dict(Rule.Kind.choices), "action": dict(Rule.Action.choices)}
        for name in backtest.RULE_FIELDS:
            if name in value and name != "name" and value[name] not in (None, ""):
                shown = value[name]
                if name in choices:
                    shown = choices[name].get(shown, shown)
                elif name == "active":
                    shown = _("yes") if shown else _("no")
                lines.append((labels[name], str(shown)))
        return lines
    if kind in ("list_add", "list_remove") and isinstance(value, list):
        label = _("Added to a list") if kind == "list_add" else _("Taken off a list")
        types = dict(ListEntry.ListType.choices)
        kinds = dict(ListEntry.Kind.choices)
        return [
            (
                label,
                f"{types.get(item.get('list_type'), '')} · {kinds.get(item.get('kind'), '')}: {item.get('value')}",
            )
            for item in value
            if isinstance(item, dict)
        ]
    if kind == "bands" and isinstance(value, dict):
        return [(_("Band thresholds"), ", ".join(f"{band} {number}" for band, number in value.items()))]
    if kind == "model":
        return [(_("Model version"), str(value))]
    return [(_("Change"), json.dumps(change))]


def _per_day_charts(report: dict) -> list[dict]:
    """A chart per measure, a line per configuration, over the days of the period."""
    columns = [key for key in BACKTEST_COLUMNS if key in report]
    days = sorted({row["day"] for key in columns for row in report[key].get("per_day", [])})
    if not days:
        return []
    out = []
    for measure in charts.BACKTEST_MEASURES:
        series = {}
        for key in columns:
            by_day = {row["day"]: row.get(measure, 0) for row in report[key].get("per_day", [])}
            series[key] = tuple(int(by_day.get(day, 0)) for day in days)
        dates = tuple(date.fromisoformat(day) for day in days)
        out.append(
            {
                "measure": measure,
                "title": charts.backtest_measure_titles()[measure][0],
                "svg": dashboards.chart(charts.backtest_chart, measure, dates, series),
            }
        )
    return out


def _changed_rows(rows):
    for row in rows:
        moment = parse_datetime(row["occurred_at"])
        yield {
            **row,
            "occurred": moment,
            "amount_text": number_format(row["amount"], 2, force_grouping=True),
            "before": DECISION_NAMES.get(row["baseline_decision"], row["baseline_decision"]),
            "after": DECISION_NAMES.get(row["candidate_decision"], row["candidate_decision"]),
            "case_url": reverse("admin:transactions_transaction_case", args=[row["transaction_id"]]),
        }


@admin.register(BacktestRun)
class BacktestRunAdmin(RunRecordAdmin):
    list_display = [
        "id",
        "created_at",
        "period_start",
        "period_end",
        "change",
        "status",
        "progress_display",
        "requested_by",
        "finished_at",
    ]
    list_filter = ["status"]
    list_select_related = ["requested_by"]

    def get_urls(self):
        def view(function):
            return self.admin_site.admin_view(function)

        return [
            path("new/", view(self.backtest_new), name="detection_backtest_new"),
            path("<path:object_id>/apply/", view(self.backtest_apply), name="detection_backtest_apply"),
            *super().get_urls(),
        ]

    def _base_context(self, request, title):
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "runs_url": reverse("admin:detection_backtestrun_changelist"),
        }

    # --- Starting one: the candidate from the page that asked, then the period ---------------

    def _candidate(self, request):
        """The change the page that sent us asks to backtest, and the page to go back to; or
        (None, back, errors) when its values are not valid."""
        source = request.POST.get("_backtest_source") or request.GET.get("source")
        if source == "model":
            version = get_object_or_404(ModelVersion, version=request.GET.get("version", ""))
            back = reverse("admin:detection_modelversion_change", args=[version.pk])
            return {"model": version.version}, back, []
        if source == "rule" and request.method == "POST":
            rule_admin = self.admin_site._registry[Rule]
            rule = Rule.objects.filter(pk=request.POST.get("_backtest_rule") or None).first()
            form = rule_admin.get_form(request, rule)(request.POST, instance=rule or Rule())
            back = (
                reverse("admin:detection_rule_change", args=[rule.pk])
                if rule
                else reverse("admin:detection_rule_add")
            )
            if not form.is_valid():
                return None, back, _form_errors(form)
            fields = {name: _json_value(getattr(form.instance, name)) for name in backtest.RULE_FIELDS}
            return {"rule": {**fields, **({"id": rule.pk} if rule else {})}}, back, []
        if source == "list_entry" and request.method == "POST":
            form = self.admin_site._registry[ListEntry].get_form(request, None)(request.POST)
            back = reverse("admin:detection_listentry_add")
            if not form.is_valid():
                return None, back, _form_errors(form)
            entry = form.instance
            item = {"list_type": entry.list_type, "kind": entry.kind, "value": entry.value}
            if entry.expires_at is not None:
                item["expires_at"] = entry.expires_at.isoformat()
            return {"list_add": [item]}, back, []
        return None, reverse("admin:detection_backtestrun_changelist"), [_("Nothing to backtest was given.")]

    def backtest_new(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = self._base_context(request, _("Backtest a change"))
        if request.method == "POST" and request.POST.get("_step") == "period":
            form = BacktestPeriodForm(request.POST)
            back = request.POST.get("_back") or ""
            if form.is_valid():
                start, end = form.period()
                try:
                    run = jobs.backtest_start(
                        requested_by=request.user, start=start, end=end, change=form.cleaned_data["change"]
                    )
                except ValidationError as error:
                    form.add_error(None, error.messages)
                except (registry.RegistryError, registry.ArtifactError) as error:
                    form.add_error(None, str(error))
                else:
                    messages.success(
                        request, _("Backtest #%(run)d is queued for the worker.") % {"run": run.pk}
                    )
                    return redirect("admin:detection_backtestrun_change", run.pk)
            change, errors = form.cleaned_data.get("change"), []
        else:
            change, back, errors = self._candidate(request)
            form = BacktestPeriodForm(initial=BacktestPeriodForm.initial_for(change or {}))
        if not back.startswith("/"):  # only a page of ours to go back to
            back = ""
        context.update(
            {
                "form": form,
                "candidate_errors": errors,
                "change_lines": describe_change(change) if change else [],
                "back_url": back,
                "max_days": BACKTEST_MAX_DAYS,
            }
        )
        return TemplateResponse(request, "admin/detection/backtestrun/new.html", context)

    # --- A run's page: progress while it runs, the report when done ---------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, unquote(object_id))
        if run is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_permission(request, run):
            raise PermissionDenied
        report = run.report or {}
        context = self._base_context(request, _("Backtest #%(run)d") % {"run": run.pk})
        context.update(
            {
                "run": run,
                "original": run,
                "running": run.status in RUNNING,
                "refresh_seconds": 2 if run.status in RUNNING else None,
                "change_lines": describe_change(run.change),
            }
        )
        if run.status == BacktestRun.Status.SUCCEEDED and report:
            context.update(self._report_context(request, run, report))
        return TemplateResponse(request, "admin/detection/backtestrun/report.html", context)

    def _report_context(self, request, run, report):
        columns = [key for key in BACKTEST_COLUMNS if key in report]
        names = charts.backtest_configuration_names()
        figures = [
            {"label": label, "values": [_figure(key, report[column].get(key)) for column in columns]}
            for key, label in BACKTEST_FIGURES
        ]
        changes = report.get("changes") or {"count": 0, "cards": 0, "by_move": {}, "listed": []}
        paginator = Paginator(changes["listed"], CHANGES_PER_PAGE)
        page = paginator.get_page(request.GET.get("p"))
        applied = services.backtest_applied(run)
        needed = apply_permission(run.change)
        can_apply = applied is None and needed is not None and request.user.has_perm(needed)
        return {
            "report": report,
            "as_of": parse_datetime(report.get("as_of") or ""),
            "columns": [names[column] for column in columns],
            "figures": figures,
            "day_charts": _per_day_charts(report),
            "changes": changes,
            "moves": [
                (
                    " → ".join(str(DECISION_NAMES.get(part, part)) for part in move.split("→")),
                    count,
                )
                for move, count in changes["by_move"].items()
            ],
            "changes_page": page,
            "changed_rows": list(_changed_rows(page.object_list)),
            "more_changes": changes["count"] - len(changes["listed"]),
            "applied": applied,
            "applied_link": _applied_link(request, applied) if applied else None,
            "can_apply": can_apply,
            "apply_label": apply_label(run.change) if can_apply else "",
        }

    def backtest_apply(self, request, object_id):
        # get_object answers None for an id that is not one ('¹', 400 letters), never a 500.
        run = self.get_object(request, unquote(object_id))
        if run is None:
            raise Http404
        if request.method != "POST":
            return redirect("admin:detection_backtestrun_change", run.pk)
        needed = apply_permission(run.change)
        if not (self.has_view_permission(request, run) and needed and request.user.has_perm(needed)):
            raise PermissionDenied
        try:
            entry = services.backtest_apply(run=run, actor=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("admin:detection_backtestrun_change", run.pk)
        messages.success(
            request, _("Applied, justified by backtest #%(run)d in the audit trail.") % {"run": run.pk}
        )
        return redirect(_target_url(entry) or reverse("admin:detection_backtestrun_change", args=[run.pk]))


def _change_kind(change) -> tuple[str | None, object]:
    if not isinstance(change, dict) or len(change) != 1:
        return None, None
    return next(iter(change.items()))


def apply_permission(change) -> str | None:
    """The permission that applying a backtest's change needs (that of making the change by
    hand), or None when the change cannot be applied from its report."""
    kind, value = _change_kind(change)
    if kind == "rule":
        if not isinstance(value, dict):
            return None
        return "detection.change_rule" if value.get("id") is not None else "detection.add_rule"
    return {
        "list_add": "detection.add_listentry",
        "list_remove": "detection.change_listentry",
        "bands": CHANGE,
        "model": CHANGE,
    }.get(kind)


def apply_label(change) -> str:
    kind, value = _change_kind(change)
    if kind == "rule":
        return _("Apply this change") if value.get("id") is not None else _("Enable this rule")
    return {
        "list_add": _("Add these list entries"),
        "list_remove": _("Remove these list entries"),
        "bands": _("Use these thresholds"),
        "model": _("Promote this model"),
    }[kind]


# The page of what an audit entry changed, by its target's type.
TARGET_PAGES = {
    "detection.rule": "admin:detection_rule_change",
    "detection.listentry": "admin:detection_listentry_change",
    "detection.modelversion": "admin:detection_modelversion_change",
}


def _target_url(entry) -> str | None:
    name = TARGET_PAGES.get(entry.target_type) if entry is not None else None
    return reverse(name, args=[entry.target_id]) if name else None


def _applied_link(request, entry) -> tuple[str, str]:
    """(address, label): the audit entry of the application, or what it changed for a reader
    who may not read the audit trail."""
    if request.user.has_perm("accounts.view_auditentry"):
        return reverse("admin:accounts_auditentry_change", args=[entry.pk]), _("See the audit entry")
    return _target_url(entry) or "", _("See what changed")


def _json_value(value):
    if isinstance(value, Decimal):
        return str(value)
    return value


def _form_errors(form) -> list[str]:
    labels = {name: field.label for name, field in form.fields.items()}
    return [
        f"{labels.get(name) or _('Form')}: {message}" if name != "__all__" else message
        for name, messages_ in form.errors.items()
        for message in messages_
    ]
