from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    """The bottom layer has no models; as an app it registers the check of every declared
    setting (core.conf) and declares its own."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        # Declares core's settings, and the check of all of them.
        from core import conf, plausible  # noqa: F401


class StaffAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the staff console's own site (core.admin_site). Named in
    INSTALLED_APPS; not core's own config (default = False)."""

    default = False
    default_site = "core.admin_site.StaffSite"
