"""A list filter that searches instead of listing: for a related model with hundreds of rows
(merchants, cards), listing them all made the change list slow and unusable."""

from django.contrib import admin
from django.contrib.admin.utils import get_last_value_from_parameters
from django.contrib.admin.widgets import AutocompleteSelect
from django.forms import Media
from django.utils.translation import gettext_lazy as _


class AutocompleteFilter(admin.FieldListFilter):
    """Filters on one related object picked with the admin's autocomplete (the related model's
    admin must have search_fields). Only the chosen object is read, never the whole table."""

    template = "admin/autocomplete_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg = f"{field_path}__{field.target_field.name}__exact"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.lookup_val = get_last_value_from_parameters(self.used_parameters, self.lookup_kwarg)
        widget = AutocompleteSelect(
            field,
            model_admin.admin_site,
            attrs={"data-filter-param": self.lookup_kwarg, "data-placeholder": _("Type to search…")},
        )
        form_field = field.formfield(widget=widget, required=False)
        self.rendered = form_field.widget.render(self.lookup_kwarg, self.lookup_val)

    def expected_parameters(self):
        return [self.lookup_kwarg]

    def choices(self, changelist):
        yield {
            "selected": self.lookup_val is None,
            "query_string": changelist.get_query_string(remove=[self.lookup_kwarg]),
            "display": _("All"),
        }


def autocomplete_filter_media(model_admin, field_name) -> Media:
    """The scripts and styles the filter's widget needs, to add to the model admin's media."""
    field = model_admin.model._meta.get_field(field_name)
    return AutocompleteSelect(field, model_admin.admin_site).media + Media(js=["js/staff.js"])
