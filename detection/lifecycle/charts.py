"""Server-side charts for the dashboards: matplotlib (Agg) to SVG, nothing loaded from outside.

Text stays text in the SVG (``svg.fonttype = none``), so labels and values can be read (and
tested) in the file. Pages embed them as data: URIs in <img>: the CSP allows data: images, and
an image's own styles are not the page's inline styles.
"""

import base64
import io
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from matplotlib.ticker import MaxNLocator

from detection.contracts import Decision

COLOURS = {Decision.APPROVE: "#198754", Decision.REVIEW: "#fd7e14", Decision.BLOCK: "#dc3545"}
SERIES = ["#0d6efd", "#d63384", "#20c997", "#6f42c1"]
STYLE = {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def _svg(fig) -> str:
    buffer = io.StringIO()
    with warnings.catch_warnings():
        # Chinese labels: the server may lack the glyphs to measure them, but the text stays text
        # in the SVG and the reader's browser draws it.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def curves_chart(curves_by_name: dict) -> str:
    """Precision-recall and ROC curves, one line per model: {name: {"pr": {...}, "roc": {...}}}."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.4))
        pr_ax, roc_ax = axes
        for i, (name, curves) in enumerate(curves_by_name.items()):
            colour = SERIES[i % len(SERIES)]
            pr, roc = (curves or {}).get("pr") or {}, (curves or {}).get("roc") or {}
            if pr.get("recall"):
                pr_ax.plot(pr["recall"], pr["precision"], color=colour, label=name)
            if roc.get("fpr"):
                roc_ax.plot(roc["fpr"], roc["tpr"], color=colour, label=name)
        pr_ax.set(
            title=_("Precision-recall"),
            xlabel=_("Recall"),
            ylabel=_("Precision"),
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        roc_ax.plot([0, 1], [0, 1], color="#adb5bd", linestyle=":", linewidth=1)
        roc_ax.set(
            title=_("ROC"),
            xlabel=_("False positive rate"),
            ylabel=_("True positive rate"),
            xlim=(0, 1),
            ylim=(0, 1.02),
        )
        for ax in axes:
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="lower right" if ax is roc_ax else "upper right", fontsize=8)
        return _svg(fig)


def importances_chart(importances: list, *, top=12) -> str:
    """Horizontal bars: the drop in average precision when each feature is shuffled."""
    items = list(importances)[:top][::-1]
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(figsize=(6.4, max(1.6, 0.28 * len(items) + 0.8)))
        names = [name for name, _v in items]
        values = [value for _n, value in items]
        axes.barh(names, values, color=SERIES[0])
        for y, value in enumerate(values):
            axes.text(value, y, f" {value:.4f}", va="center", fontsize=7)
        axes.set(title=_("Feature importance (drop in average precision)"), xlabel=_("Importance"))
        return _svg(fig)


def decisions_chart(days, decisions: dict) -> str:
    """Transactions per day, stacked by decision."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 3.0))
        x = np.arange(len(days))
        bottom = np.zeros(len(days))
        for name in Decision:
            values = np.asarray(decisions.get(name, [0] * len(days)), dtype=float)
            ax.bar(x, values, bottom=bottom, color=COLOURS[name], label=f"{name.label} ({int(values.sum())})")
            bottom += values
        _day_axis(ax, days)
        _count_axis(ax, bottom.max(initial=0))
        ax.set(title=_period_title(_("Transactions per day by decision"), days), ylabel=_("Transactions"))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not over them
        return _svg(fig)


def reports_chart(days, reported, confirmed) -> str:
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 2.8))
        x = np.arange(len(days))
        ax.plot(x, reported, marker="o", color=SERIES[1], label=_("Reported (%(n)d)") % {"n": sum(reported)})
        ax.plot(
            x, confirmed, marker="s", color=SERIES[0], label=_("Confirmed (%(n)d)") % {"n": sum(confirmed)}
        )
        _day_axis(ax, days)
        _count_axis(ax, max([*reported, *confirmed], default=0))
        ax.set(title=_period_title(_("Fraud reported and confirmed per day"), days), ylabel=_("Reports"))
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not over them
        return _svg(fig)


def precision_chart(days, precision: dict) -> str:
    """Precision of review and block decisions per day, among transactions labelled so far."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 2.8))
        x = np.arange(len(days))
        for name in (Decision.REVIEW, Decision.BLOCK):
            values = np.array([np.nan if v is None else v for v in precision.get(name, [])], dtype=float)
            if values.size:
                ax.plot(x, values, marker="o", color=COLOURS[name], label=str(name.label))
        _day_axis(ax, days)
        ax.set(
            title=_period_title(_("Precision of decisions as labels arrive"), days),
            ylabel=_("Share confirmed fraud"),
            ylim=(0, 1.05),
        )
        if not any(v is not None for values in precision.values() for v in values):
            _no_data(ax, _("No labelled review or block decision in this period."))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def queue_age_labels():
    """The buckets of monitoring.QUEUE_AGE_EDGES, in the reader's language."""
    return [_("< 1 h"), _("1–4 h"), _("4–12 h"), _("12–24 h"), _("1–2 d"), _("2–4 d"), _("4–7 d"), _("> 7 d")]


