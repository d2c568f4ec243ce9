from django.core.management.base import BaseCommand

from demo import challenger, decisioning, history, model, users, workday
from demo.users import DEMO_PASSWORD, logins

# In order: the history needs the users, the model trains on the history, the challenger is
# measured against the model, and the day's queue is decided by the model and the rules.
PARTS = [
    ("users", users),
    ("cards and history", history),
    ("model", model),
    ("rules and allow/block lists", decisioning),
    ("challenger", challenger),
    ("a day of review queue", workday),
]


class Command(BaseCommand):
    help = (
        "Load the demo: users for each role, cards and months of simulated history, a trained "
        "champion and a challenger, rules and allow/block lists, and a day of review queue. "
        "Idempotent: what exists is kept."
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
