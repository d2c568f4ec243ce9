from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo's data and its seed commands; installed where DJANGO_DEMO is on (by default, in
    development). Nothing else imports it."""

    name = "demo"
    verbose_name = _("Demo")

    def ready(self):
        from demo import reasons  # noqa: F401 - registers the sentence of the demo history's reason
