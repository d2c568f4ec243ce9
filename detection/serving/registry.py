"""The model registry: save, verify, load, promote and roll back model versions.

Artifacts are joblib files under `DETECTION_MODELS_DIR`; the registry records their SHA-256 and
the library versions they were trained with, and refuses to unpickle anything that does not
match. Each process keeps the champion in memory and asks the database (cheaply, at most every
few seconds) whether the champion changed, so a promotion reaches every web and worker process.
"""

import hashlib
import logging
import os
import platform
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import sklearn
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from accounts.services import audit_record
from core.cardnumbers import mask_card_numbers
from detection import conf
from detection.ml.thresholds import WITHOUT_THRESHOLDS, normalise_thresholds
from detection.models import Mode, ModelVersion
from detection.serving import bands, buckets, justification

logger = logging.getLogger(__name__)

PROMOTE_CHOICES = ("auto", "never", "force")


class ArtifactError(Exception):
    """A model artifact that must not be loaded: missing, corrupt, or from other library versions.

    `code` says which, for machines (the API, the health endpoint, the admin's advice):
    missing | checksum_mismatch | library_mismatch | unreadable."""

    def __init__(self, message, *, code="unreadable"):
        super().__init__(message)
        self.code = code


class RegistryError(Exception):
    """A registry operation that cannot be done (e.g. nothing to roll back to)."""


