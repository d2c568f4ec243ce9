from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer has no models; as an app it registers the check of every declared
    setting (core.conf) and declares its own."""

    name = "core"
    verbose_name = "Core"

    def ready(self):
        # Declares core's settings, and the check of all of them.
        from core import conf, plausible  # noqa: F401
