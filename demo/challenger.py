"""A challenger beside the demo's champion, so the model pages compare two versions. Part of
`seed_demo`, after the model part (demo/model.py).

It learns from the same history with the same periods as the champion (`model.train_demo`) but
with another algorithm, so both are measured on the same test week; it is registered and not
promoted: staff compare and decide. Idempotent: does nothing once a second version exists.
"""

from accounts.models import User
from demo import model
from detection import services
from detection.models import ModelVersion

# The first of these that is not the champion's algorithm.
ALGORITHMS = ("random_forest", "hist_gradient_boosting", "logistic_regression")
MANAGER = "manager@example.com"


def _test(version):
    return version.metrics.get("test") or version.metrics.get("validation") or {}


def _figure(value):
    return "n/a" if value is None else f"{value:.3f}"


def seed(*, stdout):
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    if champion is None:
        stdout.write("  No champion to challenge.")
        return None
    if ModelVersion.objects.exclude(pk=champion.pk).exists():
        stdout.write("  A challenger already exists; nothing to train.")
        return None
    algorithm = next(name for name in ALGORITHMS if name != champion.algorithm)
    result, source = model.train_demo(stdout=stdout, algorithms=(algorithm,))
    theirs = _test(champion)
    ours = result.metrics.get("test") or result.metrics.get("validation") or {}
    notes = (
        f"Demo challenger: {algorithm} trained on {source}, with the champion's periods, so both are "
        f"measured on the same test week (average precision {_figure(ours.get('average_precision'))} "
        f"against the champion's {_figure(theirs.get('average_precision'))}). Not promoted: compare "
        "them on the models page, then promote it or keep the champion."
    )
    version = services.register(
        result,
        promote="never",
        created_by=User.objects.filter(email=MANAGER).first(),
        notes=notes,
    )
    stdout.write(
        f"  Trained {version.version} ({algorithm}) on {source}: test AP "
        f"{_figure(ours.get('average_precision'))} (champion {champion.version}: "
        f"{_figure(theirs.get('average_precision'))}); a challenger awaiting the staff's decision."
    )
    return version
