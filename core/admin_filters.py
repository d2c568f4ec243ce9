"""A list filter that searches instead of listing: for a related model with hundreds of rows
(merchants, cards), listing them all made the change list slow and unusable."""

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_last_value_from_parameters
from django.contrib.admin.widgets import AutocompleteSelect
from django.forms import Media
from django.utils.translation import gettext_lazy as _

from core.text import is_ascii_digits

# A primary key's digits at most (a bigint has 19): anything longer is not an id.
MAX_ID_DIGITS = 18


class AutocompleteFilter(admin.FieldListFilter):
    """Filters on one related object picked with the admin's autocomplete (the related model's
    admin must have search_fields; its key an integer). Only the chosen object is read, never the
    whole table. A value that is not an id ('1;DROP', '١', 40 digits) is refused as the admin
    refuses any bad filter: the list reloads unfiltered with a notice."""

    template = "admin/autocomplete_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.lookup_kwarg = f"{field_path}__{field.target_field.name}__exact"
        super().__init__(field, request, params, model, model_admin, field_path)
        value = get_last_value_from_parameters(self.used_parameters, self.lookup_kwarg)
        self.invalid = value is not None and not (
            is_ascii_digits(str(value)) and len(str(value)) <= MAX_ID_DIGITS
        )
        self.lookup_val = None if self.invalid else value
        widget = AutocompleteSelect(
            field,
            model_admin.admin_site,
            attrs={"data-filter-param": self.lookup_kwarg, "data-placeholder": _("Type to search…")},
        )
        form_field = field.formfield(widget=widget, required=False)
        self.rendered = form_field.widget.render(self.lookup_kwarg, self.lookup_val)

    def queryset(self, request, queryset):
        if self.invalid:
            raise IncorrectLookupParameters(self.lookup_kwarg)
        return super().queryset(request, queryset)

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
    # After jquery.init.js, which defines django.jQuery that staff.js uses.
    return AutocompleteSelect(field, model_admin.admin_site).media + Media(
        js=["admin/js/jquery.init.js", "js/staff.js"]
    )
