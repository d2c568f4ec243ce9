import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from detection.lifecycle import retraining
from detection.models import RetrainingRun


class Command(BaseCommand):
    help = (
        "Retrain on all labelled history and promote the challenger only if it is not worse than "
        "the champion on the most recent period (see detection.lifecycle.retraining). Runs here, in this "
        "process, unless --enqueue hands it to the task worker. For cron: "
        "'retrain --if-due --enqueue' (retrain when enough new labels arrived)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-due",
            action="store_true",
            help="Only when enough new confirmed labels (DETECTION_RETRAIN_MIN_NEW_LABELS, one a fraud) arrived.",
        )
        parser.add_argument("--enqueue", action="store_true", help="Queue it for the task worker and return.")
        parser.add_argument(
            "--trigger",
            choices=RetrainingRun.Trigger.values,
            default=None,
            help="Recorded as the run's trigger (default: schedule with --if-due, else manual).",
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary on stdout.")

    def handle(self, *args, **options):
        trigger = options["trigger"] or (
            RetrainingRun.Trigger.SCHEDULE if options["if_due"] else RetrainingRun.Trigger.MANUAL
        )
        expired = retraining.expire_stale_runs()
        due = retraining.retraining_due()
        summary = {
            "expired_stale_runs": expired,
            "new_labels": due.labels,
            "new_frauds": due.frauds,
            "threshold": due.threshold,
            "due": due.due,
        }
        if options["if_due"] and not due.due:
            summary["run"] = None
            return self._out(
                options,
                summary,
                f"Not due: {due.labels} new label(s), {due.frauds} fraud(s); needs {due.threshold} with a fraud.",
            )
        run, created = retraining.retraining_request(trigger=trigger, enqueue=options["enqueue"])
        summary.update({"run": run.pk, "created": created})
        if not created:
            summary["status"] = run.status
            return self._out(
                options, summary, f"Run #{run.pk} is already {run.status}; not starting another."
            )
        if options["enqueue"]:
            summary["status"] = run.status
            return self._out(options, summary, f"Run #{run.pk} queued for the task worker.")

        bar = tqdm(
            total=100, desc="Retraining", unit="%", file=self.stderr._out, disable=options["verbosity"] == 0
        )

        def progress(percent, stage):
            if percent is not None:
                bar.update(max(0, percent - bar.n))
            bar.set_postfix_str(stage[:60])

        run = retraining.execute_run(run.pk, on_progress=progress)
        if run is None:
            bar.close()
            raise CommandError("The run was taken by a task worker meanwhile; see the retraining runs page.")
        bar.update(max(0, run.progress - bar.n))
        bar.close()
        summary.update(
            {
                "status": run.status,
                "outcome": run.outcome,
                "error": run.error,
                "challenger": run.challenger.version if run.challenger else None,
                "comparison": run.comparison,
            }
        )
        if run.status == RetrainingRun.Status.FAILED:
            if options["json"]:
                self.stdout.write(json.dumps(summary, default=str))
            raise CommandError(f"Run #{run.pk} failed: {run.error}")
        reason = run.comparison.get("reason", "")
        return self._out(options, summary, f"Run #{run.pk} finished: {run.get_outcome_display()}. {reason}")

    def _out(self, options, summary, text):
        self.stdout.write(json.dumps(summary, default=str) if options["json"] else text)
