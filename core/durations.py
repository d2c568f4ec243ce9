"""Durations as staff read them ("3 h 20 min", "2 d 5 h", "12 min"), in the reader's language:
one wording for the review queue and the dashboards that count its ages."""

from datetime import timedelta

from django.utils.translation import gettext as _


def duration_text(duration: timedelta) -> str:
    minutes = max(0, int(duration.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return _("%(days)d d %(hours)d h") % {"days": days, "hours": hours}
    if hours:
        return _("%(hours)d h %(minutes)d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)d min") % {"minutes": minutes}