def library_versions() -> dict:
    return {
        "sklearn": sklearn.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def _major_minor(version: str) -> str:
    return ".".join(str(version).split(".")[:2])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def artifact_full_path(version: ModelVersion) -> Path:
    return conf.models_dir() / version.artifact_path


def _next_version_name(algorithm: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", algorithm.lower()).strip("-")[:40] or "model"
    number = ModelVersion.objects.count() + 1
    while ModelVersion.objects.filter(version__startswith=f"v{number:04d}-").exists():
        number += 1
    return f"v{number:04d}-{slug}"


def _as_datetime(value):
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    parsed = parse_datetime(str(value))
    if parsed is None:
        parsed = pd.Timestamp(str(value)).to_pydatetime()
    return parsed


def _aware(value):
    value = _as_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.UTC)
    return value


def _period(periods, name):
    """periods[name] as (start, end): a pair, or a mapping with start/end."""
    value = (periods or {}).get(name)
    if value is None:
        return None, None
    if isinstance(value, dict):
        return _aware(value.get("start")), _aware(value.get("end"))
    start, end = value
    return _aware(start), _aware(end)


def _json_safe(value):
    """Numpy scalars and arrays, timestamps and tuples into plain JSON types."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        value = float(value)
        return value if np.isfinite(value) else None
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    return value


def _score_for_promotion(version: ModelVersion):
    for period in ("test", "validation"):
        value = version.metric("average_precision", period)
        if value is not None:
            return value
    return None


def register_version(
    *,
    pipeline,
    algorithm: str,
    parameters: dict,
    feature_names: list,
    periods: dict,
    metrics: dict,
    comparison: dict,
    thresholds: dict,
    curves: dict,
    importances: dict,
    typical_values: dict | None = None,
    created_by=None,
    promote: str = "auto",
    notes: str = "",
) -> ModelVersion:
    """Save the fitted pipeline as a new version and record everything about it.

    promote="auto" makes it champion when there is none or it beats the champion's test
    average precision; "force" always; "never" leaves it a candidate. `typical_values` (a
    legitimate-looking value per feature, e.g. training medians of legitimate rows) is what the
    reasons reset features to; features without one are reset to neutral defaults.
    """
    if promote not in PROMOTE_CHOICES:
        raise ValueError(f"promote must be one of {', '.join(PROMOTE_CHOICES)}, not {promote!r}.")
    directory = conf.models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name then renamed, so a crash never leaves a half file behind a
    # registered version.
    handle, tmp_name = tempfile.mkstemp(dir=directory, suffix=".joblib.tmp")
    os.close(handle)
    tmp_path = Path(tmp_name)
    try:
        joblib.dump(pipeline, tmp_path, compress=3)
        sha256 = file_sha256(tmp_path)
        with transaction.atomic():
            name = _next_version_name(algorithm)
            final_path = directory / f"{name}.joblib"
            train, validation, test = (_period(periods, p) for p in ("train", "validation", "test"))
            version = ModelVersion.objects.create(
                version=name,
                algorithm=algorithm,
                parameters=_json_safe(parameters or {}),
                feature_names=[str(f) for f in feature_names],
                train_start=train[0],
                train_end=train[1],
                validation_start=validation[0],
                validation_end=validation[1],
                test_start=test[0],
                test_end=test[1],
                metrics=_json_safe(metrics or {}),
                comparison=_json_safe(comparison or {}),
                thresholds=_json_safe(thresholds or {}),
                curves=_json_safe(curves or {}),
                importances=_json_safe(importances or {}),
                typical_values=_json_safe(typical_values or {}),
                artifact_path=final_path.name,
                sha256=sha256,
                library_versions=library_versions(),
                created_by=created_by if created_by is not None and created_by.is_authenticated else None,
                notes=notes,
            )
            audit_record(
                actor=created_by,
                action="model_version.register",
                target=version,
                after={"version": name, "algorithm": algorithm, "sha256": sha256},
            )
            os.replace(tmp_path, final_path)
            champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
            if promote == "force" or (promote == "auto" and _beats(version, champion)):
                promote_version(version, actor=created_by, note=_("Promoted when registered."))
                version.refresh_from_db()
        return version
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _beats(candidate: ModelVersion, champion: ModelVersion | None) -> bool:
    if champion is None:
        return True
    ours, theirs = _score_for_promotion(candidate), _score_for_promotion(champion)
    if ours is None:
        return False
    return theirs is None or ours > theirs


def _resolve(version) -> ModelVersion:
    if isinstance(version, ModelVersion):
        return version
    try:
        return ModelVersion.objects.get(version=str(version))
    except ModelVersion.DoesNotExist:
        raise RegistryError(_("There is no model version %(version)s.") % {"version": version}) from None


def get_version(version=None) -> ModelVersion:
    """A version by name, or the champion when version is None."""
    if version is not None:
        return _resolve(version)
    champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
    if champion is None:
        raise RegistryError(_("There is no champion model yet; train one with train_model."))
    return champion


def promote_version(version, *, actor, note="", backtest=None) -> ModelVersion:
    """Make `version` the champion; the previous champion is retired. The audit entry names the
    backtest that justified it (`backtest`, or the latest of this version), or None."""
    version = _resolve(version)
    with transaction.atomic():
        locked = ModelVersion.objects.select_for_update().get(pk=version.pk)
        if locked.status == ModelVersion.Status.CHAMPION:
            return locked
        previous = (
            ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.CHAMPION).first()
        )
        if previous is not None:
            previous.status = ModelVersion.Status.RETIRED
            previous.save(update_fields=["status", "updated_at"])
        locked.status = ModelVersion.Status.CHAMPION
        locked.promoted_at = timezone.now()
        # The champion decides alone: a trial of the new champion ends with its promotion.
        locked.trial_mode, locked.rollout_percent = Mode.LIVE, None
        try:
            locked.save(
                update_fields=["status", "promoted_at", "trial_mode", "rollout_percent", "updated_at"]
            )
        except IntegrityError:
            # Another process promoted at the same moment; the constraint kept one champion.
            raise RegistryError(_("Another promotion happened at the same time; try again.")) from None
        justified, justified_note = justification.justification(
            {"model": locked.version},
            backtest=backtest,
            since=justification.thresholds_last_changed(locked),
        )
        audit_record(
            actor=actor,
            action="model_version.promote",
            target=locked,
            before={"champion": previous.version if previous else None},
            after={"champion": locked.version} | justified,
            note=" ".join(str(part) for part in (note, justified_note) if part),
        )
    return locked


TRIAL_FIELDS = ("trial_mode", "rollout_percent")


@transaction.atomic
def version_update(*, version: ModelVersion, fields: dict, actor) -> ModelVersion:
    """`version` with `fields` (notes, trial_mode, rollout_percent) changed and validated (one
    challenger on trial, never the champion). A change of its trial is audited; one that lets it
    decide for more cards (a rollout begun or widened) names the backtest that justified it."""
    unknown = set(fields) - {"notes", *TRIAL_FIELDS}
    if unknown:
        raise ValueError(f"Only the notes and the trial of a version change, not {sorted(unknown)}.")
    stored = ModelVersion.objects.select_for_update().get(pk=version.pk)
    before = {name: getattr(stored, name) for name in TRIAL_FIELDS}
    for name, value in fields.items():
        setattr(version, name, value)
    version.notes = mask_card_numbers(version.notes)  # free text: a card number is masked, never stored
    version.full_clean(
        exclude=[f.name for f in ModelVersion._meta.fields if f.name not in ("notes", *TRIAL_FIELDS)]
    )
    version.save(update_fields=["notes", *TRIAL_FIELDS, "updated_at"])
    after = {name: getattr(version, name) for name in TRIAL_FIELDS}
    if after != before:
        widened = after["trial_mode"] == Mode.ROLLOUT and (
            before["trial_mode"] != Mode.ROLLOUT
            or (after["rollout_percent"] or 0) > (before["rollout_percent"] or 0)
        )
        justified, note = justification.justification(
            {"model": version.version},
            since=justification.thresholds_last_changed(version),
            goes_live=widened,
        )
        audit_record(
            actor=actor,
            action="model_version.trial",
            target=version,
            before=before,
            after=after | justified,
            note=note,
        )
    return version


def version_shadow(*, version: ModelVersion, actor) -> ModelVersion:
    """Put a challenger in shadow: scored and recorded beside every decision, deciding none."""
    return version_update(
        version=version, fields={"trial_mode": Mode.SHADOW, "rollout_percent": None}, actor=actor
    )


@transaction.atomic
def thresholds_set(*, version, bands_changed: dict, actor, backtest=None) -> ModelVersion:
    """The decision bands of `version` moved ({"review": t, "block": t}, either or both), validated
    as a backtest's candidate bands are; audited with before and after and the backtest that
    justified them. Every process picks them up with the version's next check (its `updated_at`
    changes), this one at once."""
    version = ModelVersion.objects.select_for_update().get(pk=_resolve(version).pk)
    before = normalise_thresholds(version.thresholds or WITHOUT_THRESHOLDS)
    merged = bands.merged_thresholds(before, bands_changed)
    justified, note = justification.justification(
        {"bands": merged},
        backtest=backtest,
        before={"model": version.version, "thresholds": before},
        since=justification.thresholds_last_changed(version),
    )
    version.thresholds = {**(version.thresholds or {}), **merged}
    version.save(update_fields=["thresholds", "updated_at"])
    audit_record(
        actor=actor,
        action=justification.THRESHOLDS_CHANGED,
        target=version,
        before=before,
        after=merged | justified,
        note=note,
    )
    return version


def rollback(*, actor, note="") -> ModelVersion:
    """Bring back the champion before the current one; the current one is retired.

    The restored version keeps its original promotion time, so rolling back again goes further
    back instead of flipping between two versions.
    """
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(status=ModelVersion.Status.CHAMPION).first()
        if current is None:
            raise RegistryError(_("There is no champion to roll back."))
        earlier = ModelVersion.objects.select_for_update().filter(
            status=ModelVersion.Status.RETIRED, promoted_at__isnull=False
        )
        if current.promoted_at is not None:
            earlier = earlier.filter(promoted_at__lt=current.promoted_at)
        previous = earlier.order_by("-promoted_at").first()
        if previous is None:
            raise RegistryError(_("No earlier champion to roll back to."))
        current.status = ModelVersion.Status.RETIRED
        current.save(update_fields=["status", "updated_at"])
        previous.status = ModelVersion.Status.CHAMPION
        previous.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="model_version.rollback",
            target=previous,
            before={"champion": current.version},
            after={"champion": previous.version},
            note=note,
        )
    return previous


def verify_artifact(version) -> Path:
    """Check a version's artifact without unpickling it: present, checksum, scikit-learn
    major.minor. Returns its path; raises ArtifactError (with a code) otherwise."""
    version = _resolve(version)
    path = artifact_full_path(version)
    if not path.is_file():
        raise ArtifactError(
            _("The artifact of %(version)s is missing (%(path)s).")
            % {"version": version.version, "path": path},
            code="missing",
        )
    actual = file_sha256(path)
    if actual != version.sha256:
        raise ArtifactError(
            _(
                "The artifact of %(version)s does not match its recorded checksum; it was changed or corrupted."
            )
            % {"version": version.version},
            code="checksum_mismatch",
        )
    trained_with = (version.library_versions or {}).get("sklearn", "")
    if _major_minor(trained_with) != _major_minor(sklearn.__version__):
        raise ArtifactError(
            _(
                "%(version)s was trained with scikit-learn %(trained)s but this server runs %(running)s; "
                "retrain it or install the matching version."
            )
            % {"version": version.version, "trained": trained_with or "?", "running": sklearn.__version__},
            code="library_mismatch",
        )
    return path


def load_model(version):
    """Verify a version's artifact (present, checksum, scikit-learn major.minor) and unpickle it.

    Raises ArtifactError with a clear message; nothing unverified is ever unpickled.
    """
    version = _resolve(version)
    path = verify_artifact(version)
    try:
        return joblib.load(path)
    except Exception as error:
        raise ArtifactError(
            _("The artifact of %(version)s cannot be read: %(error)s")
            % {"version": version.version, "error": error},
            code="unreadable",
        ) from error


@dataclass
class LoadedModel:
    version: ModelVersion
    pipeline: object
    fallback_from: str = ""  # the champion that could not be loaded, when this is a fallback
    feature_names: list = field(init=False)
    thresholds: dict = field(init=False)

    def __post_init__(self):
        self.feature_names = list(self.version.feature_names)
        self.thresholds = dict(self.version.thresholds or WITHOUT_THRESHOLDS)

    @property
    def name(self):
        return self.version.version


@dataclass(frozen=True)
class ServingStatus:
    """What decides in this process, and whether that is the champion.

    `state`: "ok" (the champion serves), "fallback" (an earlier champion serves because the
    champion's artifact was refused), "unavailable" (a champion exists but nothing can be
    loaded: decisions go to review with the reason `no_model`), "no_champion" (none trained)."""

    champion: str | None = None  # the version the registry names champion
    serving: str | None = None  # the version deciding in this process
    fallback_from: str = ""  # the champion, when `serving` is a fallback
    error_code: str = ""  # why the champion was refused (ArtifactError.code)
    error: str = ""  # the same, as a sentence
    artifact: str = ""  # the champion's file, relative to the models directory

    @property
    def champion_loadable(self) -> bool | None:
        return None if self.champion is None else not self.error_code

    @property
    def state(self) -> str:
        if self.champion is None:
            return "no_champion"
        if self.serving is None:
            return "unavailable"
        return "fallback" if self.fallback_from else "ok"

    @property
    def problem(self) -> bool:
        return self.state in ("fallback", "unavailable")

    @property
    def reason(self) -> str:
        """Why the champion was refused, in a few words (the admin's banner)."""
        return {
            "missing": _("its artifact file is missing"),
            "checksum_mismatch": _("checksum mismatch (its artifact file was changed or corrupted)"),
            "library_mismatch": _("it was trained with another version of scikit-learn"),
            "unreadable": _("its artifact file cannot be read"),
        }.get(self.error_code, self.error)

    @property
    def advice(self) -> str:
        """What staff can do about it."""
        if self.error_code == "library_mismatch":
            return _(
                "Install the scikit-learn version it was trained with, retrain it on this version, or "
                "promote or roll back to a version that loads."
            )
        return _(
            "Restore the file %(file)s in the models directory from a backup (every server process "
            "verifies it again within seconds), promote or roll back to a version that loads, or retrain."
        ) % {"file": self.artifact}

    def as_dict(self) -> dict:
        return {
            "state": self.state,
            "champion": self.champion,
            "serving": self.serving,
            "fallback_from": self.fallback_from,
            "champion_loadable": self.champion_loadable,
            "error_code": self.error_code,
            "error": self.error,
        }


def _artifact_stat(artifact_path):
    """(mtime, size, inode) of an artifact, or None: part of the champion marker, so a file that
    is restored, replaced or damaged is verified again within the check interval."""
    try:
        stat = (conf.models_dir() / artifact_path).stat()
    except (OSError, ValueError):
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class _ChampionCache:
    """The serving model of this process. The database is asked for the champion's (id, updated)
    marker at most every DETECTION_CHAMPION_CHECK_SECONDS, and its artifact's file status is
    read (one stat); the model is reloaded only when either changes. A champion that fails
    verification falls back to the previous champions, and `status` says so."""

    def __init__(self):
        self._lock = threading.Lock()
        self._marker = object()
        self._loaded: LoadedModel | None = None
        self._status = ServingStatus()
        self._checked_at = float("-inf")
        self._by_version: dict[str, LoadedModel] = {}

    def invalidate(self):
        self._checked_at = float("-inf")

    def clear(self):
        with self._lock:
            self._marker = object()
            self._loaded = None
            self._status = ServingStatus()
            self._by_version.clear()
            self._checked_at = float("-inf")

    def get(self) -> LoadedModel | None:
        now = time.monotonic()
        if now - self._checked_at < conf.champion_check_seconds():
            return self._loaded
        with self._lock:
            row = (
                ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION)
                .values_list("id", "updated_at", "sha256", "artifact_path")
                .first()
            )
            marker = (row, _artifact_stat(row[3]) if row else None)
            if marker != self._marker:
                self._loaded, self._status = self._load_champion()
                self._marker = marker
            self._checked_at = time.monotonic()
            return self._loaded

    @property
    def status(self) -> ServingStatus:
        return self._status

    def _load_champion(self) -> tuple[LoadedModel | None, ServingStatus]:
        champion = ModelVersion.objects.filter(status=ModelVersion.Status.CHAMPION).first()
        if champion is None:
            return None, ServingStatus()
        refused = None
        for version in [champion, *serving_fallbacks(champion)]:
            try:
                pipeline = load_model(version)
            except ArtifactError as error:
                logger.error("Model %s refused: %s", version.version, error)
                if version.pk == champion.pk:
                    refused = error
                continue
            fallback_from = "" if version.pk == champion.pk else champion.version
            if fallback_from:
                logger.warning("Serving %s instead of champion %s.", version.version, champion.version)
            loaded = LoadedModel(version=version, pipeline=pipeline, fallback_from=fallback_from)
            return loaded, _status(champion, refused, serving=version.version, fallback_from=fallback_from)
        return None, _status(champion, refused, serving=None, fallback_from="")

    def version(self, name: str) -> LoadedModel:
        """A specific version (batch scoring), cached by name and checksum."""
        version = _resolve(name)
        key = f"{version.version}:{version.sha256}"
        cached = self._by_version.get(key)
        if cached is None:
            cached = LoadedModel(version=version, pipeline=load_model(version))
            self._by_version = {key: cached}  # keep one: batch jobs rarely alternate versions
        elif cached.version.updated_at != version.updated_at:
            # The same artifact, its row changed (its bands moved): the thresholds come from the row.
            cached = LoadedModel(version=version, pipeline=cached.pipeline)
            self._by_version = {key: cached}
        return cached


