"""The endpoints of webhooks, for integrators: their own subscriptions, a test event, recent
deliveries with their attempts. Someone else's subscription is 404."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from api.errors import django_validation_error_to_drf
from api.models import WebhookAttempt, WebhookDelivery, WebhookEventType, WebhookSubscription
from api.pagination import NewestFirstPagination
from api.permissions import IsIntegrator
from api.schema import AUTH_ERRORS, errors
from api.webhooks import services


class SubscriptionOutputSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    url = serializers.CharField()
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=services.SUBSCRIBABLE))
    description = serializers.CharField(allow_blank=True)
    is_active = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    rotation_ends_at = serializers.DateTimeField(
        allow_null=True,
        help_text="After a rotation: until when deliveries are signed with the previous secret too "
        "(null when only the current secret signs).",
    )


class SubscriptionCreatedSerializer(SubscriptionOutputSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (`whsec_...`). Shown once: store it now. Verify each delivery "
        "with it (Standard Webhooks)."
    )


class SubscriptionInputSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="https:// on a public address.")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=services.SUBSCRIBABLE), min_length=1, max_length=10
    )
    description = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "error", "next_attempt_at"]


class DeliveryOutputSerializer(serializers.Serializer):
    event_id = serializers.CharField(source="event.public_id", help_text="The `webhook-id` header.")
    event_type = serializers.ChoiceField(source="event.type", choices=WebhookEventType.choices)
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempts = AttemptSerializer(many=True, source="attempt_log.all")
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    delivered_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class PingOutputSerializer(serializers.Serializer):
    event_id = serializers.CharField()


def _own(request, id):
    return get_object_or_404(WebhookSubscription, integrator=request.user, public_id=id)


class SubscriptionListView(generics.ListAPIView):
    permission_classes = [IsIntegrator]
    serializer_class = SubscriptionOutputSerializer
    pagination_class = NewestFirstPagination

    def get_throttles(self):
        self.throttle_scope = "submit" if self.request.method == "POST" else "read"
        return super().get_throttles()

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's generator
            return WebhookSubscription.objects.none()
        return WebhookSubscription.objects.filter(integrator=self.request.user)

    @extend_schema(
        operation_id="webhooks_list",
        summary="List your webhook subscriptions",
        description="Newest first. The signing secret is never shown again.",
        responses={200: SubscriptionOutputSerializer(many=True), **errors(400, *AUTH_ERRORS)},
        tags=["webhooks"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="webhooks_create",
        summary="Subscribe to events",
        description="Events about your own cards only. Returns the signing secret once, in `secret`. "
        "Not idempotent by key: the answer carries the secret, which is never stored.",
        request=SubscriptionInputSerializer,
        responses={201: SubscriptionCreatedSerializer, **errors(400, *AUTH_ERRORS)},
        examples=[
            OpenApiExample(
                "Decisions and reports",
                value={
                    "url": "https://hooks.example.com/fraud",
                    "event_types": ["transaction.decided", "fraud_report.resolved"],
                },
                request_only=True,
            )
        ],
        tags=["webhooks"],
    )
    def post(self, request):
        serializer = SubscriptionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            subscription, secret = services.subscription_create(
                integrator=request.user, actor=request.user, **serializer.validated_data
            )
        except DjangoValidationError as error:
            raise django_validation_error_to_drf(error) from None
        return Response(
            {**SubscriptionOutputSerializer(subscription).data, "secret": secret},
            status=status.HTTP_201_CREATED,
        )


class SubscriptionDetailView(APIView):
    permission_classes = [IsIntegrator]
    throttle_scope = "read"

    @extend_schema(
        operation_id="webhooks_delete",
        summary="Remove a webhook subscription",
        description="Nothing more is sent to it, its pending deliveries included.",
        responses={204: None, **errors(404, *AUTH_ERRORS)},
        tags=["webhooks"],
    )
    def delete(self, request, id):
        services.subscription_delete(subscription=_own(request, id), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionPingView(APIView):
    permission_classes = [IsIntegrator]
    throttle_scope = "submit"

    @extend_schema(
        operation_id="webhooks_test",
        summary="Send a test event",
        description="Queues a `ping` event to this subscription; follow it in its deliveries.",
        request=None,
        responses={202: PingOutputSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["webhooks"],
    )
    def post(self, request, id):
        event = services.subscription_ping(subscription=_own(request, id))
        return Response({"event_id": event.public_id}, status=status.HTTP_202_ACCEPTED)


class SubscriptionRotateSecretView(APIView):
    permission_classes = [IsIntegrator]
    throttle_scope = "submit"

    @extend_schema(
        operation_id="webhooks_rotate_secret",
        summary="Rotate the signing secret",
        description="Returns a new signing secret once, in `secret`. Until `rotation_ends_at` "
        "(WEBHOOKS_SECRET_GRACE_SECONDS, 24 hours by default) every delivery carries two signatures "
        "in `webhook-signature`, with the new secret and the previous one, so your receiver verifies "
        "with either while you switch; then with the new one only. Rotating again during that "
        "time drops the oldest secret at once. Not idempotent by key: the answer carries the "
        "secret, which is never stored.",
        request=None,
        responses={200: SubscriptionCreatedSerializer, **errors(404, *AUTH_ERRORS)},
        tags=["webhooks"],
    )
    def post(self, request, id):
        subscription, secret = services.subscription_rotate_secret(
            subscription=_own(request, id), actor=request.user
        )
        return Response({**SubscriptionOutputSerializer(subscription).data, "secret": secret})


class DeliveryListView(generics.ListAPIView):
    permission_classes = [IsIntegrator]
    throttle_scope = "read"
    serializer_class = DeliveryOutputSerializer
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        subscription = _own(self.request, self.kwargs["id"])
        return subscription.deliveries.select_related("event").prefetch_related("attempt_log")

    @extend_schema(
        operation_id="webhooks_deliveries",
        summary="Recent deliveries of a subscription",
        description="Newest first, each with its attempts (time, status code, duration, error, next attempt).",
        responses={200: DeliveryOutputSerializer(many=True), **errors(400, 404, *AUTH_ERRORS)},
        tags=["webhooks"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
