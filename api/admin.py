from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from api.models import (
    ApiJob,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookEventType,
    WebhookSubscription,
)
from api.webhooks import addresses, services
from api.webhooks.services import SUBSCRIBABLE


@admin.register(ApiJob)
class ApiJobAdmin(admin.ModelAdmin):
    list_display = ["public_id", "kind", "status", "owner", "total", "processed", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    search_fields = ["public_id", "owner__email"]
    readonly_fields = [field.name for field in ApiJob._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# --- webhooks -----------------------------------------------------------------------------------


class WebhookSubscriptionForm(forms.ModelForm):
    """Staff make a subscription here for an integrator's cards or (integrator empty) the bank's
    own. The URL passes the same guard as the API's (api/webhooks/addresses.py)."""

    event_types = forms.MultipleChoiceField(
        label=_("event types"),
        choices=[(value, label) for value, label in WebhookEventType.choices if value in SUBSCRIBABLE],
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = WebhookSubscription
        fields = ["integrator", "url", "event_types", "description"]

    def clean_url(self):
        return addresses.check_url(self.cleaned_data.get("url"))


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = readonly_fields = [
        "number",
        "started_at",
        "duration_ms",
        "status_code",
        "error",
        "next_attempt_at",
    ]
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class WebhookDeliveryInline(admin.TabularInline):
    model = WebhookDelivery
    fields = readonly_fields = ["subscription", "status", "attempts", "next_attempt_at", "delivered_at"]
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    form = WebhookSubscriptionForm
    list_display = ["url", "integrator", "types", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "integrator__email", "description"]
    raw_id_fields = ["integrator"]
    actions = ["activate", "deactivate", "rotate_secret"]
    # A subscription's page once made: what it is, with only `is_active` to change.
    CHANGE_FIELDS = [
        "public_id",
        "integrator",
        "url",
        "types",
        "description",
        "is_active",
        "previous_secret_expires_at",
        "created_by",
        "created_at",
    ]

    @admin.display(description=_("event types"))
    def types(self, obj):
        return ", ".join(obj.event_types)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return [name for name in self.CHANGE_FIELDS if name != "is_active"]  # only is_active changes

    def get_fields(self, request, obj=None):
        return ["integrator", "url", "event_types", "description"] if obj is None else self.CHANGE_FIELDS

    def save_model(self, request, obj, form, change):
        if change:  # only `is_active` is editable
            services.subscription_set_active(
                subscription=WebhookSubscription.objects.get(pk=obj.pk),
                is_active=obj.is_active,
                actor=request.user,
            )
            return
        created, secret = services.subscription_create(
            integrator=form.cleaned_data.get("integrator"),
            url=form.cleaned_data["url"],
            event_types=form.cleaned_data["event_types"],
            description=form.cleaned_data.get("description", ""),
            actor=request.user,
        )
        obj.pk, obj.public_id, obj.secret_salt = created.pk, created.public_id, created.secret_salt
        obj._state.adding = False
        request._webhook_secret = secret

    def save_related(self, *args):
        pass  # no relation of its own; the service saved everything

    def response_add(self, request, obj, *args, **kwargs):
        # The secret exists only in this answer: rendered here, never put in a message or a
        # redirect (messages may live in a cookie).
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Signing secret"),
            "subscription": obj,
            "secret": request._webhook_secret,
        }
        return TemplateResponse(request, "admin/api/webhook_secret.html", context)

    @admin.action(description=_("Activate selected subscriptions"), permissions=["change"])
    def activate(self, request, queryset):
        for subscription in queryset:
            services.subscription_set_active(subscription=subscription, is_active=True, actor=request.user)

    @admin.action(description=_("Deactivate selected subscriptions"), permissions=["change"])
    def deactivate(self, request, queryset):
        for subscription in queryset:
            services.subscription_set_active(subscription=subscription, is_active=False, actor=request.user)

    @admin.action(description=_("Rotate the signing secret"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        # One at a time: each new secret must reach its own receiver, and a page of several is
        # one copy-and-paste away from a mix-up.
        if queryset.count() != 1:
            self.message_user(
                request, _("Rotate the secret of one subscription at a time."), messages.WARNING
            )
            return None
        subscription, secret = services.subscription_rotate_secret(
            subscription=queryset.get(), actor=request.user
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Signing secret"),
            "subscription": subscription,
            "secret": secret,
            "rotated": True,
            "previous_valid_until": subscription.rotation_ends_at,
        }
        return TemplateResponse(request, "admin/api/webhook_secret.html", context)


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = ["public_id", "type", "integrator", "created_at"]
    list_filter = ["type"]
    search_fields = ["public_id"]
    readonly_fields = ["public_id", "type", "integrator", "data", "created_at"]
    inlines = [WebhookDeliveryInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["event", "subscription", "status", "attempts", "last_status_code", "next_attempt_at"]
    list_filter = ["status"]
    search_fields = ["event__public_id", "subscription__url"]
    readonly_fields = [
        "event",
        "subscription",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "lease_expires_at",
        "delivered_at",
        "created_at",
    ]
    inlines = [WebhookAttemptInline]
    actions = ["retry_now"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request):
        return request.user.has_perm("api.change_webhooksubscription")

    @admin.action(description=_("Retry now"), permissions=["retry"])
    def retry_now(self, request, queryset):
        count = sum(
            services.delivery_retry_now(delivery_id=pk, actor=request.user)
            for pk in queryset.values_list("pk", flat=True)
        )
        self.message_user(
            request, ngettext("%d delivery queued.", "%d deliveries queued.", count) % count, messages.SUCCESS
        )
