"""ApiJob, IdempotencyRecord and ThrottleCount moved to the `api` app (its migration 0001), which
keeps their tables under the same names: this forgets them here without touching the database."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0006_throttle_counts'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='ApiJob'),
                migrations.DeleteModel(name='IdempotencyRecord'),
                migrations.DeleteModel(name='ThrottleCount'),
            ],
            database_operations=[],
        ),
    ]
