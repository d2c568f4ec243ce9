import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from detection import jobs
from detection.lifecycle import tasks
from detection.management.commands._period import parse_date
from detection.models import BacktestRun
from detection.serving.registry import ArtifactError, RegistryError

# The rows of the figures table: (key in the report, label).
FIGURES = [
    ("approved", "approved"),
    ("reviewed", "reviewed"),
    ("blocked", "blocked"),
    ("frauds_caught", "frauds caught (review or block)"),
    ("frauds_caught_amount", "  money"),
    ("frauds_blocked", "frauds blocked"),
    ("frauds_missed", "frauds missed"),
    ("frauds_missed_amount", "  money"),
    ("false_alarms", "false alarms"),
    ("false_blocks", "good payments blocked"),
    ("false_blocks_amount", "  money"),
    ("alerts_per_day", "alerts a day (review + block)"),
    ("cards_alerted", "cards alerted"),
    ("cards_falsely_alerted", "cards alerted without fraud"),
]
CHANGES_SHOWN = 20


def _json_option(value, option):
    try:
        return json.loads(value)
    except ValueError as error:
        raise CommandError(
            f"{option} must be JSON ({error.msg} at character {error.pos}), not {value!r}."
        ) from None


class Command(BaseCommand):
    help = (
        "Replay the stored transactions of a period through the decision with the configuration in "
        "force now (baseline) and with one change (candidate), and compare both with what "
        "production decided. Recorded as a backtest run (staff console)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--from", dest="start", required=True, help="First day (ISO date, UTC; inclusive)."
        )
        parser.add_argument(
            "--to", dest="end", required=True, help="End of the period (ISO date, UTC; exclusive)."
        )
        change = parser.add_mutually_exclusive_group(required=True)
        change.add_argument(
            "--rule",
            help='A new rule, or an existing one edited by its "id", as JSON: '
            '\'{"kind": "amount_above", "amount": 900, "action": "block"}\', \'{"id": 3, "active": false}\'.',
        )
        change.add_argument(
            "--list-add",
            help='List entries to add, as JSON: \'[{"list_type": "block", "kind": "merchant_id", "value": "M1"}]\'.',
        )
        change.add_argument("--list-remove", help="List entries to remove, as JSON (list_type, kind, value).")
        change.add_argument(
            "--bands", help='New band thresholds, as JSON: \'{"review": 0.2, "block": 0.8}\'.'
        )
        change.add_argument("--model", help="Another model version (a challenger) with its own bands.")
        parser.add_argument("--json", action="store_true", help="Print the report as JSON on stdout.")

    def handle(self, *args, **options):
        start, end = parse_date(options["start"], "--from"), parse_date(options["end"], "--to")
        if start >= end:
            raise CommandError("--from must be before --to.")
        if options["model"] is not None:
            change = {"model": options["model"]}
        else:
            option = next(
                name for name in ("rule", "list_add", "list_remove", "bands") if options[name] is not None
            )
            change = {option: _json_option(options[option], "--" + option.replace("_", "-"))}
        try:
            run = jobs.backtest_request(requested_by=None, start=start, end=end, change=change)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except (RegistryError, ArtifactError) as error:
            raise CommandError(str(error)) from None
        bar = tqdm(total=100, desc="backtest", unit="%", disable=None, file=self.stderr._out)

        def progress(percent, stage):
            bar.set_postfix_str(str(stage))
            bar.update(percent - bar.n)

        run = tasks.backtest_execute(run.pk, progress=progress)
        bar.close()
        if run.status != BacktestRun.Status.SUCCEEDED:
            raise CommandError(f"Backtest #{run.pk} failed: {run.error}")
        if options["json"]:
            self.stdout.write(json.dumps({"run": run.pk, **run.report}))
            return
        self._print(run)

    def _print(self, run):
        report = run.report
        self.stdout.write(
            f"Backtest #{run.pk}: [{report['period']['start']}, {report['period']['end']}), "
            f"{report['transactions']:,} transactions, {report['known_frauds']:,} frauds known at {report['as_of']}"
        )
        self.stdout.write(f"Change: {json.dumps(report['change'])}")
        self.stdout.write(
            f"Models: baseline {report['baseline_model']}, candidate {report['candidate_model']}"
        )
        columns = [name for name in ("production", "baseline", "candidate") if name in report]
        self.stdout.write(f"{'':32}" + "".join(f"{name:>14}" for name in columns))
        for key, label in FIGURES:
            self.stdout.write(f"{label:32}" + "".join(f"{report[name][key]:>14,}" for name in columns))
        self.stdout.write("\nAlerts a day (review + block):")
        days = {name: {day["day"]: day["alerts"] for day in report[name]["per_day"]} for name in columns}
        self.stdout.write(f"{'day':12}" + "".join(f"{name:>14}" for name in columns))
        for day in days["baseline"]:
            self.stdout.write(f"{day:12}" + "".join(f"{days[name].get(day, 0):>14,}" for name in columns))
        changes = report["changes"]
        moves = ", ".join(f"{move} {count:,}" for move, count in changes["by_move"].items()) or "none"
        self.stdout.write(
            f"\n{changes['count']:,} transactions change decision ({changes['cards']:,} cards): {moves}"
        )
        for row in changes["listed"][:CHANGES_SHOWN]:
            self.stdout.write(
                f"  {row['transaction_id']}  {row['occurred_at']}  card {row['card_id']}  {row['amount']:,.2f}  "
                f"{row['baseline_decision']} → {row['candidate_decision']}"
                + ("  (fraud)" if row["known_fraud"] else "")
            )
        if changes["count"] > CHANGES_SHOWN:
            self.stdout.write(
                f"  … and {changes['count'] - CHANGES_SHOWN:,} more (--json, or the staff console)"
            )
