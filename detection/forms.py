"""Forms of the staff console's detection pages that are not a model's own admin form."""

import json
from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# A backtest reads the period and a month and more of look-back before it: longer periods are
# for the command, which a worker machine can take its time over.
BACKTEST_MAX_DAYS = 92
BACKTEST_DEFAULT_DAYS = 30


class BacktestPeriodForm(forms.Form):
    """The period of a backtest, whole days in the site's time zone: from the start of `start`
    to the end of `end`; the candidate change travels with it as JSON."""

    start = forms.DateField(label=_("From"), widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Until (included)"), widget=forms.DateInput(attrs={"type": "date"}))
    change = forms.CharField(widget=forms.HiddenInput)

    @classmethod
    def initial_for(cls, change: dict) -> dict:
        today = timezone.localdate()
        return {
            "start": today - timedelta(days=BACKTEST_DEFAULT_DAYS),
            "end": today - timedelta(days=1),
            "change": json.dumps(change),
        }

    def clean_change(self):
        try:
            change = json.loads(self.cleaned_data["change"])
        except ValueError:
            raise forms.ValidationError(_("The change to backtest could not be read.")) from None
        if not isinstance(change, dict):
            raise forms.ValidationError(_("The change to backtest could not be read."))
        return change

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start is None or end is None:
            return cleaned
        today = timezone.localdate()
        if end > today or start > today:
            self.add_error("end", _("The period cannot be in the future."))
        if start > end:
            self.add_error("end", _("The period must end on or after its first day."))
        elif (end - start).days + 1 > BACKTEST_MAX_DAYS:
            self.add_error(
                "end",
                _("The period can be at most %(days)d days; use the backtest command for longer ones.")
                % {"days": BACKTEST_MAX_DAYS},
            )
        return cleaned

    def period(self) -> tuple[datetime, datetime]:
        """[start, end) as aware moments: midnight of the first day to midnight after the last,
        capped at now (today's transactions so far)."""
        zone = timezone.get_current_timezone()
        start = datetime.combine(self.cleaned_data["start"], time.min, tzinfo=zone)
        end = datetime.combine(self.cleaned_data["end"] + timedelta(days=1), time.min, tzinfo=zone)
        return start, min(end, timezone.now())
