from io import StringIO

import pytest

from demo import model as demo
from detection.models import ModelVersion

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_demo_trains_and_promotes_a_first_model_once(monkeypatch):
    # A smaller simulated history than the real demo's, to keep the test short.
    monkeypatch.setattr(demo, "SIM_CUSTOMERS", 300)
    monkeypatch.setattr(demo, "SIM_MERCHANTS", 150)
    monkeypatch.setattr(demo, "MIN_DB_ROWS", 10**9)  # the test database is empty anyway
    out = StringIO()
    version = demo.seed(stdout=out)
    assert version.status == ModelVersion.Status.CHAMPION
    assert "simulated history" in version.notes
    assert version.thresholds["review"] <= version.thresholds["block"]
    assert "it is the champion" in out.getvalue()
    demo.seed(stdout=out)
    assert ModelVersion.objects.count() == 1
    assert "already exists" in out.getvalue()
