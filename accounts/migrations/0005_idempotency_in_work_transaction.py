"""Idempotency records hold the response's encoded bytes and are written only with the work.

Claims still "in flight" are dropped: under the new rule a record exists only once its work has
committed, and these were either abandoned by a crash (the stuck keys this migration frees) or
belong to a request still running on the old code. Finished records keep their response, encoded
as the API encodes JSON (the key order jsonb kept is the best that can be recovered). The owner's
own index goes: the unique (owner, key) index serves lookups by owner.
"""

import json

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def to_bytes(apps, schema_editor):
    Record = apps.get_model("accounts", "IdempotencyRecord")
    Record.objects.exclude(state="done").delete()
    for record in Record.objects.filter(state="done").iterator():
        text = json.dumps(record.response_body, ensure_ascii=False, separators=(",", ":"))
        record.response_bytes = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029").encode()
        record.save(update_fields=["response_bytes"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_idempotency_body_encoder"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_bytes",
            field=models.BinaryField(null=True),
        ),
        migrations.AddField(
            model_name="idempotencyrecord",
            name="response_content_type",
            field=models.CharField(
                default="application/json", max_length=255, verbose_name="response content type"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(to_bytes, migrations.RunPython.noop, elidable=True),
        migrations.RemoveField(model_name="idempotencyrecord", name="response_body"),
        migrations.RemoveField(model_name="idempotencyrecord", name="state"),
        migrations.RenameField(
            model_name="idempotencyrecord", old_name="response_bytes", new_name="response_body"
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_body",
            field=models.BinaryField(verbose_name="response body"),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="owner",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="owner",
            ),
        ),
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_status",
            field=models.PositiveSmallIntegerField(verbose_name="response status"),
        ),
    ]
