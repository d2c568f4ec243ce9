"""Writes of webhooks: subscriptions made, removed, switched on and off, their secrets rotated;
events emitted; a delivery retried now."""

import secrets
from datetime import timedelta
from itertools import chain

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.services import audit_record
from api.models import WebhookDelivery, WebhookEvent, WebhookEventType, WebhookSubscription
from api.webhooks import addresses, conf, delivery, signing
from core.cache import TTLCache
from core.cardnumbers import mask_card_numbers

# What a subscriber may ask for; `ping` is sent on request only.
SUBSCRIBABLE = [value for value in WebhookEventType.values if value != WebhookEventType.PING]


def _clean_event_types(event_types, errors):
    if not isinstance(event_types, list | tuple) or not event_types:
        errors["event_types"] = _("Choose at least one event type.")
        return []
    unknown = [value for value in event_types if value not in SUBSCRIBABLE]
    if unknown:
        errors["event_types"] = _("Choose among: %(types)s.") % {"types": ", ".join(SUBSCRIBABLE)}
        return []
    return sorted(set(event_types))


def subscription_create(*, integrator, url, event_types, description="", actor=None):
    """A new subscription and its secret, which is returned here and never again."""
    errors = {}
    try:
        url = addresses.check_url(url)
    except ValidationError as error:
        errors["url"] = error.messages
    event_types = _clean_event_types(event_types, errors)
    description = mask_card_numbers((description or "").strip())
    if len(description) > 100:
        errors["description"] = _("The description can have at most 100 characters.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        subscription = WebhookSubscription.objects.create(
            integrator=integrator,
            url=url,
            event_types=event_types,
            description=description,
            secret_salt=signing.new_salt(),
            created_by=actor if actor is not None and actor.is_authenticated else None,
        )
        audit_record(
            actor=actor,
            action="webhook.create",
            target=subscription,
            after={"url": url, "event_types": event_types},
        )
    return subscription, signing.signing_secret(subscription.secret_salt)


def subscription_rotate_secret(*, subscription, actor=None):
    """A new signing secret for `subscription`, returned here and never again. Until the grace
    period ends (WEBHOOKS_SECRET_GRACE_SECONDS) deliveries are signed with the secret it replaces
    too, so the receiver can switch without refusing one; a secret rotated away earlier and still in
    its grace stops at once (two signatures at most). Returns (subscription, secret)."""
    with transaction.atomic():
        # Locked: two rotations at once must not both keep the same salt as "previous".
        subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        now = timezone.now()
        grace = conf.secret_grace_seconds()
        had_previous = subscription.previous_salt_at(now) is not None
        subscription.previous_secret_salt = subscription.secret_salt if grace else ""
        subscription.previous_secret_expires_at = now + timedelta(seconds=grace) if grace else None
        subscription.secret_salt = signing.new_salt()
        subscription.save(update_fields=["secret_salt", "previous_secret_salt", "previous_secret_expires_at"])
        audit_record(  # when, by whom, and until when the old secret signs: never a secret nor a salt
            actor=actor,
            action="webhook.rotate_secret",
            target=subscription,
            after={
                "rotation_ends_at": (subscription.previous_secret_expires_at.isoformat() if grace else None),
                "dropped_an_older_secret": had_previous,
            },
        )
    return subscription, signing.signing_secret(subscription.secret_salt)


def subscription_delete(*, subscription, actor):
    with transaction.atomic():
        audit_record(
            actor=actor, action="webhook.delete", target=subscription, before={"url": subscription.url}
        )
        subscription.delete()


def subscription_set_active(*, subscription, is_active, actor):
    with transaction.atomic():
        if subscription.is_active != is_active:
            subscription.is_active = is_active
            subscription.save(update_fields=["is_active"])
            audit_record(
                actor=actor,
                action="webhook.activate" if is_active else "webhook.deactivate",
                target=subscription,
                after={"is_active": is_active},
            )
    return subscription


def _new_event(type, integrator_id, data):
    return WebhookEvent.objects.create(
        public_id=f"msg_{secrets.token_hex(16)}",
        type=type,
        integrator_id=integrator_id,
        data=data,
        created_at=timezone.now(),
    )


def _fan_out(event, subscriptions):
    # Reserved for the task queued below from the start (the sweep leaves it to that task unless
    # the task is lost), so queueing it writes nothing more to the delivery.
    reserved = timezone.now() + timedelta(seconds=conf.lease_seconds())
    deliveries = WebhookDelivery.objects.bulk_create(
        [WebhookDelivery(event=event, subscription=s, next_attempt_at=reserved) for s in subscriptions]
    )
    pending = [(d.pk, 0) for d in deliveries]
    # Queued once committed: a worker must find the rows (and a rollback leaves nothing to send).
    transaction.on_commit(lambda: delivery.queue(pending, reserved=True))
    return deliveries


# Which event types anyone listens to, per owner of cards (None: the bank). Nearly every decision
# concerns an owner with no subscription for it; remembering that saves a query inside the
# payment's transaction, where the card is locked. A change of a subscription forgets it in this
# process at once (and again on commit, so that no read in between brings the old state back);
# other processes notice within LISTENING_CACHE_SECONDS.
LISTENING_CACHE_SECONDS = 5
_listening = TTLCache(ttl=LISTENING_CACHE_SECONDS, max_entries=10_000)


def _listened_types(integrator_id) -> frozenset:
    return _listening.get_or_load(
        integrator_id,
        lambda: frozenset(
            chain.from_iterable(
                WebhookSubscription.objects.filter(integrator_id=integrator_id, is_active=True).values_list(
                    "event_types", flat=True
                )
            )
        ),
    )


def forget_listeners(**kwargs):
    """A subscription was saved or deleted (a signal receiver, connected in ApiConfig.ready)."""
    _listening.clear()
    transaction.on_commit(_listening.clear)


def event_emit(*, type, integrator_id, data):
    """Record that `type` happened to a card of `integrator_id` (None: one of the bank's own
    cards), for every active subscription of that owner that asked for it. Call it inside the
    writer's database transaction: the event is stored, and its deliveries queued, only if that
    transaction commits. `data` may be a callable, called only when someone subscribed. Returns
    the event, or None when nobody listens."""
    if type not in _listened_types(integrator_id):
        return None
    subscriptions = [
        s
        for s in WebhookSubscription.objects.filter(integrator_id=integrator_id, is_active=True)
        if type in s.event_types
    ]
    if not subscriptions:
        return None
    event = _new_event(type, integrator_id, data() if callable(data) else data)
    _fan_out(event, subscriptions)
    return event


def subscription_ping(*, subscription):
    """Send a `ping` event to this subscription alone (its "test" button)."""
    with transaction.atomic():
        event = _new_event(
            WebhookEventType.PING,
            subscription.integrator_id,
            {"subscription_id": str(subscription.public_id)},
        )
        _fan_out(event, [subscription])
    return event


def delivery_retry_now(*, delivery_id, actor):
    """Staff: try a pending or failed delivery again at once (one more attempt for a failed one)."""
    with transaction.atomic():
        row = WebhookDelivery.objects.select_for_update().get(pk=delivery_id)
        if row.status not in (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED):
            return False
        row.status = WebhookDelivery.Status.PENDING
        row.next_attempt_at = timezone.now()
        row.save(update_fields=["status", "next_attempt_at"])
        audit_record(actor=actor, action="webhook.retry", target=row)
        attempt = (row.pk, row.attempts)
        transaction.on_commit(lambda: delivery.queue([attempt]))
    return True
