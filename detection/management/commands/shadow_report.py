import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from detection.lifecycle import shadow
from detection.management.commands._period import parse_date
from detection.management.commands.backtest import FIGURES


class Command(BaseCommand):
    help = (
        "Compare what a rule or model version in shadow or rollout decided (or would have) with "
        "production over a period, with the labels known now: baseline (without it), candidate "
        "(with it) and production, the backtest's figures."
    )

    def add_arguments(self, parser):
        trial = parser.add_mutually_exclusive_group(required=True)
        trial.add_argument("--rule", type=int, help="The id of a rule in shadow or rollout.")
        trial.add_argument("--model", help="A model version in shadow or rollout.")
        parser.add_argument(
            "--from", dest="start", required=True, help="First day (ISO date, UTC; inclusive)."
        )
        parser.add_argument(
            "--to", dest="end", required=True, help="End of the period (ISO date, UTC; exclusive)."
        )
        parser.add_argument("--json", action="store_true", help="Print the report as JSON on stdout.")

    def handle(self, *args, **options):
        start, end = parse_date(options["start"], "--from"), parse_date(options["end"], "--to")
        if start >= end:
            raise CommandError("--from must be before --to.")
        try:
            report = shadow.trial_report(
                start=start, end=end, rule_id=options["rule"], model_version=options["model"] or ""
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if options["json"]:
            self.stdout.write(json.dumps(report))
            return
        trial = report["trial"]
        name = f"rule #{trial['rule_id']}" if trial["source"] == "rule" else f"model {trial['model_version']}"
        self.stdout.write(
            f"{name} ({', '.join(trial['modes'])}): [{report['period']['start']}, {report['period']['end']}), "
            f"{report['transactions']:,} transactions, {trial['applied']:,} decided by it, "
            f"{report['known_frauds']:,} frauds known at {report['as_of']}"
        )
        columns = ["production", "baseline", "candidate", *(f"arm {arm}" for arm in report.get("arms", {}))]
        figures = {
            **{c: report[c] for c in columns[:3]},
            **{f"arm {a}": f for a, f in report.get("arms", {}).items()},
        }
        self.stdout.write(f"{'':32}" + "".join(f"{c:>14}" for c in columns))
        for key, label in FIGURES:
            self.stdout.write(f"{label:32}" + "".join(f"{figures[c][key]:>14,}" for c in columns))
        changes = report["changes"]
        moves = ", ".join(f"{move} {count:,}" for move, count in changes["by_move"].items()) or "none"
        self.stdout.write(
            f"\n{changes['count']:,} transactions decided differently ({changes['cards']:,} cards): {moves}"
        )
