"""Admin pages of the learning loop: retraining runs (status, "Train now") and the monitoring
dashboards (models side by side, traffic over time). Staff who may see model versions may see
these; starting a retraining needs the right to change model versions (model managers)."""

from datetime import timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.durations import duration_text
from detection.lifecycle import charts, dashboards, monitoring, retraining
from detection.models import ModelVersion, RetrainingRun
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
