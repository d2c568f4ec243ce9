from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = _("API")

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import m2m_changed, post_delete, post_save

        from accounts.models import IntegratorKey
        from accounts.signals import users_changed_in_bulk
        from api import parsers, unavailable  # noqa: F401 - declare their settings (core.conf)
        from api.auth import forget_verified_keys
        from api.models import WebhookSubscription
        from api.webhooks import conf as webhooks_conf  # noqa: F401 - declares its settings
        from api.webhooks.services import forget_listeners

        # A key, a user or their roles changed: this process forgets every verified key at once
        # (other processes within KEY_CACHE_SECONDS).
        user = get_user_model()
        for model in (IntegratorKey, user):
            post_save.connect(
                forget_verified_keys, sender=model, dispatch_uid=f"forget-keys-save-{model.__name__}"
            )
            post_delete.connect(
                forget_verified_keys, sender=model, dispatch_uid=f"forget-keys-del-{model.__name__}"
            )
        m2m_changed.connect(
            forget_verified_keys, sender=user.groups.through, dispatch_uid="forget-keys-roles"
        )
        users_changed_in_bulk.connect(forget_verified_keys, dispatch_uid="forget-keys-bulk")
        # Who listens to which events is remembered for a few seconds (api/webhooks/services.py).
        post_save.connect(forget_listeners, sender=WebhookSubscription, dispatch_uid="webhook-listeners-save")
        post_delete.connect(
            forget_listeners, sender=WebhookSubscription, dispatch_uid="webhook-listeners-del"
        )
