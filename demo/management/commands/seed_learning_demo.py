import json
from dataclasses import asdict

from django.core.management.base import BaseCommand, CommandError

from demo.learning import learning_demo_seed


class Command(BaseCommand):
    help = (
        "Put a simulated history ending today in the database, in which a new fraud pattern "
        "(night-time ATM cash-outs) starts on --pattern-day and is only reported, not confirmed: its "
        "reports wait in the admin's review queue. Confirm them there to watch retraining learn it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=400)
        parser.add_argument("--merchants", type=int, default=200)
        parser.add_argument("--days", type=int, default=56)
        parser.add_argument("--pattern-day", type=int, default=21)
        parser.add_argument("--rate", type=float, default=60.0, help="new cases per 10,000 cards per day")
        parser.add_argument("--seed", type=int, default=5)
        parser.add_argument("--reports", type=int, default=None, help="open at most this many reports")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary on stdout.")

    def handle(self, *args, **options):
        for name in ("customers", "merchants", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        if not 1 <= options["pattern_day"] < options["days"]:
            raise CommandError("--pattern-day must be between 1 and --days - 1.")
        if options["rate"] <= 0:
            raise CommandError("--rate must be more than 0.")
        if options["reports"] is not None and options["reports"] < 0:
            raise CommandError("--reports cannot be negative.")
        self.stderr.write("Simulating and importing the history...")
        result = learning_demo_seed(
            customers=options["customers"],
            merchants=options["merchants"],
            days=options["days"],
            pattern_day=options["pattern_day"],
            rate=options["rate"],
            seed=options["seed"],
            reports=options["reports"],
        )
        if options["json"]:
            self.stdout.write(json.dumps(asdict(result)))
            return
        self.stdout.write(
            f"Imported {result.imported} transactions ({result.duplicates} already there); "
            f"{result.pattern_frauds} new-pattern frauds, {result.reports_opened} reports opened for the review queue."
        )
