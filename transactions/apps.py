from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = _("Transactions")

    def ready(self):
        # conf declares the app's settings, reasons registers the sentences of its own reasons.
        from transactions import conf, directory, reasons  # noqa: F401
        from transactions.models import Card, Merchant

        # This process forgets a saved or deleted card or merchant at once (others within the TTL).
        for model in (Card, Merchant):
            post_save.connect(directory.forget, sender=model, dispatch_uid=f"directory-save-{model.__name__}")
            post_delete.connect(
                directory.forget, sender=model, dispatch_uid=f"directory-delete-{model.__name__}"
            )
