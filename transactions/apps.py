from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransactionsConfig(AppConfig):
    name = "transactions"
    verbose_name = _("Transactions")

    def ready(self):
        # Declare the app's settings (checked by core.conf).
        from transactions import conf  # noqa: F401
