"""Model versions through the API: read them (analysts, model managers), train, retrain through
the gate and promote (model managers). Training runs in the background and returns a job or a
run to poll."""

from datetime import timedelta

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.roles import Role
from api.models import ApiJob
from api.pagination import NewestFirstPagination
from api.permissions import IsModelManager, role_permission
from api.schema import AUTH_ERRORS, errors
from detection import jobs
from detection.lifecycle import retraining, shadow
from detection.models import BacktestRun, Mode, ModelVersion, RetrainingRun, Rule
from detection.serving import registry

ModelReaders = role_permission(Role.ANALYST, Role.MODEL_MANAGER)


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = [
            "version",
            "algorithm",
            "status",
            "train_start",
            "train_end",
            "validation_start",
            "validation_end",
            "test_start",
            "test_end",
            "metrics",
            "thresholds",
            "feature_names",
            "library_versions",
            "sha256",
            "created_at",
            "promoted_at",
            "notes",
        ]


class ServingSerializer(serializers.Serializer):
    """Which version decides in this server process, and whether the champion could be loaded."""

    state = serializers.ChoiceField(
        choices=["ok", "fallback", "unavailable", "no_champion"],
        help_text="`ok`: the champion decides. `fallback`: the champion's artifact was refused and an "
        "earlier champion decides (those decisions carry `model_fallback_from`). `unavailable`: nothing "
        "can be loaded; decisions go to review with the reason `no_model`. `no_champion`: none trained yet.",
    )
    champion = serializers.CharField(allow_null=True, help_text="The version the registry names champion.")
    serving = serializers.CharField(allow_null=True, help_text="The version that actually decides.")
    fallback_from = serializers.CharField(
        allow_blank=True, help_text="The champion that could not be loaded, when `serving` is a fallback."
    )
    champion_loadable = serializers.BooleanField(
        allow_null=True, help_text="Whether the champion's artifact passed verification (null: no champion)."
    )
    error_code = serializers.ChoiceField(
        choices=["", "missing", "checksum_mismatch", "library_mismatch", "unreadable"],
        allow_blank=True,
        help_text="Why the champion was refused; empty when it loads.",
    )
    error = serializers.CharField(allow_blank=True, help_text="The same, as a sentence.")


def serving_data():
    return ServingSerializer(registry.serving_status().as_dict()).data


class ModelVersionDetailSerializer(ModelVersionSerializer):
    serving = serializers.SerializerMethodField()

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "serving"]

    @extend_schema_field(ServingSerializer)
    def get_serving(self, obj):
        return serving_data()


class PromoteInputSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, default="", allow_blank=True)


class TrainInputSerializer(serializers.Serializer):
    train_start = serializers.DateTimeField(help_text="Train on transactions from this moment…")
    train_end = serializers.DateTimeField(help_text="…until this one (excluded).")
    label_delay_days = serializers.IntegerField(min_value=0, max_value=365, required=False, default=7)
    promote = serializers.ChoiceField(choices=registry.PROMOTE_CHOICES, required=False, default="auto")

    def validate(self, attrs):
        if attrs["train_start"] >= attrs["train_end"]:
            raise ValidationError({"train_end": [_("The end must be after the start.")]})
        return attrs


class TrainJobSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    status = serializers.ChoiceField(choices=ApiJob.Status.choices)
    params = serializers.JSONField()
    result = serializers.JSONField(help_text="When succeeded: the new `version` and its metrics.")
    error = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ModelPagination(NewestFirstPagination):
    """The page of versions, with the `serving` block beside it: which version decides now."""

    ordering = ("-created_at", "-id")

    def get_paginated_response(self, data):
        response = super().get_paginated_response(data)
        response.data["serving"] = serving_data()
        return response

    def get_paginated_response_schema(self, schema):
        paginated = super().get_paginated_response_schema(schema)
        paginated["properties"]["serving"] = {"$ref": "#/components/schemas/Serving"}
        paginated.setdefault("required", [])
        paginated["required"] = [*paginated["required"], "serving"]
        return paginated


@extend_schema_view(
    get=extend_schema(
        operation_id="models_list",
        summary="List model versions",
        description="Newest first, with their metrics and status (champion, candidate, retired). "
        "`serving` says which version actually decides in this server and whether the champion could "
        "be loaded (a champion whose artifact fails its checksum is refused and an earlier one serves).",
        responses={200: ModelVersionSerializer(many=True), **errors(400, *AUTH_ERRORS)},
        tags=["models"],
    )
)
class ModelListView(generics.ListAPIView):
    permission_classes = [ModelReaders]
    serializer_class = ModelVersionSerializer
    pagination_class = ModelPagination
    throttle_scope = "read"
    queryset = ModelVersion.objects.all()
    filterset_fields = ["status"]


