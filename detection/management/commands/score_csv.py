import json
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from detection import services
from detection.management.commands._period import add_period_arguments, read_period
from detection.serving import registry
from detection.serving.scoring import score_frame


class Command(BaseCommand):
    help = (
        "Score every transaction of a canonical CSV (or of a period of it) with the champion or a "
        "given model version, using the file's history before each transaction (labels only once "
        "known). Writes transaction_id, score, risk_score, decision, reasons."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Canonical transaction CSV (history and the rows to score).")
        parser.add_argument("--out", required=True, help="CSV file to write the scores to.")
        add_period_arguments(parser, required=False)
        parser.add_argument("--model", default=None, help="Model version (default: the champion).")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary on stdout.")

    def handle(self, *args, **options):
        out = Path(options["out"])
        if not out.parent.exists():
            raise CommandError(f"Directory {out.parent} does not exist.")
        started = time.perf_counter()
        progress = tqdm(total=3, desc="score_csv", unit="step", disable=None, file=self.stderr._out)
        progress.set_postfix_str("reading")
        frame, mask, rejected, delay = read_period(options["file"], options)
        progress.update()
        if not mask.any():
            raise CommandError("No transaction of the file falls in the period.")
        progress.set_postfix_str(f"features and scores for {int(mask.sum()):,} rows")
        try:
            if options["model"]:
                registry.get_version(options["model"])
            result = score_frame(frame, version=options["model"], rows=mask, label_delay=delay)
        except (registry.RegistryError, registry.ArtifactError) as error:
            raise CommandError(str(error)) from None
        progress.update()
        progress.set_postfix_str("writing")
        services.write_scores(result, out)  # a failed run never leaves a half-written OUT
        progress.update()
        progress.close()
        seconds = time.perf_counter() - started
        version = options["model"] or registry.serving_model().name
        summary = {
            "out": str(out),
            "model_version": version,
            "rows_in_file": len(frame),
            "rows_scored": len(result),
            "rejected": len(rejected),
            "rejected_rows": rejected[:20],
            # value_counts, not Counter: iterating a column of Arrow strings is slow (~0.5 s here).
            "decisions": {str(k): int(v) for k, v in result["decision"].value_counts(sort=False).items()},
            "seconds": round(seconds, 2),
            "rows_per_second": round(len(result) / seconds) if seconds else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
        else:
            counts = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["decisions"].items()))
            self.stdout.write(
                f"Scored {len(result):,} transactions with {version} in {seconds:.1f} s ({counts}); wrote {out}."
            )
            if rejected:
                self.stdout.write(
                    f"{len(rejected)} rows were rejected, e.g. line {rejected[0]['line']}: {rejected[0]['reason']}."
                )