def queue_age_chart(counts) -> str:
    """Waiting items by time in the queue (counts per bucket of monitoring.QUEUE_AGE_EDGES)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.4, 2.6))
        ax.bar(queue_age_labels(), counts, color=SERIES[3])
        for i, count in enumerate(counts):
            if count:
                ax.text(i, count, str(int(count)), ha="center", va="bottom", fontsize=8)
        _count_axis(ax, max(counts, default=0), empty=_("Nothing waits for review."))
        n = sum(counts)
        title = ngettext("Review queue by age (%(n)d waiting)", "Review queue by age (%(n)d waiting)", n)
        ax.set(title=title % {"n": n}, xlabel=_("Time in the queue"), ylabel=_("Items"))
        return _svg(fig)


def drift_chart(drift: dict) -> str:
    """Score distribution: held-out data of the champion's training against recent traffic."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 2.8))
        edges = drift["edges"]
        labels = [f"{edges[i]:g}–{edges[i + 1]:g}" for i in range(len(edges) - 1)]
        x = np.arange(len(labels))
        if drift.get("reference"):
            ax.bar(
                x - 0.2, drift["reference"], width=0.4, color=SERIES[0], label=_("Training data (held out)")
            )
        if drift.get("recent"):
            ax.bar(
                x + 0.2,
                drift["recent"],
                width=0.4,
                color=SERIES[1],
                label=_("Recent traffic (%(n)d)") % {"n": drift["recent_count"]},
            )
        ax.set_xticks(x, labels, rotation=30, ha="right")
        title = _("Score distribution")
        if drift.get("psi") is not None:
            title += " — PSI {:.3f}".format(drift["psi"])
        ax.set(title=title, xlabel=_("Model score"), ylabel=_("Share"))
        ax.set_ylim(bottom=0)
        if not drift.get("reference") and not drift.get("recent"):
            _no_data(ax, _("No scores to compare yet."))
            ax.set_ylim(0, 1)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
        return _svg(fig)


def backtest_configuration_names():
    """The configurations a backtest compares, in the reader's language."""
    return {"production": _("Production"), "baseline": _("Baseline"), "candidate": _("Candidate")}


BACKTEST_MEASURES = ("alerts", "frauds_caught", "frauds_missed", "false_alarms")


def backtest_measure_titles():
    return {
        "alerts": (_("Alerts per day (review + block)"), _("Alerts")),
        "frauds_caught": (_("Frauds caught per day"), _("Frauds")),
        "frauds_missed": (_("Frauds missed per day"), _("Frauds")),
        "false_alarms": (_("False alarms per day"), _("Alerts")),
    }


def backtest_chart(measure, days, series: dict) -> str:
    """One measure of a backtest per day, a line per configuration ({"production": [...],
    "baseline": [...], "candidate": [...]}), counts from 0."""
    title, ylabel = backtest_measure_titles()[measure]
    names = backtest_configuration_names()
    styles = {
        "production": ("#6c757d", ":", "o"),
        "baseline": (SERIES[0], "-", "o"),
        "candidate": (SERIES[1], "-", "s"),
    }
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(8.4, 2.8))
        x = np.arange(len(days))
        highest = 0
        for key, values in series.items():
            colour, line, marker = styles[key]
            total = int(sum(values))
            ax.plot(x, values, color=colour, linestyle=line, marker=marker, label=f"{names[key]} ({total})")
            highest = max(highest, max(values, default=0))
        _day_axis(ax, days)
        _count_axis(ax, highest)
        if days:  # the backtest's own period, not "the last N days"
            first, last = (date_format(day, "MONTH_DAY_FORMAT") for day in (days[0], days[-1]))
            title = f"{title} ({first} – {last})"
        ax.set(title=title, ylabel=ylabel)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
        return _svg(fig)


def _day_axis(ax, days):
    """Dates in the reader's language (MONTH_DAY_FORMAT), about eight of them, the last day always."""
    step = max(1, -(-len(days) // 8))
    ticks = list(range(len(days) - 1, -1, -step))[::-1]
    ax.set_xticks(ticks, [date_format(days[i], "MONTH_DAY_FORMAT") for i in ticks], rotation=30, ha="right")
    if days:
        ax.set_xlim(-0.6, len(days) - 0.4)  # the whole period, empty days included


def _count_axis(ax, highest, *, empty=None):
    """Counts: from 0, whole numbers only, and a plain "no data" when everything is 0 (matplotlib
    would centre an all-zero axis on 0, with negative counts below)."""
    ax.yaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_ylim(0, max(1, highest * 1.1))
    if not highest:
        _no_data(ax, empty or _("No data for this period."))


def _no_data(ax, text):
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#6c757d", fontsize=10)


def _period_title(title, days):
    """The chart's title with the period it covers, as chosen on the page."""
    if not days:
        return title
    period = ngettext("last %(n)d day", "last %(n)d days", len(days)) % {"n": len(days)}
    first, last = (date_format(day, "MONTH_DAY_FORMAT") for day in (days[0], days[-1]))
    return f"{title} — {period} ({first} – {last})"