def _status(champion, refused: ArtifactError | None, *, serving, fallback_from) -> ServingStatus:
    return ServingStatus(
        champion=champion.version,
        serving=serving,
        fallback_from=fallback_from,
        error_code=refused.code if refused is not None else "",
        error=str(refused) if refused is not None else "",
        artifact=champion.artifact_path,
    )


def serving_fallbacks(champion: ModelVersion):
    """Earlier champions, newest first: what to serve when the champion's artifact is refused."""
    return list(
        ModelVersion.objects.filter(status=ModelVersion.Status.RETIRED, promoted_at__isnull=False)
        .exclude(pk=champion.pk)
        .order_by("-promoted_at")[:5]
    )


_champion = _ChampionCache()


def serving_model() -> LoadedModel | None:
    """The model `decide()` uses: the champion, a previous champion when the champion's artifact
    is refused, or None."""
    return _champion.get()


def serving_status() -> ServingStatus:
    """Which version decides in this process and whether the champion could be loaded (for the
    admin, the API and the health endpoint). Loads the champion if this process has not yet."""
    _champion.get()
    return _champion.status


def loaded_version(name: str) -> LoadedModel:
    return _champion.version(name)


@dataclass(frozen=True)
class TrialModel:
    """The challenger on trial: in shadow (scored, recorded, never decides) or in rollout (decides
    for its share of cards, `buckets`)."""

    loaded: LoadedModel
    mode: str
    rollout_percent: int | None

    def decides_for(self, card_id: str) -> bool:
        return self.mode == Mode.ROLLOUT and buckets.in_rollout(
            card_id, buckets.model_key(self.loaded.name), self.rollout_percent or 0
        )


