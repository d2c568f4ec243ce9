from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = _("Detection")

    def ready(self):
        # Declare the app's settings (checked by core.conf), and connect the signals that drop
        # each process's cached champion, rules and lists.
        from detection import conf, registry, rules  # noqa: F401
