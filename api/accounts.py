"""The endpoints of accounts: the caller (`/me/`) and an integrator's own API keys (`/keys/`). They
live here, not in `accounts`, which imports nothing of the API."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import IntegratorKey
from accounts.roles import user_roles
from accounts.services import api_key_create, api_key_revoke
from api.permissions import IsIntegrator
from api.schema import AUTH_ERRORS, errors


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    display_name = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField(), help_text="customer, analyst, ...")
    is_superuser = serializers.BooleanField()
    auth = serializers.ChoiceField(
        choices=["api_key", "session"], help_text="How this request authenticated."
    )
    api_key_prefix = serializers.CharField(allow_null=True, help_text="The key's prefix, when one was used.")


class MeView(APIView):
    throttle_scope = "read"

    @extend_schema(
        operation_id="me_retrieve",
        summary="Who am I",
        description="The authenticated caller, its roles and how it authenticated.",
        responses={200: MeSerializer, **errors(*AUTH_ERRORS)},
        tags=["me"],
    )
    def get(self, request):
        user = request.user
        key = request.auth if isinstance(request.auth, IntegratorKey) else None
        data = {
            "id": user.pk,
            "email": user.email,
            "display_name": user.display_name,
            "roles": sorted(role.value for role in user_roles(user)),
            "is_superuser": user.is_superuser,
            "auth": "api_key" if key else "session",
            "api_key_prefix": key.prefix if key else None,
        }
        return Response(MeSerializer(data).data)


class KeyOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = IntegratorKey
        fields = ["prefix", "name", "created", "expiry_date", "revoked", "last_used_at"]


class KeyCreatedSerializer(KeyOutputSerializer):
    key = serializers.CharField(help_text="The whole key. Shown once: store it now.")

    class Meta(KeyOutputSerializer.Meta):
        fields = [*KeyOutputSerializer.Meta.fields, "key"]


class KeyInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50, help_text="What uses the key, e.g. `checkout-eu`.")
    expiry_date = serializers.DateTimeField(required=False, allow_null=True)


class KeyListView(APIView):
    permission_classes = [IsIntegrator]
    throttle_scope = "read"
    pagination_class = None

    @extend_schema(
        operation_id="keys_list",
        summary="List your API keys",
        description="Keys are listed by prefix; the secret part is never shown again.",
        responses={200: KeyOutputSerializer(many=True), **errors(*AUTH_ERRORS)},
        tags=["keys"],
    )
    def get(self, request):
        keys = IntegratorKey.objects.filter(owner=request.user)
        return Response(KeyOutputSerializer(keys, many=True).data)

    @extend_schema(
        operation_id="keys_create",
        summary="Create an API key",
        description="Returns the whole key once, in `key`. Store it: only its prefix is kept readable.",
        request=KeyInputSerializer,
        responses={201: KeyCreatedSerializer, **errors(400, *AUTH_ERRORS)},
        examples=[OpenApiExample("A key for the checkout", value={"name": "checkout-eu"}, request_only=True)],
        tags=["keys"],
    )
    def post(self, request):
        serializer = KeyInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, secret = api_key_create(owner=request.user, actor=request.user, **serializer.validated_data)
        key.key = secret
        return Response(KeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)


class KeyDetailView(APIView):
    permission_classes = [IsIntegrator]
    throttle_scope = "read"

    @extend_schema(
        operation_id="keys_revoke",
        summary="Revoke an API key",
        description="For good: a revoked key cannot be re-enabled. Requests with it get 401 at once.",
        responses={204: None, **errors(404, *AUTH_ERRORS)},
        tags=["keys"],
    )
    def delete(self, request, prefix):
        key = get_object_or_404(IntegratorKey, owner=request.user, prefix=prefix)
        api_key_revoke(key=key, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