class _TrialCache:
    """The version on trial, looked up at most every DETECTION_CHAMPION_CHECK_SECONDS (and at once
    when this process saves a version), its artifact loaded once per (row, checksum)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._marker = None
        self._trial: TrialModel | None = None

    def invalidate(self):
        self._checked_at = float("-inf")

    def clear(self):
        with self._lock:
            self._checked_at, self._marker, self._trial = float("-inf"), None, None

    def get(self) -> TrialModel | None:
        if time.monotonic() - self._checked_at < conf.champion_check_seconds():
            return self._trial
        with self._lock:
            version = (
                ModelVersion.objects.exclude(trial_mode=Mode.LIVE)
                .exclude(status=ModelVersion.Status.CHAMPION)
                .order_by("-updated_at")
                .first()
            )
            marker = None if version is None else (version.pk, version.updated_at, version.sha256)
            if marker != self._marker:
                self._trial = None
                if version is not None:
                    try:
                        loaded = LoadedModel(version=version, pipeline=load_model(version))
                    except ArtifactError as error:
                        # A trial must never cost a decision: the champion decides alone.
                        logger.error("Model %s on trial refused: %s", version.version, error)
                    else:
                        self._trial = TrialModel(loaded, version.trial_mode, version.rollout_percent)
                self._marker = marker
            self._checked_at = time.monotonic()
            return self._trial


_trial = _TrialCache()


def trial_model() -> TrialModel | None:
    """The challenger in shadow or rollout, loaded, or None."""
    return _trial.get()


def clear_cache():
    # Not in core.cache.clear_all: the champion is checked against the database at every
    # DETECTION_CHAMPION_CHECK_SECONDS, so it cannot outlive its row; reloading it is costly.
    _champion.clear()
    _trial.clear()


def champion_changed(**kwargs):
    """Receiver of a saved or deleted ModelVersion (connected in DetectionConfig.ready): this
    process looks at the champion again at once; others notice through the marker within
    DETECTION_CHAMPION_CHECK_SECONDS."""
    _champion.invalidate()
    _trial.invalidate()
