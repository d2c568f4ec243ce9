"""The API's models, moved here from `accounts` (which forgets them in its migration 0007): their
tables exist already, under their old names (`db_table`), so this changes the state only and
runs no SQL. The UNLOGGED throttle table (accounts' 0006) stays as it is."""

import api.models
import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0007_api_models_moved_to_api'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='ApiJob',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('public_id', models.UUIDField(default=uuid.uuid4, editable=False, unique=True, verbose_name='id')),
                        ('kind', models.CharField(choices=[('batch_score', 'Batch scoring'), ('train', 'Training')], max_length=16, verbose_name='kind')),
                        ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='queued', max_length=10, verbose_name='status')),
                        ('params', models.JSONField(blank=True, default=dict, verbose_name='parameters')),
                        ('total', models.PositiveIntegerField(default=0, verbose_name='rows in total')),
                        ('processed', models.PositiveIntegerField(default=0, verbose_name='rows processed')),
                        ('input_file', models.FileField(blank=True, upload_to=api.models.job_upload_to, verbose_name='input file')),
                        ('result_file', models.FileField(blank=True, upload_to=api.models.job_upload_to, verbose_name='result file')),
                        ('result', models.JSONField(blank=True, default=dict, verbose_name='result')),
                        ('error', models.TextField(blank=True, verbose_name='error')),
                        ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created')),
                        ('started_at', models.DateTimeField(blank=True, null=True, verbose_name='started')),
                        ('finished_at', models.DateTimeField(blank=True, null=True, verbose_name='finished')),
                        ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_jobs', to=settings.AUTH_USER_MODEL, verbose_name='owner')),
                    ],
                    options={
                        'verbose_name': 'API job',
                        'verbose_name_plural': 'API jobs',
                        'db_table': 'accounts_apijob',
                        'ordering': ['-created_at', '-id'],
                    },
                ),
                migrations.CreateModel(
                    name='IdempotencyRecord',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('key', models.CharField(max_length=255, verbose_name='idempotency key')),
                        ('fingerprint', models.CharField(max_length=64, verbose_name='request fingerprint')),
                        ('response_status', models.PositiveSmallIntegerField(verbose_name='response status')),
                        ('response_content_type', models.CharField(max_length=255, verbose_name='response content type')),
                        ('response_body', models.BinaryField(verbose_name='response body')),
                        ('created_at', models.DateTimeField(db_index=True, verbose_name='created')),
                        ('owner', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='owner')),
                    ],
                    options={
                        'verbose_name': 'idempotency record',
                        'verbose_name_plural': 'idempotency records',
                        'db_table': 'accounts_idempotencyrecord',
                        'ordering': ['-created_at'],
                        'constraints': [models.UniqueConstraint(fields=('owner', 'key'), name='idempotency_owner_key')],
                    },
                ),
                migrations.CreateModel(
                    name='ThrottleCount',
                    fields=[
                        ('key', models.CharField(max_length=200, primary_key=True, serialize=False, verbose_name='key')),
                        ('count', models.PositiveIntegerField(default=0, verbose_name='count')),
                        ('expires_at', models.BigIntegerField(db_index=True, verbose_name='expires at')),
                    ],
                    options={
                        'verbose_name': 'throttle count',
                        'verbose_name_plural': 'throttle counts',
                        'db_table': 'accounts_throttlecount',
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
