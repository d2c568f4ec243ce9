"""The moved models keep their content types, and with them the permissions granted on them and
the admin's history: their rows are relabelled from `accounts` to `api` rather than left stale
while new ones are created. Nothing happens on a fresh database (content types are created after
migrating)."""

from django.db import migrations

MODELS = ("apijob", "idempotencyrecord", "throttlecount")


def _relabel(apps, old, new):
    ContentType = apps.get_model("contenttypes", "ContentType")
    taken = set(ContentType.objects.filter(app_label=new, model__in=MODELS).values_list("model", flat=True))
    ContentType.objects.filter(app_label=old, model__in=set(MODELS) - taken).update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, "accounts", "api")


def backwards(apps, schema_editor):
    _relabel(apps, "api", "accounts")


class Migration(migrations.Migration):

    dependencies = [
        ('api', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=True),
    ]
