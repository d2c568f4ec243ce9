"""Card ids scoped per owner (issue 13): each integrator gets its own namespace of card ids.

Existing cards created through the API by an integrator become that integrator's: a card without a
customer (no owner, no fingerprint) whose first transaction (by primary key: the one that created
it) was submitted by a user with the integrator role (superusers hold every role) is moved under the
key "<integrator id>~<its id>", and the card-id list entries that named it follow it. Customers'
cards and imported cards (first transaction submitted by nobody) stay in the bank's namespace.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import OuterRef, Q, Subquery

# Frozen here, as a migration must not import code that may change: accounts.roles.Role.INTEGRATOR,
# detection.contracts.CARD_KEY_SEPARATOR and detection.models.ListEntry.Kind.CARD_ID.
INTEGRATOR_GROUP = "integrator"
SEPARATOR = "~"
LIST_KIND_CARD_ID = "card_id"
BATCH = 1000


def _integrator_cards(apps):
    """(card pk, old id, integrator pk) of every card an integrator created through the API."""
    Card = apps.get_model("transactions", "Card")
    Transaction = apps.get_model("transactions", "Transaction")
    User = apps.get_model(settings.AUTH_USER_MODEL)
    integrators = User.objects.filter(Q(is_superuser=True) | Q(groups__name=INTEGRATOR_GROUP)).values("pk")
    first = Transaction.objects.filter(card=OuterRef("pk")).order_by("pk").values("submitted_by")[:1]
    # Only cards an integrator ever submitted to need their first transaction looked up.
    submitted = Transaction.objects.filter(submitted_by__in=integrators).values("card")
    return list(
        Card.objects.filter(owner__isnull=True, fingerprint__isnull=True, issuer__isnull=True, pk__in=submitted)
        .annotate(first_submitter=Subquery(first))
        .filter(first_submitter__in=integrators)
        .order_by("pk")
        .values_list("pk", "external_id", "first_submitter")
    )


def _rename(apps, renames):
    """Give cards new keys ({pk: (old, new, issuer pk or None)}) and move card-id list entries."""
    Card = apps.get_model("transactions", "Card")
    ListEntry = apps.get_model("detection", "ListEntry")
    new_keys = [new for _old, new, _issuer in renames.values()]
    for start in range(0, len(new_keys), BATCH):
        taken = list(Card.objects.filter(external_id__in=new_keys[start : start + BATCH]).values_list(
            "external_id", flat=True
        ))
        if taken:
            raise RuntimeError(
                f"Cannot scope card ids: the key(s) {', '.join(sorted(taken)[:10])} already name other "
                "cards. Rename those cards first."
            )
    pks = list(renames)
    for start in range(0, len(pks), BATCH):
        cards = list(Card.objects.filter(pk__in=pks[start : start + BATCH]))
        for card in cards:
            _old, card.external_id, card.issuer_id = renames[card.pk]
        Card.objects.bulk_update(cards, ["external_id", "issuer"])
    by_old = {old: new for old, new, _issuer in renames.values()}
    olds = list(by_old)
    for start in range(0, len(olds), BATCH):
        for entry in ListEntry.objects.filter(kind=LIST_KIND_CARD_ID, value__in=olds[start : start + BATCH]):
            entry.value = by_old[entry.value]
            entry.save(update_fields=["value"])


def assign_integrator_cards(apps, schema_editor):
    renames = {
        pk: (old, f"{issuer}{SEPARATOR}{old}", issuer) for pk, old, issuer in _integrator_cards(apps)
    }
    _rename(apps, renames)


def unassign_integrator_cards(apps, schema_editor):
    """Back to one global namespace: only possible while no two integrators use the same id."""
    Card = apps.get_model("transactions", "Card")
    renames = {}
    for pk, key, issuer in Card.objects.filter(issuer__isnull=False).values_list("pk", "external_id", "issuer"):
        prefix = f"{issuer}{SEPARATOR}"
        if key.startswith(prefix):
            renames[pk] = (key, key[len(prefix) :], None)
    ids = [new for _key, new, _issuer in renames.values()]
    if len(set(ids)) != len(ids):
        raise RuntimeError("Cannot unscope card ids: two integrators use the same card id.")
    _rename(apps, renames)


class Migration(migrations.Migration):

    dependencies = [
        ('transactions', '0004_lean_indexes'),
        ('detection', '0002_retrainingrun'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='card',
            name='issuer',
            field=models.ForeignKey(blank=True, help_text="The integrator whose card id this is; empty for the bank's own cards.", null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='issued_cards', to=settings.AUTH_USER_MODEL, verbose_name='integrator'),
        ),
        migrations.AlterField(
            model_name='card',
            name='external_id',
            field=models.CharField(max_length=100, unique=True, verbose_name='card key'),
        ),
        migrations.RunPython(assign_integrator_cards, unassign_integrator_cards, elidable=False),
    ]
