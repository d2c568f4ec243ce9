from django.core.management.base import BaseCommand

from demo import history, model, users
from demo.users import DEMO_PASSWORD, logins

# In order: the history needs the users, the model trains on the history.
PARTS = [("users", users), ("cards and history", history), ("model", model)]


class Command(BaseCommand):
    help = (
        "Load the demo: users for each role, cards and months of simulated history, a trained "
        "model. Idempotent: what exists is kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("--quiet-logins", action="store_true", help="Do not print the demo logins.")
        parser.add_argument("--logins-only", action="store_true", help="Only print the demo logins.")

    def handle(self, *args, **options):
        if not options["logins_only"]:
            for title, part in PARTS:
                self.stdout.write(f"Demo: {title}")
                part.seed(stdout=self.stdout)
        if not options["quiet_logins"]:
            self.stdout.write(f"  Demo logins (password for all: {DEMO_PASSWORD}):")
            for email, role in logins():
                self.stdout.write(f"    {email:<26} {role}")
