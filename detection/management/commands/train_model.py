import json
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from detection import conf, services
from detection.dataset import DatasetError, parse_mapping, read_transactions_csv
from detection.management.commands._period import parse_date
from detection.ml import training


class Command(BaseCommand):
    help = (
        "Train on what the bank knows at --train-end + label delay: transactions in "
        "[--train-start, --train-end) and labels known by then. The candidates are fitted on the "
        "start of the window and compared (average precision) on its last --validation-days "
        "(after a gap of one label delay; for windows shorter than delay + 2 x validation: no gap "
        "and 30%% of the window, whole days, at least 1); the best is refitted on the whole window "
        "and registered. Test metrics are reported for the --test-days after --train-end + label "
        "delay when the data contain them; they never influence the model."
    )

    def add_arguments(self, parser):
        parser.add_argument("--csv", help="Canonical transaction CSV (default: the database).")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="OURS=THEIRS",
            help="With --csv: read our column from another header, e.g. --map occurred_at=TX_DATETIME.",
        )
        parser.add_argument("--train-start", required=True, help="First day of training (ISO date, UTC).")
        parser.add_argument("--train-end", required=True, help="End of training, exclusive (ISO date, UTC).")
        parser.add_argument(
            "--label-delay-days",
            type=float,
            default=None,
            help="Days until a label is known; training happens at --train-end + this delay, and the "
            "gap before validation inside the window (default: setting, 7).",
        )
        parser.add_argument(
            "--validation-days",
            type=int,
            default=7,
            help="Validation length at the end of the window (default 7; shorter for short windows).",
        )
        parser.add_argument(
            "--test-days",
            type=int,
            default=7,
            help="Test length after --train-end + label delay; report only, optional (default 7).",
        )
        parser.add_argument(
            "--algorithm",
            action="append",
            choices=training.ALGORITHMS,
            help="Candidate(s) to compare (repeatable; default: all).",
        )
        parser.add_argument(
            "--max-train-rows",
            type=int,
            default=training.DEFAULT_MAX_TRAIN_ROWS,
            help="Legitimate rows are sampled so training uses at most this many (every fraud is kept).",
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--promote",
            choices=("auto", "never", "force"),
            default="auto",
            help="auto: champion if none or better on test average precision; never; force.",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary on stdout.")

    def handle(self, *args, **options):
        start = parse_date(options["train_start"], "--train-start")
        end = parse_date(options["train_end"], "--train-end")
        if start >= end:
            raise CommandError("--train-start must be before --train-end.")
        delay_days = (
            conf.label_delay_days() if options["label_delay_days"] is None else options["label_delay_days"]
        )
        if delay_days < 0:
            raise CommandError("--label-delay-days cannot be negative.")
        if options["validation_days"] < 1 or options["test_days"] < 0:
            raise CommandError("--validation-days must be at least 1 and --test-days at least 0.")
        if options["max_train_rows"] < 1000:
            raise CommandError("--max-train-rows must be at least 1000.")
        if options["map"] and not options["csv"]:
            raise CommandError("--map only applies to --csv.")
        delay = timedelta(days=delay_days)
        try:
            periods = training.plan_periods(
                start,
                end,
                label_delay=delay,
                validation_days=options["validation_days"],
                test_days=options["test_days"],
            )
        except training.TrainingError as error:
            raise CommandError(str(error)) from error
        verbose = options["verbosity"] > 0

        def log(message):
            if verbose:
                tqdm.write(message, file=self.stderr._out)

        if options["csv"]:
            try:
                frame, rejected = read_transactions_csv(
                    options["csv"], mapping=parse_mapping(options["map"]), label_delay=delay
                )
            except DatasetError as error:
                raise CommandError(str(error)) from error
            if rejected:
                log(
                    f"{len(rejected)} invalid row(s) skipped, e.g. line {rejected[0]['line']}: {rejected[0]['reason']}"
                )
        else:
            frame = services.stored_history(end=periods["test"][1], label_delay=delay)
        try:
            result, version = services.train_and_register(
                frame,
                promote=options["promote"],
                train_start=start,
                train_end=end,
                label_delay=delay,
                validation_days=options["validation_days"],
                test_days=options["test_days"],
                algorithms=options["algorithm"] or training.ALGORITHMS,
                max_train_rows=options["max_train_rows"],
                seed=options["seed"],
                log=log,
            )
        except training.TrainingError as error:
            raise CommandError(str(error)) from error
        summary = {"version": version.version, "status": version.status, **result.summary()}
        for warning in result.warnings:
            log(f"Warning: {warning}")
        if options["json"]:
            self.stdout.write(json.dumps(summary, default=str))
            return
        chosen = result.comparison[result.algorithm]
        period = "test" if chosen["test"] else "validation"
        validation = result.periods["validation"]
        self.stdout.write(
            f"Chose {result.algorithm} on validation {validation[0]:%Y-%m-%d} → {validation[1]:%Y-%m-%d}, "
            f"refitted on {start:%Y-%m-%d} → {end:%Y-%m-%d}."
        )
        self.stdout.write(
            f"Registered {version.version} ({result.algorithm}, {version.status}). "
            f"{period.capitalize()}: ROC AUC {_n(chosen[period]['roc_auc'])}, "
            f"average precision {_n(chosen[period]['average_precision'])}, "
            f"card precision@{chosen[period]['k']} {_n(chosen[period]['card_precision_at_k'])}."
        )
        if result.baseline:
            b = result.baseline
            self.stdout.write(
                f"Versus logistic regression on {b['period']}: average precision "
                f"{_d(b['average_precision']['difference'])}, card precision "
                f"{_d(b['card_precision_at_k']['difference'])}."
            )


def _n(value):
    return "n/a" if value is None else f"{value:.3f}"


def _d(value):
    return "n/a" if value is None else f"{value:+.3f}"
