import json

import numpy as np
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from detection import conf
from detection.management.commands._period import add_period_arguments, read_period
from detection.ml.evaluation import evaluate
from detection.ml.thresholds import WITHOUT_THRESHOLDS
from detection.serving import registry
from detection.serving.scoring import score_rows


class Command(BaseCommand):
    help = (
        "Metrics of a model version (default: the champion) on the labelled transactions of a "
        "period of a canonical CSV, with features from the whole file before each transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("version", nargs="?", default=None, help="Model version (default: the champion).")
        parser.add_argument("--csv", required=True, help="Canonical transaction CSV with is_fraud labels.")
        add_period_arguments(parser, required=True)
        parser.add_argument("--json", action="store_true", help="Print the metrics as JSON on stdout.")

    def handle(self, *args, **options):
        try:
            version = registry.get_version(options["version"])
        except registry.RegistryError as error:
            raise CommandError(str(error)) from None
        progress = tqdm(total=3, desc="evaluate_model", unit="step", disable=None, file=self.stderr._out)
        frame, mask, rejected, delay = read_period(options["csv"], options)
        progress.update()
        labelled = mask & frame["is_fraud"].notna().to_numpy()
        if not labelled.any():
            raise CommandError("No labelled transaction (is_fraud 0/1) falls in the period.")
        try:
            _loaded, _matrix, scores = score_rows(
                frame, version=version.version, rows=labelled, label_delay=delay
            )
        except registry.ArtifactError as error:
            raise CommandError(str(error)) from None
        progress.update()
        period = frame[labelled]
        metrics = evaluate(
            period["is_fraud"].astype(int).to_numpy(),
            scores,
            card_ids=period["card_id"].to_numpy(),
            occurred_at=period["occurred_at"],
            thresholds=version.thresholds or WITHOUT_THRESHOLDS,
            k=conf.card_precision_k(),
            include_curves=False,
        )
        progress.update()
        progress.close()
        summary = {
            "version": version.version,
            "start": options["start"],
            "end": options["end"],
            "rejected": len(rejected),
            "metrics": metrics,
        }
        if options["json"]:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(
            f"{version.version} on [{options['start']}, {options['end']}): "
            f"{metrics['n']:,} transactions, {metrics['n_fraud']:,} frauds"
        )
        rows = [
            ("ROC AUC", metrics["roc_auc"]),
            ("Average precision", metrics["average_precision"]),
            (f"Card precision@{metrics['k']}", metrics["card_precision_at_k"]),
            ("Precision (review)", metrics["precision"]),
            ("Recall (review)", metrics["recall"]),
            ("F1 (review)", metrics["f1"]),
            ("Accuracy (review)", metrics["accuracy"]),
            ("Precision (block)", metrics["block"]["precision"]),
            ("Recall (block)", metrics["block"]["recall"]),
        ]
        for name, value in rows:
            shown = (
                "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.4f}"
            )
            self.stdout.write(f"  {name:<22} {shown}")
        cm = metrics["confusion_matrix"]
        self.stdout.write(
            f"  Confusion (review)     tp {cm['tp']:,}  fp {cm['fp']:,}  fn {cm['fn']:,}  tn {cm['tn']:,}"
        )
