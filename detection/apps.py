from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class DetectionConfig(AppConfig):
    name = "detection"
    verbose_name = _("Detection")

    def ready(self):
        from detection.models import ListEntry, ModelVersion, Rule
        from detection.serving import registry, rules

        # This process drops its cached champion, rules and lists at once when one changes.
        for name, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(registry.champion_changed, sender=ModelVersion, dispatch_uid=f"champion-{name}")
            for model in (ListEntry, Rule):
                signal.connect(
                    rules.rules_changed, sender=model, dispatch_uid=f"rules-{name}-{model.__name__}"
                )
