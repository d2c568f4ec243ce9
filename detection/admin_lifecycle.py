"""Admin pages of the learning loop: retraining runs (status, "Train now") and the monitoring
dashboards (models side by side, traffic over time). Staff who may see model versions may see
these; starting a retraining needs the right to change model versions (model managers)."""

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.durations import duration_text
from detection.lifecycle import charts, dashboards, monitoring, retraining
from detection.models import BacktestRun, ModelVersion, RetrainingRun
from detection.serving import registry

VIEW = "detection.view_modelversion"
CHANGE = "detection.change_modelversion"
PERIODS = (7, 30, 90)  # days, offered on the traffic dashboard


@admin.register(RetrainingRun)
class RetrainingRunAdmin(admin.ModelAdmin):
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

    # Runs are history: started with "Train now", never typed in or deleted.
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


# The report's figures shown on a backtest's page, by key.
BACKTEST_FIGURES = [
    ("frauds_caught", gettext_lazy("Frauds caught (review or block)")),
    ("frauds_caught_amount", gettext_lazy("Money of frauds caught")),
    ("frauds_missed", gettext_lazy("Frauds missed")),
    ("frauds_missed_amount", gettext_lazy("Money of frauds missed")),
    ("false_alarms", gettext_lazy("False alarms")),
    ("false_blocks", gettext_lazy("Good payments blocked")),
    ("alerts_per_day", gettext_lazy("Alerts a day (review + block)")),
    ("cards_alerted", gettext_lazy("Cards alerted")),
    ("cards_falsely_alerted", gettext_lazy("Cards alerted without fraud")),
]
BACKTEST_COLUMNS = [
    ("production", gettext_lazy("Production")),
    ("baseline", gettext_lazy("Baseline")),
    ("candidate", gettext_lazy("Candidate")),
]
BACKTEST_CHANGES_SHOWN = 100


@admin.register(BacktestRun)
class BacktestRunAdmin(admin.ModelAdmin):
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
    fields = [
        "period_start",
        "period_end",
        "change",
        "status",
        "progress",
        "stage",
        "error",
        "requested_by",
        "created_at",
        "started_at",
        "finished_at",
        "figures",
        "changed_transactions",
    ]
    readonly_fields = fields

    # Started from the command or the API, never typed in; kept as the record of a decision.
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

    @admin.display(description=gettext_lazy("figures"))
    def figures(self, obj):
        report = obj.report or {}
        columns = [(key, label) for key, label in BACKTEST_COLUMNS if key in report]
        if not columns:
            return "—"
        head = format_html_join("", "<th>{}</th>", ((label,) for _key, label in columns))
        rows = format_html_join(
            "",
            "<tr><th>{}</th>{}</tr>",
            (
                (
                    label,
                    format_html_join(
                        "", "<td>{}</td>", ((report[key].get(figure, ""),) for key, _ in columns)
                    ),
                )
                for figure, label in BACKTEST_FIGURES
            ),
        )
        return format_html("<table><tr><th></th>{}</tr>{}</table>", head, rows)

    @admin.display(description=gettext_lazy("transactions that change decision"))
    def changed_transactions(self, obj):
        changes = (obj.report or {}).get("changes")
        if not changes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} → {}</td></tr>",
            (
                (
                    row["transaction_id"],
                    row["occurred_at"],
                    row["card_id"],
                    row["amount"],
                    row["baseline_decision"],
                    row["candidate_decision"],
                )
                for row in changes["listed"][:BACKTEST_CHANGES_SHOWN]
            ),
        )
        return format_html(
            "<p>{}</p><table>{}</table>",
            _("%(count)d transactions change decision, on %(cards)d cards.")
            % {"count": changes["count"], "cards": changes["cards"]},
            rows,
        )
