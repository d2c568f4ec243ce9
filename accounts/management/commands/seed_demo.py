import importlib
import importlib.util

from django.apps import apps
from django.core.management.base import BaseCommand

from accounts.demo import DEMO_PASSWORD, logins


class Command(BaseCommand):
    help = (
        "Load the demo: each installed app of ours adds its part from its demo.py (users, cards, "
        "simulated history, a trained model). Idempotent: what exists is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the demo logins.")
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")

    def handle(self, *args, **options):
        if not options["logins_only"]:
            self.seed_every_app()
        if not options["quiet_logins"]:
            self.stdout.write(f"  Demo logins (password for all: {DEMO_PASSWORD}):")
            for email, role in logins():
                self.stdout.write(f"    {email:<26} {role}")

    def seed_every_app(self):
        for app_config in apps.get_app_configs():
            module_name = f"{app_config.name}.demo"
            if importlib.util.find_spec(module_name) is None:
                continue
            self.stdout.write(f"Demo: {app_config.verbose_name}")
            importlib.import_module(module_name).seed(stdout=self.stdout)
