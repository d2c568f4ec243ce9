import numpy as np
import pytest
from django.db import IntegrityError, transaction

from accounts.models import AuditEntry
from detection.models import ModelVersion
from detection.serving import registry
from detection.tests.pipelines import register_toy, toy_frame

pytestmark = pytest.mark.django_db


def test_register_saves_a_verifiable_artifact_and_promotes_the_first_version(model_manager):
    version = register_toy(created_by=model_manager)
    assert version.version == "v0001-logreg"
    assert version.status == ModelVersion.Status.CHAMPION
    assert version.created_by == model_manager
    path = registry.artifact_full_path(version)
    assert path.is_file()
    assert registry.file_sha256(path) == version.sha256
    assert version.library_versions["sklearn"]
    assert version.train_start.isoformat().startswith("2026-01-01")
    loaded = registry.load_model(version.version)
    X, _y = toy_frame(version.feature_names, n=10, seed=5)
    assert loaded.predict_proba(X).shape == (10, 2)
    assert AuditEntry.objects.filter(action="model_version.promote", target_id=str(version.pk)).exists()


def test_auto_promotes_only_a_better_version():
    first = register_toy(ap=0.5)
    worse = register_toy(ap=0.4)
    better = register_toy(ap=0.6)
    never = register_toy(ap=0.9, promote="never")
    statuses = dict(ModelVersion.objects.values_list("version", "status"))
    assert statuses[worse.version] == "candidate"
    assert statuses[better.version] == "champion"
    assert statuses[first.version] == "retired"
    assert statuses[never.version] == "candidate"
    forced = register_toy(ap=0.1, promote="force")
    assert ModelVersion.objects.get(status="champion") == forced


def test_the_database_refuses_a_second_champion():
    register_toy()
    other = register_toy(promote="never")
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=other.pk).update(status="champion")


def test_a_corrupt_artifact_is_refused_with_a_clear_error():
    version = register_toy()
    path = registry.artifact_full_path(version)
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(registry.ArtifactError, match="checksum"):
        registry.load_model(version)


def test_a_missing_artifact_is_refused():
    version = register_toy()
    registry.artifact_full_path(version).unlink()
    with pytest.raises(registry.ArtifactError, match="missing"):
        registry.load_model(version)


def test_an_artifact_from_another_scikit_learn_is_refused():
    version = register_toy()
    version.library_versions = {**version.library_versions, "sklearn": "0.24.2"}
    version.save()
    with pytest.raises(registry.ArtifactError, match=r"scikit-learn 0\.24\.2"):
        registry.load_model(version)


def test_promote_and_rollback_walk_back_through_champions(model_manager):
    v1 = register_toy(ap=0.1)
    v2 = register_toy(ap=0.2)
    v3 = register_toy(ap=0.3)
    assert ModelVersion.objects.get(status="champion") == v3
    assert registry.rollback(actor=model_manager) == v2
    assert registry.rollback(actor=model_manager) == v1
    with pytest.raises(registry.RegistryError):
        registry.rollback(actor=model_manager)
    registry.promote_version(v3.version, actor=model_manager)
    assert ModelVersion.objects.get(status="champion") == v3
    assert AuditEntry.objects.filter(action="model_version.rollback", actor=model_manager).count() == 2


def test_the_champion_is_loaded_once_and_swapped_after_a_promotion(django_assert_num_queries):
    v1 = register_toy(ap=0.5)
    first = registry.serving_model()
    assert first.name == v1.version
    with django_assert_num_queries(0):
        assert registry.serving_model() is first  # cached: no query, no reload
    v2 = register_toy(ap=0.9)
    assert registry.serving_model().name == v2.version


def test_another_process_promotion_is_noticed_within_the_check_interval(settings):
    v1 = register_toy(ap=0.5)
    v2 = register_toy(ap=0.1)
    assert registry.serving_model().name == v1.version
    # As another process would: straight in the database, no signal reaches this process.
    settings.DETECTION_CHAMPION_CHECK_SECONDS = 3600
    ModelVersion.objects.filter(pk=v1.pk).update(status="retired")
    ModelVersion.objects.filter(pk=v2.pk).update(status="champion")
    assert registry.serving_model().name == v1.version  # within the interval: still cached
    settings.DETECTION_CHAMPION_CHECK_SECONDS = 0
    assert registry.serving_model().name == v2.version


def test_serving_falls_back_to_the_previous_champion_when_the_artifact_is_corrupt():
    v1 = register_toy(ap=0.5)
    v2 = register_toy(ap=0.9)
    registry.artifact_full_path(v2).write_bytes(b"not a model")
    served = registry.serving_model()
    assert served.name == v1.version
    assert served.fallback_from == v2.version
    X, _y = toy_frame(v1.feature_names, n=3)
    assert np.all((served.pipeline.predict_proba(X) >= 0) & (served.pipeline.predict_proba(X) <= 1))


def test_no_loadable_model_serves_none():
    version = register_toy()
    registry.artifact_full_path(version).write_bytes(b"broken")
    assert registry.serving_model() is None
