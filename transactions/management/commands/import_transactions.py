import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from detection.dataset import DatasetError, parse_mapping
from transactions.importing import ImportRejected, transactions_import


class Command(BaseCommand):
    help = (
        "Import a transaction CSV (canonical columns, or others through --map) into the database. "
        "Every row is validated first; if any is bad, all bad rows are reported and nothing is imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file with a header row.")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="OURS=THEIRS",
            help="Read our column from another header, e.g. --map occurred_at=TX_DATETIME (repeatable).",
        )
        parser.add_argument(
            "--label-delay-days",
            type=float,
            default=7,
            help="When a label has no label_known_at, it is taken as known this long after the transaction.",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary on stdout.")

    def handle(self, *args, **options):
        if options["label_delay_days"] < 0:
            raise CommandError("--label-delay-days cannot be negative.")
        try:
            mapping = parse_mapping(options["map"])
            result = transactions_import(
                path=options["file"],
                mapping=mapping,
                label_delay=timedelta(days=options["label_delay_days"]),
                progress=options["verbosity"] > 0,
            )
        except DatasetError as error:
            raise CommandError(str(error)) from error
        except ImportRejected as error:
            if options["json"]:
                self.stdout.write(json.dumps({"imported": 0, "rejected": error.rejected}))
            else:
                for item in error.rejected:
                    self.stderr.write(f"line {item['line']}: {item['reason']}")
            raise CommandError(str(error)) from error
        summary = result.as_dict()
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"Imported {summary['imported']} transactions "
                f"({summary['cards_created']} new cards, {summary['merchants_created']} new merchants)."
            )
            if result.duplicates:
                self.stdout.write(
                    f"{len(result.duplicates)} transaction id(s) were already in the database and were skipped: "
                    + ", ".join(result.duplicates[:10])
                    + (" ..." if len(result.duplicates) > 10 else "")
                )
