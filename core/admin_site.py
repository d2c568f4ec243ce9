"""The staff console's site: the fraud team's work first, the platform's machinery after it under
names staff understand (not the package names of what it runs on)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

# Apps in the order the fraud team uses them; anything not named comes after, alphabetically.
APP_ORDER = ["transactions", "detection", "accounts", "api", "axes", "django_tasks_database"]
# The API key package's own model is unused: integrators' keys are accounts' IntegratorKey.
HIDDEN_APPS = {"rest_framework_api_key"}
# Third-party apps whose own names mean nothing to an analyst.
APP_NAMES = {
    "axes": _("Sign-in lockouts"),
    "django_tasks_database": _("Background tasks"),
}

# Django's own label for an empty choice (the admin's action menu and choice filters): its Chinese
# catalogue lacks it, so the project's catalogue carries it.
DJANGO_BLANK_CHOICE = _("- Select an option -")


class StaffSite(admin.AdminSite):
    site_header = _("Sentinel staff console")
    site_title = _("Sentinel staff console")
    index_title = _("Fraud operations")

    def get_app_list(self, request, app_label=None):
        apps = [
            app for app in super().get_app_list(request, app_label) if app["app_label"] not in HIDDEN_APPS
        ]
        for app in apps:
            app["name"] = APP_NAMES.get(app["app_label"], app["name"])
        rank = {label: position for position, label in enumerate(APP_ORDER)}
        return sorted(apps, key=lambda app: (rank.get(app["app_label"], len(rank)), str(app["name"])))
