"""Fixtures for the detection tests: every test gets its own models directory and cold caches."""

import pytest


@pytest.fixture(autouse=True)
def _isolated_models(settings, tmp_path):
    from detection.serving import registry, rules

    settings.DETECTION_MODELS_DIR = tmp_path / "models"
    registry.clear_cache()
    rules.clear_cache()
    yield
    registry.clear_cache()
    rules.clear_cache()
