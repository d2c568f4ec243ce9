from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = _("Detection")

    def ready(self):
        # conf declares the app's settings (checked by core.conf); rules still connects its own
        # receivers when imported.
        from detection import conf, registry, rules  # noqa: F401
        from detection.models import ModelVersion

        for name, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(registry.champion_changed, sender=ModelVersion, dispatch_uid=f"champion-{name}")
