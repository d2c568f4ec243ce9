"""Stored traffic and labels as detection's retraining and dashboards read them.

Detection never imports this app; it names `DatabaseTraffic` in the setting
``DETECTION_TRAFFIC_SOURCE`` and gets plain numbers and lists back. Each question is one
aggregate query over indexed columns (occurred_at, label_known_at, status).
"""

from datetime import datetime

from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone

from detection.contracts import Decision
from transactions import queue
from transactions.models import FraudReport, Transaction


def _labelled(since: datetime | None, until: datetime | None = None):
    rows = Transaction.objects.filter(is_fraud__isnull=False, label_known_at__isnull=False).exclude(
        label_source=""
    )
    if since is not None:
        rows = rows.filter(label_known_at__gt=since)
    return rows.filter(label_known_at__lte=until or timezone.now())


class DatabaseTraffic:
    def label_counts(self, *, since: datetime | None, until: datetime | None = None) -> dict:
        """Labels that became known in (since, until]: {"labels": n, "frauds": m}."""
        counts = _labelled(since, until).aggregate(
            labels=Count("id"), frauds=Count("id", filter=Q(is_fraud=True))
        )
        return {"labels": counts["labels"] or 0, "frauds": counts["frauds"] or 0}

    def daily_decisions(self, *, start: datetime) -> list[dict]:
        """[{"day", "decision", "count"}] for transactions decided online since `start`."""
        rows = (
            Transaction.objects.filter(occurred_at__gte=start)
            .exclude(decision="")
            .annotate(day=TruncDate("occurred_at"))
            .values("day", "decision")
            .annotate(count=Count("id"))
            .order_by("day", "decision")
        )
        return list(rows)

    def daily_reports(self, *, start: datetime) -> dict:
        """{"reported": [{"day", "count"}], "confirmed": [{"day", "count"}]}."""
        reported = (
            FraudReport.objects.filter(created_at__gte=start)
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(count=Count("id"))
            .order_by("day")
        )
        confirmed = (
            FraudReport.objects.filter(status=FraudReport.Status.CONFIRMED, resolved_at__gte=start)
            .annotate(day=TruncDate("resolved_at"))
            .values("day")
            .annotate(count=Count("id"))
            .order_by("day")
        )
        return {"reported": list(reported), "confirmed": list(confirmed)}

    def review_queue(self) -> dict:
        """How much waits for an analyst now, and since when: the queue page's own figures
        (transactions.queue), so the two never disagree."""
        entries = queue.queue_entries()
        held = [entry["entered_at"] for entry in entries if entry["kind"] == "review"]
        reports = [entry["entered_at"] for entry in entries if entry["kind"] == "report"]
        return {
            "pending_review": len(held),
            "pending_review_oldest": held[0] if held else None,
            "open_reports": len(reports),
            "open_reports_oldest": reports[0] if reports else None,
            "over_sla": queue.queue_counts().late,
        }

    def queue_ages(self) -> list[datetime]:
        """When each waiting item entered the queue (for the age histogram), as the queue counts it."""
        return [entry["entered_at"] for entry in queue.queue_entries()]

    def decision_outcomes(self, *, start: datetime) -> list[dict]:
        """[{"day", "decision", "labelled", "frauds"}] for review and block decisions since
        `start`, counting only transactions whose label is known by now."""
        rows = (
            Transaction.objects.filter(occurred_at__gte=start, decision__in=[Decision.REVIEW, Decision.BLOCK])
            .annotate(day=TruncDate("occurred_at"))
            .values("day", "decision")
            .annotate(
                labelled=Count("id", filter=Q(is_fraud__isnull=False, label_known_at__lte=timezone.now())),
                frauds=Count("id", filter=Q(is_fraud=True, label_known_at__lte=timezone.now())),
            )
            .order_by("day", "decision")
        )
        return list(rows)

    def recent_scores(self, *, start: datetime, model_version: str) -> list[float]:
        """Model scores given online since `start` by one model version."""
        return list(
            Transaction.objects.filter(
                occurred_at__gte=start, model_version=model_version, score__isnull=False
            ).values_list("score", flat=True)
        )
