import json
import time
from datetime import UTC, datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from detection.ml import simulator


def _date(value):
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--start must be an ISO date such as 2025-01-01, not {value!r}.") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write a synthetic, labelled transaction history (canonical CSV) from the simulator: "
        "customers with spending habits, merchants, day/night rhythms and several fraud patterns."
    )

    def add_arguments(self, parser):
        parser.add_argument("--out", required=True, help="CSV file to write.")
        parser.add_argument("--customers", type=int, default=2000, help="Number of cards (default 2000).")
        parser.add_argument("--merchants", type=int, default=2000, help="Number of merchants (default 2000).")
        parser.add_argument("--days", type=int, default=30, help="Days of history (default 30).")
        parser.add_argument("--seed", type=int, default=0, help="Random seed; same seed, same file.")
        parser.add_argument("--start", default="2025-01-01", help="First day, ISO date (default 2025-01-01).")
        parser.add_argument(
            "--pattern",
            action="append",
            default=[],
            metavar="NAME[=START_DAY]",
            help=(
                "Turn a fraud pattern on (from a day on), e.g. --pattern atm_cashout=60. "
                f"Known: {', '.join(simulator.DEFAULT_PATTERNS)}."
            ),
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary on stdout.")

    def handle(self, *args, **options):
        for name in ("customers", "merchants", "days"):
            if options[name] < 1:
                raise CommandError(f"--{name} must be at least 1.")
        if options["customers"] > 5_000_000 or options["merchants"] > 5_000_000 or options["days"] > 3660:
            raise CommandError(
                "That is more than this simulator is meant for (5M cards/merchants, 10 years)."
            )
        out = Path(options["out"])
        if not out.parent.exists():
            raise CommandError(f"Directory {out.parent} does not exist.")
        patterns = {}
        for item in options["pattern"]:
            name, _, day = item.partition("=")
            if name not in simulator.DEFAULT_PATTERNS:
                raise CommandError(
                    f"Unknown pattern {name!r}; known: {', '.join(simulator.DEFAULT_PATTERNS)}."
                )
            try:
                patterns[name] = {"enabled": True, "start_day": int(day or 0)}
            except ValueError as error:
                raise CommandError(f"--pattern {item!r}: the start day must be a whole number.") from error

        started = time.perf_counter()
        frame = simulator.simulate(
            customers=options["customers"],
            merchants=options["merchants"],
            days=options["days"],
            seed=options["seed"],
            start=_date(options["start"]),
            patterns=patterns,
        )
        simulator.write_csv(frame, out)
        summary = {
            "out": str(out),
            "rows": len(frame),
            "frauds": int(frame["is_fraud"].sum()),
            "fraud_rate": round(float(frame["is_fraud"].mean()), 5) if len(frame) else 0.0,
            "by_pattern": simulator.pattern_summary(frame),
            "first": frame["occurred_at"].min().isoformat() if len(frame) else None,
            "last": frame["occurred_at"].max().isoformat() if len(frame) else None,
            "seconds": round(time.perf_counter() - started, 2),
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"Wrote {summary['rows']} transactions ({summary['frauds']} fraud, "
                f"{summary['fraud_rate']:.2%}) to {out} in {summary['seconds']} s."
            )
