"""What the monitoring dashboards draw, ready for the page, with the expensive parts cached.

Drawing a chart with matplotlib costs 0.2–0.5 s, the traffic's per-day aggregates 0.1–0.3 s
(measured on the demo data, 2 cores): a dashboard of five charts took 1.3–2 s. Each chart is
kept under a digest of what it shows and the reader's language, so it is drawn again only when
its figures change; the per-day figures are kept `conf.dashboard_cache_seconds()` per period.
The review queue's figures are never cached.
"""

import hashlib

from django.utils import timezone
from django.utils.translation import get_language

from core.cache import TTLCache
from detection import conf
from detection.lifecycle import charts, monitoring

CHART_SECONDS = 3600
_charts = TTLCache(ttl=CHART_SECONDS, max_entries=256)
_series = TTLCache(ttl=lambda _key: conf.dashboard_cache_seconds(), max_entries=32)


def chart(draw, *args) -> str:
    """`draw(*args)` as a data: URI, drawn once for the same figures in the same language."""
    digest = hashlib.sha256(repr((draw.__name__, get_language(), args)).encode()).hexdigest()
    return _charts.get_or_load(digest, lambda: charts.data_uri(draw(*args)))


def traffic_dashboard(*, days: int) -> dict:
    champion = monitoring.champion()
    key = (days, timezone.localdate(), champion.version if champion else None)
    data = {**_series.get_or_load(key, lambda: monitoring.traffic_series(days=days, champion=champion))}
    data.update(monitoring.queue_report())
    return {
        "data": data,
        "decisions_svg": chart(charts.decisions_chart, data["days"], data["decisions"]),
        "reports_svg": chart(charts.reports_chart, data["days"], data["reported"], data["confirmed"]),
        "precision_svg": chart(charts.precision_chart, data["days"], data["precision"]),
        "queue_svg": chart(charts.queue_age_chart, data["queue_age_counts"]),
        "drift_svg": chart(charts.drift_chart, data["drift"]),
    }