class ModelDetailView(APIView):
    permission_classes = [ModelReaders]
    throttle_scope = "read"

    @extend_schema(
        operation_id="models_retrieve",
        summary="Read a model version",
        description="With `serving`: which version actually decides and whether the champion loads.",
        responses={200: ModelVersionDetailSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["models"],
    )
    def get(self, request, version):
        return Response(ModelVersionDetailSerializer(get_object_or_404(ModelVersion, version=version)).data)


class PromoteView(APIView):
    permission_classes = [IsModelManager]
    throttle_scope = "train"

    @extend_schema(
        operation_id="models_promote",
        summary="Make a version the champion",
        description="The current champion is retired; decisions use the new one at once. Audited.",
        request=PromoteInputSerializer,
        responses={200: ModelVersionSerializer, **errors(400, 404, *AUTH_ERRORS)},
        tags=["models"],
    )
    def post(self, request, version):
        model_version = get_object_or_404(ModelVersion, version=version)
        serializer = PromoteInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            promoted = registry.promote_version(
                model_version, actor=request.user, note=serializer.validated_data["note"]
            )
        except registry.RegistryError as error:
            raise ValidationError({"version": [str(error)]}) from None
        return Response(ModelVersionSerializer(promoted).data)


class TrainView(APIView):
    permission_classes = [IsModelManager]
    throttle_scope = "train"

    @extend_schema(
        operation_id="models_train",
        summary="Train a new model version",
        description="Trains in the background on the transactions stored here that occurred in "
        "[train_start, train_end). Returns a job; poll `GET /models/jobs/{id}/`.",
        request=TrainInputSerializer,
        responses={202: TrainJobSerializer, **errors(400, *AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "Train on October",
                value={"train_start": "2026-10-01T00:00:00Z", "train_end": "2026-11-01T00:00:00Z"},
                request_only=True,
            )
        ],
        tags=["models"],
    )
    def post(self, request):
        serializer = TrainInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        job = jobs.training_start(owner=request.user, **serializer.validated_data)
        job.refresh_from_db()
        return Response(TrainJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class TrainJobView(APIView):
    permission_classes = [IsModelManager]
    throttle_scope = "read"

    @extend_schema(
        operation_id="models_jobs_retrieve",
        summary="Status of a training job",
        responses={200: TrainJobSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["models"],
    )
    def get(self, request, id):
        job = get_object_or_404(ApiJob, owner=request.user, kind=ApiJob.Kind.TRAIN, public_id=id)
        return Response(TrainJobSerializer(job).data)


class RetrainingRunSerializer(serializers.ModelSerializer):
    challenger = serializers.SlugRelatedField(slug_field="version", read_only=True, allow_null=True)
    champion = serializers.SlugRelatedField(slug_field="version", read_only=True, allow_null=True)
    outcome = serializers.CharField(
        read_only=True, help_text="promoted, kept or first once the gate has decided; empty before."
    )
    comparison = serializers.JSONField(
        read_only=True,
        help_text=(
            "The gate's figures once decided: labels_cutoff, evaluation_period (the newest week whose "
            "labels were mature at the cutoff), challenger and champion (average_precision, "
            "recall_at_review_budget, review_cards_per_day, card_precision_at_k, roc_auc, precision, "
            "recall, f1, n, n_fraud; the champion's judged_as: as_served or refitted), margins, passed, "
            "reason."
        ),
    )

    class Meta:
        model = RetrainingRun
        fields = [
            "id",
            "trigger",
            "status",
            "progress",
            "stage",
            "new_labels",
            "new_frauds",
            "created_at",
            "started_at",
            "finished_at",
            "outcome",
            "challenger",
            "champion",
            "comparison",
            "error",
        ]
        read_only_fields = fields


class RetrainView(APIView):
    """The same retraining as the admin's "Train now": a challenger on all labelled history,
    promoted only through the champion/challenger gate."""

    permission_classes = [IsModelManager]
    throttle_scope = "train"

    @extend_schema(
        operation_id="models_retrain",
        summary="Retrain through the champion/challenger gate",
        description="Queues a retraining on every label known now; the challenger replaces the "
        "champion only if it is not worse on the most recent period. When a run is already queued "
        "or running, that run is returned (200) and nothing new is queued (202 otherwise). Poll "
        "`GET /models/retrain/{id}/`; `GET /models/retrain/` lists the runs.",
        request=None,
        responses={202: RetrainingRunSerializer, 200: RetrainingRunSerializer, **errors(*AUTH_ERRORS)},
        tags=["models"],
    )
    def post(self, request):
        run, created = retraining.retraining_request(trigger="api", requested_by=request.user)
        return Response(
            RetrainingRunSerializer(run).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


@extend_schema_view(
    get=extend_schema(
        operation_id="models_retrain_list",
        summary="List retraining runs",
        description="Newest first: what started each run (cron, labels, the admin, the API), its status "
        "and progress, and for a finished run the gate's outcome, the challenger and champion compared "
        "and their figures. Filter by `status` (queued, running, succeeded, failed) or `trigger`.",
        responses={200: RetrainingRunSerializer(many=True), **errors(400, *AUTH_ERRORS)},
        tags=["models"],
    )
)
class RetrainRunListView(generics.ListAPIView):
    permission_classes = [IsModelManager]
    serializer_class = RetrainingRunSerializer
    pagination_class = NewestFirstPagination
    throttle_scope = "read"
    filterset_fields = ["status", "trigger"]

    queryset = RetrainingRun.objects.select_related("challenger", "champion")

    def get_queryset(self):
        if not getattr(self, "swagger_fake_view", False):  # the schema generator reads no runs
            retraining.expire_stale_runs()  # a run whose worker died reads as failed, not running
        return super().get_queryset()


class RetrainRunView(APIView):
    permission_classes = [IsModelManager]
    throttle_scope = "read"

    @extend_schema(
        operation_id="models_retrain_retrieve",
        summary="Status of a retraining run",
        description="Queued, running (with progress), succeeded (with the gate's outcome and "
        "figures) or failed (with the error).",
        responses={200: RetrainingRunSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["models"],
    )
    def get(self, request, pk):
        retraining.expire_stale_runs()  # a run whose worker died reads as failed, not running
        return Response(RetrainingRunSerializer(get_object_or_404(RetrainingRun, pk=pk)).data)


# --- Backtests ----------------------------------------------------------------------------------


class BacktestInputSerializer(serializers.Serializer):
    start = serializers.DateTimeField(help_text="First moment of the period (inclusive).")
    end = serializers.DateTimeField(help_text="End of the period (exclusive).")
    change = serializers.JSONField(
        help_text='Exactly one change: {"rule": {...}} (a new rule, or the rule of that "id" edited; '
        '"active": false takes it out), {"list_add": [{"list_type", "kind", "value"[, "expires_at"]}]}, '
        '{"list_remove": [{"list_type", "kind", "value"}]}, {"bands": {"review": t, "block": t}} or '
        '{"model": "VERSION"}.'
    )


class BacktestRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = BacktestRun
        fields = [
            "id",
            "period_start",
            "period_end",
            "change",
            "status",
            "progress",
            "stage",
            "created_at",
            "started_at",
            "finished_at",
            "error",
            "report",
        ]


class BacktestListView(APIView):
    """Analysts and model managers try a change on history before making it."""

    permission_classes = [ModelReaders]
    throttle_scope = "train"

    @extend_schema(
        operation_id="backtests_create",
        summary="Backtest a change on a period",
        description="Replays the stored transactions of [start, end) through the decision with the "
        "configuration in force now and with the change, in the background. Returns the run; poll "
        "`GET /backtests/{id}/` for its progress and, once `succeeded`, its report (production, "
        "baseline and candidate figures, per day, and the transactions whose decision changes).",
        request=BacktestInputSerializer,
        responses={202: BacktestRunSerializer, **errors(400, *AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "Block payments above 900",
                value={
                    "start": "2026-10-01T00:00:00Z",
                    "end": "2026-11-01T00:00:00Z",
                    "change": {"rule": {"kind": "amount_above", "amount": 900, "action": "block"}},
                },
                request_only=True,
            )
        ],
        tags=["backtests"],
    )
    def post(self, request):
        serializer = BacktestInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            run = jobs.backtest_start(
                requested_by=request.user, start=data["start"], end=data["end"], change=data["change"]
            )
        except DjangoValidationError as error:
            raise ValidationError({"change": error.messages}) from None
        except (registry.RegistryError, registry.ArtifactError) as error:
            raise ValidationError({"change": [str(error)]}) from None
        return Response(BacktestRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class BacktestRunView(APIView):
    permission_classes = [ModelReaders]
    throttle_scope = "read"

    @extend_schema(
        operation_id="backtests_retrieve",
        summary="Status and report of a backtest",
        description="Queued, running (with progress and stage), succeeded (with the report) or "
        "failed (with the error).",
        responses={200: BacktestRunSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["backtests"],
    )
    def get(self, request, pk):
        return Response(BacktestRunSerializer(get_object_or_404(BacktestRun, pk=pk)).data)


# --- Trials: rules and the challenger in shadow or rollout ---------------------------------------

TRIAL_REPORT_DEFAULT_DAYS = 7
TRIAL_REPORT_MAX_DAYS = 31  # computed while the caller waits: a month at most


class TrialRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Rule
        fields = ["id", "name", "kind", "action", "active", "mode", "rollout_percent", "updated_at"]


class TrialModelSerializer(serializers.ModelSerializer):
    mode = serializers.CharField(source="trial_mode")

    class Meta:
        model = ModelVersion
        fields = ["version", "algorithm", "status", "mode", "rollout_percent"]


class TrialListSerializer(serializers.Serializer):
    rules = TrialRuleSerializer(many=True)
    models = TrialModelSerializer(many=True)


class TrialReportQuerySerializer(serializers.Serializer):
    rule = serializers.IntegerField(
        required=False, min_value=1, max_value=2**31 - 1, help_text="The rule on trial (its id)."
    )
    model_version = serializers.CharField(required=False, max_length=64, help_text="The challenger on trial.")
    start = serializers.DateTimeField(
        required=False, help_text=f"Default: {TRIAL_REPORT_DEFAULT_DAYS} days before the end."
    )
    end = serializers.DateTimeField(required=False, help_text="Default: now (exclusive).")

    def validate(self, attrs):
        if ("rule" in attrs) == ("model_version" in attrs):
            raise serializers.ValidationError(_("Give either a rule or a model version, not both."))
        end = attrs.get("end") or timezone.now()
        start = attrs.get("start") or end - timedelta(days=TRIAL_REPORT_DEFAULT_DAYS)
        if end <= start:
            raise serializers.ValidationError({"end": _("The period's end must be after its start.")})
        if end - start > timedelta(days=TRIAL_REPORT_MAX_DAYS):
            raise serializers.ValidationError(
                {
                    "start": _("A trial's report covers at most %(days)d days.")
                    % {"days": TRIAL_REPORT_MAX_DAYS}
                }
            )
        return attrs | {"start": start, "end": end}


class TrialListView(APIView):
    """What is on trial now: the rules and the challenger in shadow or rollout."""

    permission_classes = [ModelReaders]
    throttle_scope = "read"

    @extend_schema(
        operation_id="trials_list",
        summary="Rules and models on trial",
        description="The rules and the model version running in shadow (recorded, deciding nothing) "
        "or rolled out to a share of cards. `GET /trials/report` compares each with production.",
        responses={200: TrialListSerializer, **errors(*AUTH_ERRORS)},
        tags=["backtests"],
    )
    def get(self, request):
        return Response(
            TrialListSerializer(
                {
                    "rules": Rule.objects.exclude(mode=Mode.LIVE).order_by("order", "id"),
                    "models": ModelVersion.objects.exclude(trial_mode=Mode.LIVE).order_by("version"),
                }
            ).data
        )


class TrialReportView(APIView):
    """A trial's report, as the rule and model pages of the staff console show it."""

    permission_classes = [ModelReaders]
    throttle_scope = "report"  # reads the period's history while the caller waits

    @extend_schema(
        operation_id="trials_report",
        summary="Report of a rule or model on trial",
        description="Production, without the trial (`baseline`) and with it (`candidate`) over the "
        "period, with the labels known now, as a backtest reports them; for a rollout, production's "
        f"figures on each arm too. At most {TRIAL_REPORT_MAX_DAYS} days.",
        parameters=[TrialReportQuerySerializer],
        responses={200: OpenApiTypes.OBJECT, **errors(400, *AUTH_ERRORS)},
        tags=["backtests"],
    )
    def get(self, request):
        query = TrialReportQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        # Nothing recorded for the trial: the service's ValidationError, answered as a 400.
        report = shadow.trial_report(
            start=data["start"],
            end=data["end"],
            rule_id=data.get("rule"),
            model_version=data.get("model_version", ""),
        )
        return Response(report)
